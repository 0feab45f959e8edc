"""The Cassandra log's schema: applied once per keyspace by an operator (``python -m service log schema
apply``), only checked by the functions (concurrent DDL from many processes is how tables end up with
disagreeing ids)."""

from __future__ import annotations

import re
from pathlib import Path

from service.errors import LogUnavailable, ServiceError
from service.predlog.cassandra_tables import Tables
from service.predlog.cql import unavailability

SCHEMA_FILE = Path(__file__).resolve().parent / "schema.cql"
SCHEMA_VERSION = 2  # the first schema (schema_v1.cql) kept a day in one partition
DDL_TIMEOUT_S = 60
AGREEMENT_WAIT_S = 120


class SchemaError(ServiceError):
    """The schema cannot be applied as asked (a keyspace to create with no replication given)."""


def schema_statements(keyspace: str, file: Path = SCHEMA_FILE) -> list[str]:
    """The statements of a .cql file, for ``keyspace``, comments removed."""
    text = re.sub(r"--[^\n]*", "", file.read_text())
    text = re.sub(r"\bdigits\b", keyspace, text)
    return [" ".join(s.split()) for s in text.split(";") if s.strip()]


def ensure_schema(tables: Tables, where: str) -> None:
    """Check that ``log schema apply`` has run on the keyspace (``where`` names it in the error)."""
    try:
        row = tables.cql.execute(tables.q("SELECT value FROM {ks}.log_state WHERE name = ?"), ("schema_version",)).one()
        version = int(row.value) if row is not None else 0
    except LogUnavailable as exc:
        if "does not exist" not in str(exc) and "unconfigured table" not in str(exc):
            raise
        version = 0
    if version < SCHEMA_VERSION:
        raise LogUnavailable(
            f"{where} has no prediction-log schema (version {SCHEMA_VERSION}): run "
            "`python -m service log schema apply` once for this keyspace"
        )


def apply_schema(tables: Tables, where: str, replication: dict[str, int] | None = None) -> None:
    """Create the keyspace when it is missing and ``replication`` (data centre -> replicas) is given, then
    every table (idempotently), wait until the nodes agree, and record the version."""
    session = tables.cql.session()
    keyspace = tables.keyspace
    try:
        if not tables.cql.has_keyspace(keyspace):
            if not replication:
                raise SchemaError(
                    f"keyspace {keyspace!r} does not exist on {where}: create it "
                    "(NetworkTopologyStrategy, three replicas in each data centre) or pass --replication DC:N"
                )
            places = ", ".join(f"'{dc}': {n}" for dc, n in replication.items())
            session.execute(
                f"CREATE KEYSPACE IF NOT EXISTS {keyspace} WITH replication = "
                f"{{'class': 'NetworkTopologyStrategy', {places}}}",
                timeout=DDL_TIMEOUT_S,
            )
        for statement in schema_statements(keyspace):
            session.execute(statement, timeout=DDL_TIMEOUT_S)
        if not session.cluster.control_connection.wait_for_schema_agreement(wait_time=AGREEMENT_WAIT_S):
            raise LogUnavailable(f"the nodes of {where} do not agree on the schema yet: run it again")
    except unavailability() as exc:
        raise LogUnavailable(f"cannot apply the schema on {where}: {exc}") from exc
    tables.cql.execute(
        tables.q("INSERT INTO {ks}.log_state (name, value) VALUES (?, ?)"), ("schema_version", str(SCHEMA_VERSION))
    )

"""Cassandra prediction log (Apache Cassandra, ScyllaDB, Amazon Keyspaces).

One Cluster/Session per process, created lazily on first use, which is after
gunicorn has forked (a driver connection must not cross a fork). Every
statement is prepared once and marked idempotent, so the driver may retry.
"""

from __future__ import annotations

import os
import re
import socket
import threading
import uuid
from collections import defaultdict
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from urllib.parse import urlparse

from service.errors import LogUnavailable
from service.predlog.base import Correction, PredictionRecord, StatsRow, created_at_of, days_between

SCHEMA_FILE = Path(__file__).resolve().parent / "schema.cql"
MAX_DAYS_BACK = 31
PAGE_SIZE = 500  # rows per page when a query walks a whole day partition
CORRECTIONS_BUCKET = "all"
_FIELDS = (
    "id, filename, content_type, digit, confidence, probabilities, model_version, "
    "latency_ms, normalised, image, image_key, image_size, request_id"
)
_LIST_FIELDS = _FIELDS.replace(" image,", "")  # lists never return originals: they are not read


def schema_statements(keyspace: str, text: str | None = None) -> list[str]:
    """The statements of schema.cql, for ``keyspace``, comments removed."""
    text = SCHEMA_FILE.read_text() if text is None else text
    text = re.sub(r"--[^\n]*", "", text)
    text = re.sub(r"\bdigits\b", keyspace, text)
    return [" ".join(s.split()) for s in text.split(";") if s.strip()]


# The driver gives up on a request well before the spool retries (every 2 s): a slow or dead node
# costs an upload at most this long before its record is spooled.
REQUEST_TIMEOUT_S = 1.5
CONNECT_TIMEOUT_S = 2.0


class CassandraAuthError(LogUnavailable):
    """The cluster refused our credentials: a configuration problem, named in the message.

    Still a LogUnavailable, so uploads are spooled (nothing is lost) until the setting is fixed."""


def _connect_error(exc: Exception, username: str | None, where: str) -> LogUnavailable:
    """Turn the driver's NoHostAvailable into a message a person can act on."""
    from cassandra import AuthenticationFailed

    errors = list(getattr(exc, "errors", {}).values()) or [exc]
    refused = next((e for e in errors if isinstance(e, AuthenticationFailed)), None)
    if refused is not None:
        if username is None:
            return CassandraAuthError(f"{where} requires a login: set CASSANDRA_USERNAME and CASSANDRA_PASSWORD")
        return CassandraAuthError(
            f"{where} refused the login of CASSANDRA_USERNAME={username!r}: check CASSANDRA_USERNAME "
            f"and CASSANDRA_PASSWORD ({refused})"
        )
    return LogUnavailable(f"cannot reach {where}: {type(exc).__name__}: {exc}")


def unavailability() -> tuple[type[BaseException], ...]:
    """The driver's errors that mean "the cluster cannot serve this now": spooled and retried. A driver
    error outside this list (an invalid statement, a value of the wrong type) is a bug and answers 500."""
    from cassandra import (
        AuthenticationFailed,
        CoordinationFailure,
        OperationTimedOut,
        Timeout,
        Unauthorized,
        Unavailable,
    )
    from cassandra.cluster import NoHostAvailable
    from cassandra.connection import ConnectionException
    from cassandra.protocol import IsBootstrappingErrorMessage, OverloadedErrorMessage, ServerError

    return (
        NoHostAvailable,
        OperationTimedOut,
        Unavailable,
        Timeout,
        CoordinationFailure,
        ConnectionException,
        AuthenticationFailed,
        Unauthorized,
        OverloadedErrorMessage,
        IsBootstrappingErrorMessage,
        ServerError,
        OSError,
    )


class CassandraPredictionLog:
    def __init__(
        self, url: str, username: str | None, password: str | None, consistency: str, local_dc: str = "datacenter1"
    ):
        parsed = urlparse(url)
        self.hosts = [h for h in (parsed.netloc.rsplit("@", 1)[-1].split(":")[0]).split(",") if h]
        self.port = parsed.port or 9042
        self.keyspace = parsed.path.strip("/") or "digits"
        self.username, self.password, self.consistency = username, password, consistency
        self.local_dc = local_dc
        self.last_error: str | None = None
        self._session = None
        self._cluster = None
        self._pid = os.getpid()
        self._prepared: dict[str, object] = {}
        self._lock = threading.Lock()

    def _connect(self):
        if self._pid != os.getpid():  # forked after connecting: a driver connection must not cross a fork
            self._session = self._cluster = None
            self._prepared = {}
            self._pid = os.getpid()
        if self._session is not None:
            return self._session
        with self._lock:
            if self._session is None:
                from cassandra import ConsistencyLevel, ProtocolVersion
                from cassandra.auth import PlainTextAuthProvider
                from cassandra.cluster import EXEC_PROFILE_DEFAULT, Cluster, ExecutionProfile
                from cassandra.policies import (
                    DCAwareRoundRobinPolicy,
                    ExponentialReconnectionPolicy,
                    TokenAwarePolicy,
                )

                profile = ExecutionProfile(
                    load_balancing_policy=TokenAwarePolicy(DCAwareRoundRobinPolicy(local_dc=self.local_dc)),
                    consistency_level=ConsistencyLevel.name_to_value[self.consistency],
                    request_timeout=REQUEST_TIMEOUT_S,
                )
                auth = PlainTextAuthProvider(self.username, self.password) if self.username else None
                cluster = Cluster(
                    self.hosts,
                    port=self.port,
                    auth_provider=auth,
                    connect_timeout=CONNECT_TIMEOUT_S,
                    control_connection_timeout=CONNECT_TIMEOUT_S,
                    execution_profiles={EXEC_PROFILE_DEFAULT: profile},
                    protocol_version=ProtocolVersion.V5,
                    # a node that comes back is noticed within seconds (the driver's default backs off to 10 min)
                    reconnection_policy=ExponentialReconnectionPolicy(0.5, 5.0),
                    # the driver leaves Nagle on: a request of a few KB (an inline original) then waits for
                    # the server's delayed ACK: ~48 ms a write here without this, 1.4 ms warm with it
                    sockopts=[(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)],
                )
                try:
                    self._session = cluster.connect()
                except Exception as exc:  # the driver raises NoHostAvailable and friends
                    cluster.shutdown()
                    error = _connect_error(exc, self.username, self.describe())
                    self.last_error = str(error)
                    raise error from exc
                self._cluster = cluster
                self.last_error = None
        return self._session

    def _statement(self, name: str, cql: str):
        if name not in self._prepared:
            statement = self._connect().prepare(cql)
            statement.is_idempotent = True
            self._prepared[name] = statement
        return self._prepared[name]

    def _execute(self, name: str, cql: str, params: tuple, fetch_size: int | None = None):
        """A statement's result; LogUnavailable only when the cluster cannot serve it (anything else is a bug)."""
        try:
            bound = self._statement(name, cql).bind(params)
            if fetch_size:
                bound.fetch_size = fetch_size  # paged: rows arrive as the caller iterates
            return self._connect().execute(bound)
        except unavailability() as exc:
            raise LogUnavailable(f"{self.describe()}: {type(exc).__name__}: {exc}") from exc

    def _paged(self, name: str, cql: str, params: tuple, page: int = PAGE_SIZE) -> Iterator:
        """Rows of a query, fetched a page at a time as they are consumed; a failure on any page is LogUnavailable."""
        rows = self._execute(name, cql, params, fetch_size=page)
        try:
            yield from rows
        except unavailability() as exc:  # the driver fetches later pages while we iterate
            raise LogUnavailable(f"{self.describe()}: {type(exc).__name__}: {exc}") from exc

    def ensure_schema(self) -> None:
        session = self._connect()
        try:
            for statement in schema_statements(self.keyspace):
                session.execute(statement, timeout=30)
        except unavailability() as exc:
            raise LogUnavailable(f"cannot apply the schema on {self.describe()}: {exc}") from exc

    _INSERT = "INSERT INTO {keyspace}.predictions_by_day (day, " + _FIELDS + ") VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?)"

    def write(self, record: PredictionRecord) -> None:
        self._execute("insert", self._INSERT.format(keyspace=self.keyspace), self._row(record))

    def write_many(self, records: list[PredictionRecord]) -> None:
        """The inserts in flight together (the driver's async API), then each one's outcome: a node that
        fails one of them makes the whole group LogUnavailable (the spool takes it; inserts are idempotent)."""
        try:
            statement = self._statement("insert", self._INSERT.format(keyspace=self.keyspace))
            session = self._connect()
            futures = [session.execute_async(statement.bind(self._row(record))) for record in records]
            for future in futures:
                future.result()
        except unavailability() as exc:
            raise LogUnavailable(f"{self.describe()}: {type(exc).__name__}: {exc}") from exc

    @staticmethod
    def _row(record: PredictionRecord) -> tuple:
        return (
            date.fromisoformat(record.day),
            uuid.UUID(record.id),
            record.filename,
            record.content_type,
            record.digit,
            record.confidence,
            record.probabilities,
            record.model_version,
            record.latency_ms,
            record.normalised,
            record.image,
            record.image_key,
            record.image_size,
            record.request_id,
        )

    @staticmethod
    def _record(row, labels: dict) -> PredictionRecord:
        pid = str(row.id)
        label, labelled_at = labels.get(row.id, (None, None))
        return PredictionRecord(
            id=pid,
            created_at=created_at_of(pid),
            filename=row.filename,
            content_type=row.content_type,
            digit=row.digit,
            confidence=row.confidence,
            probabilities=list(row.probabilities or []),
            model_version=row.model_version,
            latency_ms=row.latency_ms,
            normalised=row.normalised or b"",
            image=getattr(row, "image", None),
            image_key=row.image_key,
            image_size=row.image_size or 0,
            label=label,
            labelled_at=labelled_at.replace(tzinfo=UTC) if labelled_at else None,
            request_id=row.request_id,
        )

    def _labels(self, day: date) -> dict:
        """The day's corrections, id -> (label, labelled_at): one single-partition read."""
        rows = self._paged(
            "labels", f"SELECT id, label, labelled_at FROM {self.keyspace}.labels_by_day WHERE day = ?", (day,)
        )
        return {r.id: (r.label, r.labelled_at) for r in rows}

    def get(self, prediction_id: str) -> PredictionRecord | None:
        day, pid = created_at_of(prediction_id).date(), uuid.UUID(prediction_id)
        row = self._execute(
            "get",
            f"SELECT {_FIELDS} FROM {self.keyspace}.predictions_by_day WHERE day = ? AND id = ?",
            (day, pid),
        ).one()
        if row is None:
            return None
        label = self._execute(
            "get_label",
            f"SELECT id, label, labelled_at FROM {self.keyspace}.labels_by_day WHERE day = ? AND id = ?",
            (day, pid),
        ).one()
        return self._record(row, {label.id: (label.label, label.labelled_at)} if label else {})

    def recent(self, limit: int, max_confidence: float | None = None) -> list[PredictionRecord]:
        """Newest day partitions first; the low-confidence filter is applied while paging through them."""
        found: list[PredictionRecord] = []
        today = datetime.now(UTC).date()
        for back in range(MAX_DAYS_BACK):
            day = today - timedelta(days=back)
            rows = self._paged(
                "recent",
                f"SELECT {_LIST_FIELDS} FROM {self.keyspace}.predictions_by_day WHERE day = ? ORDER BY id DESC",
                (day,),
                page=min(PAGE_SIZE, limit if max_confidence is None else PAGE_SIZE),
            )
            labels = None
            for row in rows:
                if max_confidence is not None and row.confidence >= max_confidence:
                    continue
                if labels is None:
                    labels = self._labels(day)
                found.append(self._record(row, labels))
                if len(found) >= limit:
                    return found
        return found

    def set_label(self, prediction_id: str, label: int, at: datetime) -> PredictionRecord | None:
        record = self.get(prediction_id)
        if record is None:
            return None
        pid = uuid.UUID(prediction_id)
        self._execute(
            "set_label",
            f"INSERT INTO {self.keyspace}.labels_by_day (day, id, label, labelled_at) VALUES (?,?,?,?)",
            (date.fromisoformat(record.day), pid, label, at),
        )
        self._execute(
            "add_correction",
            f"INSERT INTO {self.keyspace}.corrections (bucket, id, label, digit, model_version, normalised) "
            "VALUES (?,?,?,?,?,?)",
            (CORRECTIONS_BUCKET, pid, label, record.digit, record.model_version, record.normalised),
        )
        return record.with_label(label, at)

    def corrections(self) -> Iterator[Correction]:
        rows = self._paged(
            "corrections",
            f"SELECT id, label, digit, model_version, normalised FROM {self.keyspace}.corrections WHERE bucket = ?",
            (CORRECTIONS_BUCKET,),
        )
        for r in rows:
            yield Correction(str(r.id), r.normalised, r.label, r.digit, r.model_version)

    def stats(self, first: date, last: date, low_below: float) -> list[StatsRow]:
        """One pass over each day partition (narrow columns, paged) plus its labels: never the table."""
        result: list[StatsRow] = []
        for day in days_between(first, last):
            labels = self._labels(day)
            groups: dict[tuple[str, int], list] = defaultdict(lambda: [0, 0.0, 0, 0, 0])
            rows = self._paged(
                "stats_day",
                f"SELECT id, digit, confidence, model_version FROM {self.keyspace}.predictions_by_day WHERE day = ?",
                (day,),
            )
            for row in rows:
                g = groups[(row.model_version, row.digit)]
                g[0] += 1
                g[1] += row.confidence
                g[2] += row.confidence < low_below
                if row.id in labels:
                    g[3] += 1
                    g[4] += labels[row.id][0] == row.digit
            result.extend(StatsRow(day.isoformat(), version, digit, *g) for (version, digit), g in groups.items())
        return result

    def export(self, first: date, last: date) -> Iterator[PredictionRecord]:
        for day in days_between(first, last):
            labels = self._labels(day)
            rows = self._paged(
                "export_day",
                f"SELECT {_FIELDS} FROM {self.keyspace}.predictions_by_day WHERE day = ? ORDER BY id ASC",
                (day,),
            )
            for row in rows:
                yield self._record(row, labels)

    def ping(self) -> bool:
        """True when a write would be accepted: the keyspace's table answers at the write consistency."""
        try:
            self._execute(
                "ping", f"SELECT id FROM {self.keyspace}.predictions_by_day WHERE day = ? LIMIT 1", (date(1970, 1, 1),)
            )
            self.last_error = None
            return True
        except LogUnavailable as exc:
            self.last_error = str(exc)
            return False

    def describe(self) -> str:
        return f"cassandra://{','.join(self.hosts)}:{self.port}/{self.keyspace}"

    def close(self) -> None:
        if self._cluster is not None:
            self._cluster.shutdown()
            self._cluster = self._session = None

"""The driver's side of the Cassandra log (its timeouts and profiles: ``cql_connect``): one session per process, statements prepared once, errors sorted
into "the cluster cannot serve this now" (LogUnavailable: spooled, retried) and bugs."""

from __future__ import annotations

import os
import threading
from collections.abc import Iterator, Sequence

from service.cassandra_url import CassandraUrl
from service.errors import LogUnavailable
from service.predlog.cql_connect import (
    READS,
    data_centre_error,
    new_cluster,
)

# Statements in flight at once for one group of records: more only queue on the connections. Large rows
# are bounded by bytes too: once a connection's socket buffer is full the driver refuses the next statement
# as busy instead of waiting.
IN_FLIGHT = 32
BYTES_IN_FLIGHT = 512 * 1024


class CassandraAuthError(LogUnavailable):
    """The cluster refused our credentials: a configuration problem, named in the message.

    Still a LogUnavailable, so uploads are spooled (nothing is lost) until the setting is fixed."""


def connect_error(exc: Exception, username: str | None, where: str) -> LogUnavailable:
    """Turn the driver's NoHostAvailable into a message a person can act on."""
    from cassandra import AuthenticationFailed

    found = getattr(exc, "errors", None)
    errors = (list(found.values()) if isinstance(found, dict) else []) or [exc]
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
    from cassandra.connection import ConnectionBusy, ConnectionException
    from cassandra.protocol import IsBootstrappingErrorMessage, OverloadedErrorMessage, ServerError

    return (
        NoHostAvailable,
        OperationTimedOut,
        Unavailable,
        Timeout,
        CoordinationFailure,
        ConnectionException,
        ConnectionBusy,
        AuthenticationFailed,
        Unauthorized,
        OverloadedErrorMessage,
        IsBootstrappingErrorMessage,
        ServerError,
        OSError,
    )


def _profile_of(cql: str):
    from cassandra.cluster import EXEC_PROFILE_DEFAULT

    return READS if cql.lstrip()[:6].upper() == "SELECT" else EXEC_PROFILE_DEFAULT


def schema_not_there_yet(exc: BaseException) -> bool:
    """A table or keyspace the coordinator does not know (yet): asynchronous DDL still running (Amazon
    Keyspaces), or a node that has not seen a new table. Transient: spooled and retried, never quarantined."""
    from cassandra import InvalidRequest

    text = str(exc)
    return isinstance(exc, InvalidRequest) and ("unconfigured table" in text or "does not exist" in text)


class Cql:
    """A lazily connected session (after gunicorn's fork: a driver connection must not cross one) and the
    statements prepared on it, each marked idempotent: every statement of the log may be repeated."""

    def __init__(
        self,
        url: CassandraUrl,
        login: tuple[str, str] | None,
        consistency: str,
        local_dc: str,
        tls_ca: str | None = None,
        protocol_version: int | None = None,
    ):
        self.url, self.login = url, login
        self.consistency, self.local_dc = consistency, local_dc
        # Amazon Keyspaces speaks TLS only; its certificates chain to a public root the system trusts
        self.tls = tls_ca is not None or any(h.endswith(".amazonaws.com") for h in url.hosts)
        self.tls_ca, self.protocol_version = tls_ca, protocol_version
        self.where = url.where
        self.last_error: str | None = None
        self._session = None
        self._cluster = None
        self._pid = os.getpid()
        self._prepared: dict[str, object] = {}
        self._lock = threading.Lock()

    def session(self):
        if self._pid != os.getpid():  # forked after connecting
            self._session = self._cluster = None
            self._prepared = {}
            self._pid = os.getpid()
        if self._session is None:
            with self._lock:
                if self._session is None:
                    self._open()
        return self._session

    def _open(self) -> None:
        cluster = new_cluster(self)
        try:
            self._session = cluster.connect()
            error = data_centre_error(cluster, self.local_dc, self.where)
            if error is not None:
                raise error
        except Exception as exc:  # the driver raises NoHostAvailable and friends
            self._session = None
            error = data_centre_error(cluster, self.local_dc, self.where)
            if error is None:
                error = connect_error(exc, self.login[0] if self.login else None, self.where)
                if not self.tls and not isinstance(error, CassandraAuthError):
                    error = LogUnavailable(f"{error} (a cluster that requires TLS needs CASSANDRA_TLS_CA)")
            cluster.shutdown()
            self.last_error = str(error)
            raise error from exc
        self._cluster = cluster
        self.last_error = None

    def unavailable(self, exc: BaseException) -> LogUnavailable:
        return LogUnavailable(f"{self.where}: {type(exc).__name__}: {exc}")

    def _raise_if_transient(self, exc: Exception) -> None:
        if schema_not_there_yet(exc):
            raise self.unavailable(exc) from exc

    def bind(self, cql: str, params: Sequence, fetch_size: int | None = None):
        if cql not in self._prepared:
            try:
                statement = self.session().prepare(cql)
            except unavailability() as exc:
                raise self.unavailable(exc) from exc
            except Exception as exc:
                self._raise_if_transient(exc)
                raise
            statement.is_idempotent = True
            self._prepared[cql] = statement
        bound = self._prepared[cql].bind(params)  # type: ignore[attr-defined]
        if fetch_size:
            bound.fetch_size = fetch_size  # paged: rows arrive as the caller iterates
        return bound

    def execute(self, cql: str, params: Sequence = (), fetch_size: int | None = None, profile: str | None = None):
        """A statement's result; LogUnavailable only when the cluster cannot serve it (anything else is a bug).
        ``profile``: how it is executed, when not as its kind (SELECT or write) says."""
        try:
            bound = self.bind(cql, params, fetch_size)
            return self.session().execute(bound, execution_profile=profile or _profile_of(cql))
        except unavailability() as exc:
            raise self.unavailable(exc) from exc
        except Exception as exc:
            self._raise_if_transient(exc)
            raise

    def execute_all(
        self, cql: str, many: Sequence[Sequence], fetch_size: int | None = None, profile: str | None = None
    ) -> list:
        """The statement once per parameter tuple, at most IN_FLIGHT at a time; their results in order."""
        return self.execute_bound([self.bind(cql, params, fetch_size) for params in many], profile=profile)

    def execute_bound(self, statements: Sequence, largest_bytes: int = 0, profile: str | None = None) -> list:
        """Bound statements, at most IN_FLIGHT at a time (fewer when the largest is ``largest_bytes`` long);
        their results in order. Any failure makes the whole call LogUnavailable (every statement here is
        idempotent: the caller repeats)."""
        from cassandra.concurrent import execute_concurrent

        try:
            pairs = [(statement, None) for statement in statements]
            if profile is None and statements:
                profile = _profile_of(statements[0].prepared_statement.query_string)
            concurrency = max(1, min(IN_FLIGHT, BYTES_IN_FLIGHT // max(1, largest_bytes)))
            results = execute_concurrent(
                self.session(), pairs, concurrency=concurrency, raise_on_first_error=True, execution_profile=profile
            )
            return [result for _, result in results]
        except unavailability() as exc:
            raise self.unavailable(exc) from exc
        except Exception as exc:
            self._raise_if_transient(exc)
            raise

    def paged(self, rows) -> Iterator:
        """Rows of a result, fetched a page at a time as they are consumed; a failure on any page is
        LogUnavailable."""
        try:
            yield from rows
        except unavailability() as exc:  # the driver fetches later pages while we iterate
            raise self.unavailable(exc) from exc

    def has_keyspace(self, keyspace: str) -> bool:
        self.session()
        return keyspace in self._cluster.metadata.keyspaces  # type: ignore[attr-defined]

    def has_table(self, keyspace: str, table: str) -> bool:
        self.session()
        found = self._cluster.metadata.keyspaces.get(keyspace)  # type: ignore[attr-defined]
        return found is not None and table in found.tables

    def close(self) -> None:
        if self._cluster is not None:
            self._cluster.shutdown()
            self._cluster = self._session = None

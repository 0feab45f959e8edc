"""The driver's side of the Cassandra log: one session per process, statements prepared once, errors sorted
into "the cluster cannot serve this now" (LogUnavailable: spooled, retried) and bugs."""

from __future__ import annotations

import os
import socket
import threading
from collections.abc import Iterator, Sequence

from service.errors import LogUnavailable

# The client waits a little longer than the server's own timeouts (Cassandra's default write and read
# timeouts), so a coordinator's timeout reaches the retry policy instead of the client abandoning it first. A
# write that still fails is spooled: a dead node costs an upload at most WRITE_TIMEOUT_S.
WRITE_TIMEOUT_S = 2.5
READ_TIMEOUT_S = 6.0
CONNECT_TIMEOUT_S = 2.0
# Reads go to a second replica when the first has not answered by then (every statement is idempotent).
SPECULATE_AFTER_S = 0.2
WRITE_CONSISTENCY = "LOCAL_QUORUM"  # the one level Amazon Keyspaces accepts for writes
READS = "reads"  # the execution profile of SELECTs
# Counts that are kept (rollups) must see every acknowledged write: LOCAL_QUORUM, whatever reads use.
COUNTS = "counts"
EVERY_REPLICA = "every replica"  # a one-off copy that must miss no row written at ONE (the first schema's)
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
        hosts: list[str],
        port: int,
        login: tuple[str, str] | None,
        consistency: str,
        local_dc: str,
        tls_ca: str | None = None,
        protocol_version: int | None = None,
    ):
        self.hosts, self.port, self.login = hosts, port, login
        self.consistency, self.local_dc = consistency, local_dc
        # Amazon Keyspaces speaks TLS only; its certificates chain to a public root the system trusts
        self.tls = tls_ca is not None or any(h.endswith(".amazonaws.com") for h in hosts)
        self.tls_ca, self.protocol_version = tls_ca, protocol_version
        self.where = f"{','.join(hosts)}:{port}"
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
        from cassandra import ConsistencyLevel
        from cassandra.auth import PlainTextAuthProvider
        from cassandra.cluster import EXEC_PROFILE_DEFAULT, Cluster, ExecutionProfile
        from cassandra.policies import (
            ConstantSpeculativeExecutionPolicy,
            DCAwareRoundRobinPolicy,
            ExponentialReconnectionPolicy,
            TokenAwarePolicy,
        )

        from service.predlog.retry import IdempotentRetryPolicy

        def profile(consistency: str, timeout: float, **more) -> ExecutionProfile:
            return ExecutionProfile(
                load_balancing_policy=TokenAwarePolicy(DCAwareRoundRobinPolicy(local_dc=self.local_dc)),
                consistency_level=ConsistencyLevel.name_to_value[consistency],
                request_timeout=timeout,
                retry_policy=IdempotentRetryPolicy(),  # imported here: only a Cassandra log needs the driver
                **more,
            )

        speculative = ConstantSpeculativeExecutionPolicy(SPECULATE_AFTER_S, 1)
        profiles = {
            EXEC_PROFILE_DEFAULT: profile(WRITE_CONSISTENCY, WRITE_TIMEOUT_S),
            READS: profile(self.consistency, READ_TIMEOUT_S, speculative_execution_policy=speculative),
            COUNTS: profile(WRITE_CONSISTENCY, READ_TIMEOUT_S, speculative_execution_policy=speculative),
            EVERY_REPLICA: profile("ALL", READ_TIMEOUT_S),
        }
        context, server_name = self._tls_context()
        extra: dict = {} if self.protocol_version is None else {"protocol_version": self.protocol_version}
        cluster = Cluster(
            self.hosts,
            port=self.port,
            ssl_context=context,
            ssl_options=server_name,
            **extra,
            auth_provider=PlainTextAuthProvider(*self.login) if self.login else None,
            connect_timeout=CONNECT_TIMEOUT_S,
            control_connection_timeout=CONNECT_TIMEOUT_S,
            execution_profiles=profiles,
            # no protocol version pinned unless asked: the driver negotiates down to what the cluster speaks
            # a node that comes back is noticed within seconds (the driver's default backs off to minutes)
            reconnection_policy=ExponentialReconnectionPolicy(0.5, 5.0),
            # the driver leaves Nagle on: a request of a few KB then waits for the server's delayed ACK
            sockopts=[(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)],
        )
        try:
            self._session = cluster.connect()
            self._check_data_centre(cluster)
        except Exception as exc:  # the driver raises NoHostAvailable and friends
            self._session = None
            error = self._data_centre_error(cluster)
            if error is None:
                error = connect_error(exc, self.login[0] if self.login else None, self.where)
                if not self.tls and not isinstance(error, CassandraAuthError):
                    error = LogUnavailable(f"{error} (a cluster that requires TLS needs CASSANDRA_TLS_CA)")
            cluster.shutdown()
            self.last_error = str(error)
            raise error from exc
        self._cluster = cluster
        self.last_error = None

    def _data_centre_error(self, cluster) -> LogUnavailable | None:
        """A local data centre that none of the nodes the control connection found is in: the driver would
        ask no node at all (with Amazon Keyspaces the data centre is the region's name)."""
        centres = sorted({h.datacenter for h in cluster.metadata.all_hosts() if h.datacenter})
        if not centres or self.local_dc in centres:
            return None
        return LogUnavailable(
            f"CASSANDRA_LOCAL_DC={self.local_dc!r} names no data centre of {self.where} (it has "
            f"{', '.join(centres)}): no node would be asked"
        )

    def _check_data_centre(self, cluster) -> None:
        error = self._data_centre_error(cluster)
        if error is not None:
            raise error

    def _tls_context(self) -> tuple:
        """The TLS context, and the name every certificate must carry when the hosts are not addresses. The
        driver checks a certificate against the address it connected to; a cluster reached by name (Amazon
        Keyspaces: cassandra.<region>.amazonaws.com) has certificates for the name, not for its addresses."""
        if not self.tls:
            return None, None
        import ipaddress
        import ssl

        context = ssl.create_default_context(ssl.Purpose.SERVER_AUTH, cafile=self.tls_ca)
        named = []
        for host in self.hosts:
            try:
                ipaddress.ip_address(host)
            except ValueError:
                named.append(host)
        if not named:
            return context, None  # each node's certificate checked against its address
        if len(self.hosts) == 1:
            return context, {"server_hostname": self.hosts[0]}
        # several names: the driver cannot tell which name an address came from; the chain is still checked
        context.check_hostname = False
        return context, None

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

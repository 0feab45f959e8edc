"""How the Cassandra log's session is opened: the driver's execution profiles, TLS as each kind of cluster
needs it, and the check that the local data centre names one the cluster has."""

from __future__ import annotations

import socket

from service.errors import LogUnavailable

# The client waits a little longer than the server's own timeouts (Cassandra's default write and read
# timeouts), so a coordinator's timeout reaches the retry policy instead of the client abandoning it first. A
# write that still fails is spooled: a dead node costs an upload at most WRITE_TIMEOUT_S.
WRITE_TIMEOUT_S = 2.5
# The longest a request's records may take to be written before the answer: a write, its one retry
# (service/predlog/retry.py), then the spool. On Lambda a request with less time left writes nothing.
WORST_WRITE_S = 2 * WRITE_TIMEOUT_S + 1.0
READ_TIMEOUT_S = 6.0
CONNECT_TIMEOUT_S = 2.0
# Reads go to a second replica when the first has not answered by then (every statement is idempotent).
SPECULATE_AFTER_S = 0.2
WRITE_CONSISTENCY = "LOCAL_QUORUM"  # the one level Amazon Keyspaces accepts for writes
READS = "reads"  # the execution profile of SELECTs
# Counts that are kept (rollups) must see every acknowledged write: LOCAL_QUORUM, whatever reads use.
COUNTS = "counts"
EVERY_REPLICA = "every replica"  # a one-off copy that must miss no row written at ONE (the first schema's)
RECONNECT_FIRST_S, RECONNECT_MOST_S = 0.5, 5.0


def profiles(local_dc: str, read_consistency: str) -> dict:
    """The driver's execution profiles: writes (the default), reads, counts that are kept, every replica."""
    from cassandra import ConsistencyLevel
    from cassandra.cluster import EXEC_PROFILE_DEFAULT, ExecutionProfile
    from cassandra.policies import ConstantSpeculativeExecutionPolicy, DCAwareRoundRobinPolicy, TokenAwarePolicy

    from service.predlog.retry import IdempotentRetryPolicy  # here: only a Cassandra log needs the driver

    def profile(consistency: str, timeout: float, **more) -> ExecutionProfile:
        return ExecutionProfile(
            load_balancing_policy=TokenAwarePolicy(DCAwareRoundRobinPolicy(local_dc=local_dc)),
            consistency_level=ConsistencyLevel.name_to_value[consistency],
            request_timeout=timeout,
            retry_policy=IdempotentRetryPolicy(),
            **more,
        )

    speculative = ConstantSpeculativeExecutionPolicy(SPECULATE_AFTER_S, 1)
    return {
        EXEC_PROFILE_DEFAULT: profile(WRITE_CONSISTENCY, WRITE_TIMEOUT_S),
        READS: profile(read_consistency, READ_TIMEOUT_S, speculative_execution_policy=speculative),
        COUNTS: profile(WRITE_CONSISTENCY, READ_TIMEOUT_S, speculative_execution_policy=speculative),
        EVERY_REPLICA: profile("ALL", READ_TIMEOUT_S),
    }


def new_cluster(cql):
    """A driver cluster for ``cql`` (a ``service.predlog.cql.Cql``), not yet connected."""
    from cassandra.auth import PlainTextAuthProvider
    from cassandra.cluster import Cluster
    from cassandra.policies import ExponentialReconnectionPolicy

    context, server_name = tls_context(cql.url.hosts, cql.tls_ca) if cql.tls else (None, None)
    extra: dict = {} if cql.protocol_version is None else {"protocol_version": cql.protocol_version}
    return Cluster(
        list(cql.url.contact_points),
        port=cql.url.port,  # of the nodes the contact points name
        ssl_context=context,
        ssl_options=server_name,
        **extra,
        auth_provider=PlainTextAuthProvider(*cql.login) if cql.login else None,
        connect_timeout=CONNECT_TIMEOUT_S,
        control_connection_timeout=CONNECT_TIMEOUT_S,
        execution_profiles=profiles(cql.local_dc, cql.consistency),
        # no protocol version pinned unless asked: the driver negotiates down to what the cluster speaks
        # a node that comes back is noticed within seconds (the driver's default backs off to minutes)
        reconnection_policy=ExponentialReconnectionPolicy(RECONNECT_FIRST_S, RECONNECT_MOST_S),
        # the driver leaves Nagle on: a request of a few KB then waits for the server's delayed ACK
        sockopts=[(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)],
    )


def tls_context(hosts: list[str], tls_ca: str | None) -> tuple:
    """The TLS context, and the name every certificate must carry when the hosts are not addresses. The
    driver checks a certificate against the address it connected to; a cluster reached by name (Amazon
    Keyspaces: cassandra.<region>.amazonaws.com) has certificates for the name, not for its addresses."""
    import ipaddress
    import ssl

    context = ssl.create_default_context(ssl.Purpose.SERVER_AUTH, cafile=tls_ca)
    named = []
    for host in hosts:
        try:
            ipaddress.ip_address(host)
        except ValueError:
            named.append(host)
    if not named:
        return context, None  # each node's certificate checked against its address
    if len(hosts) == 1:
        return context, {"server_hostname": hosts[0]}
    # several names: the driver cannot tell which name an address came from; the chain is still checked
    context.check_hostname = False
    return context, None


def data_centre_error(cluster, local_dc: str, where: str) -> LogUnavailable | None:
    """A local data centre that none of the nodes the control connection found is in: the driver would
    ask no node at all (with Amazon Keyspaces the data centre is the region's name)."""
    centres = sorted({h.datacenter for h in cluster.metadata.all_hosts() if h.datacenter})
    if not centres or local_dc in centres:
        return None
    return LogUnavailable(
        f"CASSANDRA_LOCAL_DC={local_dc!r} names no data centre of {where} (it has "
        f"{', '.join(centres)}): no node would be asked"
    )

"""PREDICTION_LOG=cassandra://host1,host2:port/keyspace, read once for the service, the CLI and Spark.

Each host may carry its own port (``db1:9142,db2:9043``, IPv6 as ``[::1]:9042``); a host without one takes
the URL's last port, so ``h1,h2:9042`` puts both on 9042, and with no port at all the CQL default.
"""

from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import urlsplit

DEFAULT_PORT = 9042
DEFAULT_KEYSPACE = "digits"


@dataclass(frozen=True)
class CassandraUrl:
    contact_points: tuple[tuple[str, int], ...]  # (host, port), in the URL's order
    keyspace: str

    @property
    def hosts(self) -> list[str]:
        return [host for host, _ in self.contact_points]

    @property
    def port(self) -> int:
        """The port of nodes found through the contact points (the driver's and the connector's default)."""
        return self.contact_points[-1][1]

    @property
    def where(self) -> str:
        return ",".join(_joined(host, port) for host, port in self.contact_points)


def parse(url: str) -> CassandraUrl:
    """The contact points and keyspace of a cassandra:// URL; ValueError naming what is wrong."""
    try:
        parts = urlsplit(url)
    except ValueError as exc:  # an unclosed IPv6 bracket
        raise ValueError(f"{url!r}: {exc}") from None
    if parts.scheme != "cassandra":
        raise ValueError(f"{url!r} is not a cassandra:// URL")
    netloc = parts.netloc.rpartition("@")[2]  # a login here is not used: CASSANDRA_USERNAME / CASSANDRA_PASSWORD
    entries = [_split(entry, url) for entry in netloc.split(",") if entry]
    if not entries:
        raise ValueError(f"{url!r} names no host, e.g. cassandra://h1,h2:9042/digits")
    default = entries[-1][1] or DEFAULT_PORT
    keyspace = parts.path.strip("/") or DEFAULT_KEYSPACE
    if not keyspace.replace("_", "").isalnum():
        raise ValueError(f"{url!r}: keyspace {keyspace!r} must be letters, digits and _")
    return CassandraUrl(tuple((host, port or default) for host, port in entries), keyspace)


def _split(entry: str, url: str) -> tuple[str, int | None]:
    if entry.startswith("["):  # an IPv6 address, its colons inside the brackets
        host, closed, after = entry[1:].partition("]")
        if not closed or (after and not after.startswith(":")):
            raise ValueError(f"{url!r}: {entry!r} is not [IPv6 address] or [IPv6 address]:port")
        port = after[1:] if after else None
    else:
        host, colon, port_text = entry.partition(":")
        port = port_text if colon else None
    if not host:
        raise ValueError(f"{url!r}: {entry!r} names no host")
    if port is None:
        return host, None
    if not (port.isascii() and port.isdigit()) or not 0 < int(port) < 65536:
        raise ValueError(f"{url!r}: port {port!r} of {host!r} is not a number from 1 to 65535")
    return host, int(port)


def _joined(host: str, port: int) -> str:
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"

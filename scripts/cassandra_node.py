"""Run a real Apache Cassandra 5.0 node from Maven Central's jars (no tarball, no Docker).

Maven resolves ``cassandra-all`` and its runtime dependencies from ``infra/cassandra/pom.xml``
(pinned version, cached in ~/.m2); this module writes the node's ``cassandra.yaml`` from
``infra/cassandra/cassandra.yaml`` and starts ``CassandraDaemon`` in the foreground with the JVM
options of ``infra/cassandra/jvm17.options``. A node is ready when its CQL port answers a query.

Used by `make cassandra` (one node on 127.0.0.1:9042 with data under var/cassandra), `make stack`,
the test fixture (free ports, a temporary directory) and benchmarks/cassandra_ring.py (3 nodes).

``serve`` runs the tests' node (``tests_node``) for many pytest sessions at once, as mutation testing's are:
once it answers, FILE describes it, and a test run with CASSANDRA_TEST_NODE=FILE uses it instead of starting
a node of its own. SIGTERM or Ctrl-C stops it and removes FILE.

    .venv/bin/python -m scripts.cassandra_node [--dir var/cassandra] [--address 127.0.0.1] [--port 9042]
    .venv/bin/python -m scripts.cassandra_node serve --describe FILE [--dir DIR]
"""

from __future__ import annotations

import argparse
import fcntl
import hashlib
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from string import Template

from scripts.servers import dies_with_parent

ROOT = Path(__file__).resolve().parents[1]
CONF = ROOT / "infra" / "cassandra"
POM = CONF / "pom.xml"
CLASSPATH_CACHE = ROOT / "var" / "cassandra-classpath"
DEFAULT_HEAP = os.environ.get("CASSANDRA_HEAP", "512M")
SUPERUSER = ("cassandra", "cassandra")  # PasswordAuthenticator's default superuser on a fresh node
NODE_FILE_VAR = "CASSANDRA_TEST_NODE"  # the file `serve --describe` wrote: test sessions use that node
_PATHS = ("directory", "tls", "tls_ca")
_DESCRIBED = ("address", "native_port", "storage_port", "password_auth", "commitlog_sync", "cluster_name", *_PATHS)


class NodeError(RuntimeError):
    """The node could not be prepared or did not come up; the message says why and where to look."""


def java_17() -> str:
    """A Java 17 binary: Cassandra 5.0 runs on 11 and 17, not on the newer JDKs that may also be here."""
    java_home = os.environ.get("JAVA_HOME", "")
    candidates = [
        os.environ.get("CASSANDRA_JAVA", ""),
        "/usr/lib/jvm/java-17-openjdk-amd64/bin/java",
        f"{java_home}/bin/java" if java_home else "",
        shutil.which("java") or "",
    ]
    for candidate in candidates:
        if candidate and Path(candidate).exists():
            probe = subprocess.run([candidate, "-version"], capture_output=True, text=True)
            if 'version "17' in probe.stderr:
                return candidate
    raise NodeError("no Java 17 found (set CASSANDRA_JAVA=/path/to/java17/bin/java): Cassandra 5.0 needs it")


def classpath_cache() -> Path:
    """Where the classpath of this pom version is cached (a new pom, a new file)."""
    digest = hashlib.sha256(POM.read_bytes()).hexdigest()[:16]
    return CLASSPATH_CACHE.with_name(f"cassandra-classpath-{digest}.txt")


def classpath(quiet: bool = False) -> str:
    """Cassandra's runtime classpath, resolved by Maven once per pom version and cached under var/. Maven's
    own output (a line per download) is shown with V=1 only (``make V=1 stack``); its errors always are."""
    if shutil.which("mvn") is None:
        raise NodeError("Maven (mvn) is not installed: it fetches Cassandra from Maven Central")
    cached = classpath_cache()
    cached.parent.mkdir(parents=True, exist_ok=True)
    # test workers start at once on a fresh checkout: one resolves (and downloads), the others wait for it
    # and read its answer; without the lock they raced on one temporary file and on Maven's downloads
    with open(cached.with_suffix(".lock"), "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        found = cached.read_text() if cached.exists() else ""
        if found and all(Path(p).exists() for p in found.split(":")):
            return found
        if not quiet:
            print(
                "fetching Apache Cassandra and its dependencies from Maven Central (first time only)...",
                file=sys.stderr,
                flush=True,
            )
        partial = cached.with_suffix(".partial")
        command = ["mvn", "-B", "-f", str(POM), "dependency:build-classpath", f"-Dmdep.outputFile={partial}"]
        shown = not quiet and bool(os.environ.get("V"))
        if not shown:
            command.insert(2, "-q")
        done = subprocess.run(
            command, stdout=sys.stderr if shown else subprocess.PIPE, stderr=subprocess.STDOUT, text=True
        )
        if done.returncode != 0:
            raise NodeError(f"Maven could not resolve Cassandra ({POM}): {(done.stdout or '')[-2000:]}")
        partial.replace(cached)
        return cached.read_text()


def cql_cluster(
    hosts: list[str],
    port: int,
    login: tuple[str, str] | None = None,
    consistency: str = "ONE",
    timeout: float = 10,
    tls: bool = False,
):
    """A driver Cluster for scripts and tests (token-aware, protocol v5); the caller shuts it down."""
    from cassandra import ConsistencyLevel
    from cassandra.auth import PlainTextAuthProvider
    from cassandra.cluster import EXEC_PROFILE_DEFAULT, Cluster, ExecutionProfile
    from cassandra.policies import DCAwareRoundRobinPolicy, TokenAwarePolicy

    profile = ExecutionProfile(
        load_balancing_policy=TokenAwarePolicy(DCAwareRoundRobinPolicy("datacenter1")),
        consistency_level=ConsistencyLevel.name_to_value[consistency],
        request_timeout=timeout,
    )
    context = None
    if tls:  # scripts and readiness polls only: the service itself checks the certificate
        import ssl

        context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
        context.check_hostname, context.verify_mode = False, ssl.CERT_NONE
    return Cluster(
        hosts,
        port=port,
        ssl_context=context,
        protocol_version=5,
        auth_provider=PlainTextAuthProvider(*login) if login else None,
        execution_profiles={EXEC_PROFILE_DEFAULT: profile},
        connect_timeout=min(timeout, 5),
        sockopts=[(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)],
        control_connection_timeout=min(timeout, 5),
    )


def make_tls(directory: Path, address: str = "127.0.0.1") -> tuple[Path, Path]:
    """A certificate authority and a node certificate for ``address`` signed by it (openssl): the node's
    PEM (key and certificate, for CassandraNode.tls) and the CA's certificate (for CASSANDRA_TLS_CA)."""
    directory.mkdir(parents=True, exist_ok=True)

    def openssl(*args: str) -> None:
        subprocess.run(["openssl", *args], cwd=directory, check=True, capture_output=True)

    openssl("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", "ca.key", "-out", "ca.pem", "-days", "2",
            "-subj", "/CN=digits test CA")  # fmt: skip
    openssl(
        "req", "-newkey", "rsa:2048", "-nodes", "-keyout", "node.key", "-out", "node.csr", "-subj", f"/CN={address}"
    )
    (directory / "san.ext").write_text(f"subjectAltName=IP:{address}\n")
    openssl("x509", "-req", "-in", "node.csr", "-CA", "ca.pem", "-CAkey", "ca.key", "-CAcreateserial",
            "-out", "node.crt", "-days", "2", "-extfile", "san.ext")  # fmt: skip
    node_pem = directory / "node.pem"
    node_pem.write_text((directory / "node.key").read_text() + (directory / "node.crt").read_text())
    return node_pem, directory / "ca.pem"


def free_port(address: str = "127.0.0.1") -> int:
    with socket.socket() as s:
        s.bind((address, 0))
        return s.getsockname()[1]


def jvm_options() -> list[str]:
    """The lines of jvm17.options that are flags (``--add-opens x`` is one line, two arguments)."""
    options: list[str] = []
    for line in (CONF / "jvm17.options").read_text().splitlines():
        line = line.strip()
        if line.startswith("-"):  # everything else is a comment or blank
            options.extend(line.split(" ", 1))
    return options


@dataclass
class CassandraNode:
    """One Cassandra process with its own directory, address and ports."""

    directory: Path
    address: str = "127.0.0.1"
    native_port: int = 9042
    storage_port: int = 7000
    seeds: list[str] = field(default_factory=list)
    password_auth: bool = False
    initial_token: int | None = None
    heap: str = DEFAULT_HEAP
    cluster_name: str = "digits"
    console_level: str = "WARN"
    tls: Path | None = None  # a PEM file with the node's key and certificate: clients must speak TLS
    tls_ca: Path | None = None  # the certificate of the authority that signed it, for clients
    commitlog_sync: str = "batch"  # or "periodic", Cassandra's default (fsync every 10 s)
    process: subprocess.Popen | None = None

    @property
    def log_file(self) -> Path:
        return self.directory / "logs" / "system.log"

    @property
    def url(self) -> str:
        return f"cassandra://{self.address}:{self.native_port}"

    def describe(self) -> dict:
        """What another process needs to use this node without starting it (``attach`` reads it back)."""
        data = {name: getattr(self, name) for name in _DESCRIBED}
        return data | {name: str(data[name]) if data[name] else None for name in _PATHS} | {"url": self.url}

    @classmethod
    def attach(cls, description: dict) -> CassandraNode:
        """The node ``describe`` described, run by another process: no process here, so ``stop`` leaves it be."""
        data = {name: description[name] for name in _DESCRIBED}
        return cls(**data | {name: Path(data[name]) if data[name] else None for name in _PATHS})

    def write_config(self) -> Path:
        conf = self.directory / "conf"
        conf.mkdir(parents=True, exist_ok=True)
        (self.directory / "logs").mkdir(exist_ok=True)
        text = Template((CONF / "cassandra.yaml").read_text()).substitute(
            cluster_name=self.cluster_name,
            address=self.address,
            native_port=self.native_port,
            storage_port=self.storage_port,
            ssl_storage_port=self.storage_port + 1,
            seeds=",".join(self.seeds or [f"{self.address}:{self.storage_port}"]),
            data_dir=self.directory,
            authenticator="PasswordAuthenticator" if self.password_auth else "AllowAllAuthenticator",
            initial_token_line=f"initial_token: {self.initial_token}" if self.initial_token is not None else "",
            commitlog_lines=(
                "commitlog_sync: batch"
                if self.commitlog_sync == "batch"
                else "commitlog_sync: periodic\ncommitlog_sync_period: 10000ms"
            ),
        )
        if self.tls is not None:
            text += (
                "\nclient_encryption_options:\n  enabled: true\n  optional: false\n"
                "  ssl_context_factory:\n    class_name: org.apache.cassandra.security.PEMBasedSslContextFactory\n"
                f"  keystore: {self.tls}\n  require_client_auth: false\n"
            )
        (conf / "cassandra.yaml").write_text(text)
        shutil.copy(CONF / "cassandra-rackdc.properties", conf / "cassandra-rackdc.properties")
        shutil.copy(CONF / "logback.xml", conf / "logback.xml")
        return conf

    def command(self, cp: str) -> list[str]:
        conf = self.write_config()
        jamm = next((p for p in cp.split(":") if "/jamm-" in p), None)
        if jamm is None:
            raise NodeError("the jamm agent jar is missing from Cassandra's classpath")
        return [
            java_17(),
            f"-Xms{self.heap}",
            f"-Xmx{self.heap}",
            f"-javaagent:{jamm}",
            *jvm_options(),
            f"-Dcassandra.config=file://{conf / 'cassandra.yaml'}",
            f"-Dcassandra-rackdc.properties=file://{conf / 'cassandra-rackdc.properties'}",
            f"-Dlogback.configurationFile={conf / 'logback.xml'}",
            f"-Dcassandra.logdir={self.directory / 'logs'}",
            f"-Dcassandra.storagedir={self.directory}",
            f"-Dcassandra.console_level={self.console_level}",
            "-Dcassandra-foreground=yes",
            "-cp",
            f"{conf}:{cp}",
            "org.apache.cassandra.service.CassandraDaemon",
        ]

    def start(self, cp: str | None = None, output=None) -> None:
        """Start the JVM (its own process group, so a stop reaches it and nothing else)."""
        command = self.command(cp or classpath())
        out = output if output is not None else open(self.directory / "logs" / "console.log", "ab")
        self.process = subprocess.Popen(
            dies_with_parent(command), stdout=out, stderr=subprocess.STDOUT, start_new_session=True, cwd=self.directory
        )

    def wait_ready(self, timeout: float = 180) -> float:
        """Poll until a CQL query answers; seconds waited. Fails early if the JVM exits."""
        started = time.monotonic()
        last_error = "no answer yet"
        while time.monotonic() - started < timeout:
            if self.process is not None and self.process.poll() is not None:
                raise NodeError(f"Cassandra exited with {self.process.returncode}; see {self.log_file}:\n{self.tail()}")
            if self._port_open():
                cluster = cql_cluster(
                    [self.address],
                    self.native_port,
                    SUPERUSER if self.password_auth else None,
                    timeout=3,
                    tls=self.tls is not None,
                )
                try:
                    cluster.connect().execute("SELECT release_version FROM system.local", timeout=3)
                    return time.monotonic() - started
                except Exception as exc:  # the driver's NoHostAvailable / AuthenticationFailed while booting
                    last_error = f"{type(exc).__name__}: {exc}"
                finally:
                    cluster.shutdown()
            time.sleep(0.5)
        raise NodeError(
            f"Cassandra at {self.address}:{self.native_port} did not answer within {timeout:.0f} s "
            f"({last_error}); see {self.log_file}:\n{self.tail()}"
        )

    def _port_open(self) -> bool:
        try:
            with socket.create_connection((self.address, self.native_port), timeout=1):
                return True
        except OSError:
            return False

    def tail(self, chars: int = 3000) -> str:
        return self.log_file.read_text(errors="replace")[-chars:] if self.log_file.exists() else "(no log yet)"

    def stop(self, grace: float = 60) -> None:
        """SIGTERM (Cassandra drains and flushes), SIGKILL if it lingers past ``grace``."""
        self._signal(signal.SIGTERM, grace)

    def kill(self) -> None:
        """SIGKILL: the crash a test wants (no drain, no flush; the commit log replays on restart)."""
        self._signal(signal.SIGKILL, 30)

    def _signal(self, sig: int, grace: float) -> None:
        if self.process is None or self.process.poll() is not None:
            return
        os.killpg(self.process.pid, sig)
        try:
            self.process.wait(grace)
        except subprocess.TimeoutExpired:
            os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait()

    def rss_mib(self) -> float:
        """Resident memory of the JVM now, from /proc."""
        if self.process is None:
            return 0.0
        for line in Path(f"/proc/{self.process.pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
        return 0.0


def tests_node(directory: Path) -> CassandraNode:
    """The tests' node, set up as production runs one: clients must speak TLS (a CA made here, ``tls_ca``),
    PasswordAuthenticator on, the commit log synced periodically; free ports. Not started yet."""
    node_pem, ca = make_tls(directory / "tls")
    return CassandraNode(
        directory / "node",
        native_port=free_port(),
        storage_port=free_port(),
        password_auth=True,
        tls=node_pem,
        tls_ca=ca,
        commitlog_sync="periodic",
    )


def serve(argv: list[str]) -> int:
    """The tests' node for many pytest sessions: FILE describes it once it answers, until it is stopped."""
    parser = argparse.ArgumentParser(
        prog="python -m scripts.cassandra_node serve",
        description=f"The tests' Cassandra node, shared by test runs with {NODE_FILE_VAR}=FILE (Ctrl-C stops it)",
    )
    parser.add_argument("--describe", type=Path, required=True, metavar="FILE", help="written once the node answers")
    parser.add_argument("--dir", type=Path, help="its TLS files, data and logs (default: a temporary directory)")
    args = parser.parse_args(argv)
    describe = args.describe.resolve()
    directory = (args.dir or Path(tempfile.mkdtemp(prefix="cassandra-tests-"))).resolve()
    signal.signal(signal.SIGTERM, lambda *_: (_ for _ in ()).throw(KeyboardInterrupt()))
    node = None
    try:
        java_17()
        cp = classpath()
        node = tests_node(directory)
        node.start(cp)
        waited = node.wait_ready()
        partial = describe.with_name(describe.name + ".partial")
        partial.write_text(json.dumps(node.describe() | {"pid": os.getpid()}, indent=2) + "\n")
        partial.replace(describe)  # whole or absent: whoever waits for the file never reads half of it
        print(
            f"Cassandra (the tests' node) is ready after {waited:.1f} s: {node.url}, log {node.log_file}\n"
            f"  {NODE_FILE_VAR}={describe}  (Ctrl-C stops it)",
            file=sys.stderr,
            flush=True,
        )
        assert node.process is not None
        node.process.wait()
        print(f"error: Cassandra exited with {node.process.returncode}; see {node.log_file}", file=sys.stderr)
        return 1
    except NodeError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("stopping Cassandra (drain and flush)...", file=sys.stderr, flush=True)
        return 0
    finally:
        # a second Ctrl-C must not cut the drain short and leave the JVM behind
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        describe.unlink(missing_ok=True)
        if node is not None:
            node.stop()
        if args.dir is None:
            shutil.rmtree(directory, ignore_errors=True)


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] == ["serve"]:
        return serve(argv[1:])
    parser = argparse.ArgumentParser(description="One Apache Cassandra 5.0 node in the foreground (Ctrl-C stops it)")
    parser.add_argument("--dir", type=Path, default=ROOT / "var" / "cassandra", help="data, config and logs")
    parser.add_argument("--address", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=int(os.environ.get("CASSANDRA_PORT", "9042")), help="CQL port")
    parser.add_argument("--storage-port", type=int, default=7000)
    parser.add_argument("--password-auth", action="store_true", help="PasswordAuthenticator (user cassandra/cassandra)")
    parser.add_argument("--schema", metavar="KEYSPACE", help="also apply the prediction-log schema to this keyspace")
    args = parser.parse_args(argv)

    node = CassandraNode(
        args.dir.resolve(),
        args.address,
        args.port,
        args.storage_port,
        password_auth=args.password_auth,
        console_level="WARN",
    )
    try:
        cp = classpath()
        print(
            f"starting Cassandra 5.0 on {args.address}:{args.port} (data in {node.directory}, log {node.log_file})...",
            file=sys.stderr,
            flush=True,
        )
        node.start(cp, output=sys.stdout)
        signal.signal(signal.SIGTERM, lambda *_: (_ for _ in ()).throw(KeyboardInterrupt()))
        waited = node.wait_ready()
        if args.schema:
            apply_schema(node, args.schema)
        print(
            f"Cassandra is ready after {waited:.1f} s: cassandra://{args.address}:{args.port}/"
            f"{args.schema or 'digits'}  (Ctrl-C stops it)",
            file=sys.stderr,
            flush=True,
        )
        node.process.wait()
        return node.process.returncode or 0
    except NodeError as exc:
        print(f"error: {exc}", file=sys.stderr)
        node.stop()
        return 1
    except KeyboardInterrupt:
        print("stopping Cassandra (drain and flush)...", file=sys.stderr, flush=True)
        node.stop()
        return 0


def ids_of_day(session, keyspace: str, day) -> list[str]:
    """Every prediction id of a UTC day, read straight from the tables (not through the log's code): the
    day's slots, then each slot's shards."""
    from cassandra.query import SimpleStatement

    from service.predlog.layout import SHARDS

    slots = [r.slot for r in session.execute(f"SELECT slot FROM {keyspace}.slots WHERE day = %s", (day,))]
    query = SimpleStatement(
        f"SELECT id FROM {keyspace}.predictions WHERE day = %s AND slot = %s AND shard = %s", fetch_size=500
    )
    return [str(r.id) for slot in slots for shard in range(SHARDS) for r in session.execute(query, (day, slot, shard))]


def apply_schema(node: CassandraNode, keyspace: str) -> None:
    """The prediction log's own schema, applied as `python -m service log schema apply` does (one replica)."""
    from service.predlog.cassandra import CassandraPredictionLog

    user, password = SUPERUSER if node.password_auth else (None, None)
    log = CassandraPredictionLog(f"{node.url}/{keyspace}", user, password, "ONE")
    try:
        log.apply_schema({"datacenter1": 1})
    finally:
        log.close()


if __name__ == "__main__":
    sys.exit(main())

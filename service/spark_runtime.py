"""What a Spark session over the Cassandra prediction log needs on this machine: Java 17, the connector's
jars (Maven, from infra/spark/pom.xml, cached under var/spark/) and the session's configuration, taken
from the same settings the service uses (PREDICTION_LOG, CASSANDRA_USERNAME/PASSWORD, CASSANDRA_LOCAL_DC,
CASSANDRA_READ_CONSISTENCY, CASSANDRA_TLS_CA).

Used by service/spark_stats.py; pyspark itself is the optional ``spark`` group (requirements/spark.txt)."""

from __future__ import annotations

import fcntl
import hashlib
import os
import shutil
import subprocess
import sys
from pathlib import Path
from urllib.parse import urlparse

from service import cassandra_url
from service.errors import ServiceError
from service.settings import Settings

ROOT = Path(__file__).resolve().parents[1]
POM = ROOT / "infra" / "spark" / "pom.xml"
JARS = ROOT / "var" / "spark" / "jars"
LOG4J = ROOT / "infra" / "spark" / "log4j2.properties"
DEFAULT_MASTER = "local[2]"
TRUSTSTORE_PASSWORD = "digits-truststore"  # it holds public certificates only; PKCS12 wants a password
JAVA_17_HOMES = ("/usr/lib/jvm/java-17-openjdk-amd64", "/usr/lib/jvm/java-17-openjdk", "/usr/lib/jvm/temurin-17-jdk")


class SparkUnavailable(ServiceError):
    """Spark cannot run here: pyspark, Java 17, Maven or the connector's jars are missing (the message says
    which and how to get it)."""

    code = "spark_unavailable"


def _is_java_17(home: str) -> bool:
    java = Path(home) / "bin" / "java"
    if not java.exists():
        return False
    probe = subprocess.run([str(java), "-version"], capture_output=True, text=True)
    return 'version "17' in probe.stderr


def java_home() -> str:
    """A Java 17 home: Spark 3.5 runs on 8, 11 and 17, and the executors of a cluster run on 17 too, so the
    driver matches them (a newer JDK that may also be here is not supported by Spark 3.5)."""
    on_path = shutil.which("java")
    candidates = [
        os.environ.get("SPARK_JAVA_HOME", ""),
        os.environ.get("JAVA_HOME", ""),
        *JAVA_17_HOMES,
        str(Path(on_path).resolve().parents[1]) if on_path else "",
    ]
    for home in candidates:
        if home and _is_java_17(home):
            return home
    raise SparkUnavailable("no Java 17 found (set SPARK_JAVA_HOME=/path/to/jdk17): Spark needs it")


def _stamp() -> Path:
    """Names the pom version the jars were copied for (a new pom, a new copy)."""
    return JARS / f".pom-{hashlib.sha256(POM.read_bytes()).hexdigest()[:16]}"


def connector_jars(quiet: bool = False) -> list[Path]:
    """The Spark Cassandra Connector's jars, copied from Maven Central by Maven once per pom version."""
    JARS.parent.mkdir(parents=True, exist_ok=True)
    # concurrent first runs (tests, a benchmark beside a person) would race on one copy: one copies, the
    # others wait for it and take its jars
    with open(JARS.parent / "jars.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if _stamp().exists():
            found = sorted(JARS.glob("*.jar"))
            if found:
                return found
        if shutil.which("mvn") is None:
            raise SparkUnavailable("Maven (mvn) is not installed: it fetches the Spark Cassandra Connector")
        if not quiet:
            print(
                "fetching the Spark Cassandra Connector and its dependencies from Maven Central (first time only, ~17 MB)...",
                file=sys.stderr,
                flush=True,
            )
        partial = JARS.with_name("jars.partial")
        shutil.rmtree(partial, ignore_errors=True)
        command = ["mvn", "-B", "-q", "-f", str(POM), "dependency:copy-dependencies", f"-DoutputDirectory={partial}"]
        done = subprocess.run(command, capture_output=True, text=True)
        if done.returncode != 0:
            raise SparkUnavailable(
                f"Maven could not fetch the connector ({POM}): {(done.stdout + done.stderr)[-2000:]}"
            )
        shutil.rmtree(JARS, ignore_errors=True)
        partial.replace(JARS)
        _stamp().touch()
        return sorted(JARS.glob("*.jar"))


def cassandra_conf(settings: Settings) -> tuple[str, dict[str, str]]:
    """The keyspace, and the connector's settings, from PREDICTION_LOG=cassandra://h1,h2:port/keyspace and
    the CASSANDRA_* settings."""
    scheme = urlparse(settings.prediction_log).scheme
    if scheme != "cassandra":
        raise SparkUnavailable(
            f"the Spark engine reads the Cassandra log; PREDICTION_LOG is {scheme}: (use the built-in stats)"
        )
    parsed = cassandra_url.parse(settings.prediction_log)
    hosts = parsed.hosts
    conf = {
        "spark.cassandra.connection.host": parsed.where,  # each host with its port
        "spark.cassandra.connection.port": str(parsed.port),
        "spark.cassandra.connection.localDC": settings.cassandra_local_dc or "datacenter1",
        # the service's consistency for reads as for writes: a LOCAL_QUORUM log is read at LOCAL_QUORUM
        "spark.cassandra.input.consistency.level": settings.cassandra_read_consistency,
    }
    if settings.cassandra_username:
        conf["spark.cassandra.auth.username"] = settings.cassandra_username
        conf["spark.cassandra.auth.password"] = settings.cassandra_password or ""
    if settings.cassandra_tls_ca or any(h.endswith(".amazonaws.com") for h in hosts):  # as the service connects
        conf["spark.cassandra.connection.ssl.enabled"] = "true"
    if settings.cassandra_tls_ca:
        conf["spark.cassandra.connection.ssl.trustStore.path"] = str(truststore(settings.cassandra_tls_ca))
        conf["spark.cassandra.connection.ssl.trustStore.password"] = TRUSTSTORE_PASSWORD
        conf["spark.cassandra.connection.ssl.trustStore.type"] = "PKCS12"
    return parsed.keyspace, conf


def truststore(ca: Path) -> Path:
    """The CA bundle as the PKCS12 trust store the connector reads (it takes no PEM), made by the JDK's keytool
    once per bundle and kept under var/spark/."""
    pem = ca.read_bytes()
    store = JARS.parent / f"truststore-{hashlib.sha256(pem).hexdigest()[:16]}.p12"
    if store.exists():
        return store
    store.parent.mkdir(parents=True, exist_ok=True)
    partial = store.with_suffix(f".{os.getpid()}.partial")
    keytool = Path(java_home()) / "bin" / "keytool"
    done = subprocess.run(
        [str(keytool), "-importcert", "-noprompt", "-alias", "cassandra-ca", "-file", str(ca), "-keystore",
         str(partial), "-storetype", "PKCS12", "-storepass", TRUSTSTORE_PASSWORD],
        capture_output=True, text=True,
    )  # fmt: skip
    if done.returncode != 0:
        partial.unlink(missing_ok=True)
        raise SparkUnavailable(f"keytool could not read CASSANDRA_TLS_CA={ca}: {done.stdout}{done.stderr}")
    partial.replace(store)
    return store


def session_conf(settings: Settings, master: str, jars: list[Path]) -> dict[str, str]:
    """Everything the session is built with. The jars travel as spark.jars: in local mode they are the
    driver's classpath, on a cluster (client mode) the executors fetch them from this driver."""
    _, cassandra = cassandra_conf(settings)
    return {
        "spark.master": master,
        "spark.app.name": "digits-stats",
        "spark.jars": ",".join(str(j) for j in jars),
        "spark.sql.extensions": "com.datastax.spark.connector.CassandraSparkExtensions",
        "spark.sql.session.timeZone": "UTC",  # days are UTC days, as in the log's partition keys
        # a handful of small aggregates: Spark's default 200 shuffle partitions would be 200 tiny tasks
        "spark.sql.shuffle.partitions": "8",
        "spark.ui.enabled": "false",
        "spark.ui.showConsoleProgress": "true" if sys.stderr.isatty() else "false",
        # Spark's start-up INFO lines and the native-hadoop warning: our own log4j2 file keeps WARN and up
        "spark.driver.extraJavaOptions": f"-Dlog4j2.configurationFile=file:{LOG4J}",
        **cassandra,
    }


def start_session(settings: Settings, master: str = DEFAULT_MASTER, quiet: bool = False):
    """A SparkSession (the caller stops it). The driver JVM is started here with JAVA_HOME set to Java 17."""
    try:
        from pyspark.sql import SparkSession
    except ImportError as exc:
        raise SparkUnavailable("pyspark is not installed: `make spark-stats` installs requirements/spark.txt") from exc
    home = java_home()
    jars = connector_jars(quiet=quiet)
    os.environ["JAVA_HOME"] = home  # read by spark-submit, which starts the driver JVM (py4j's gateway)
    if master.startswith("local"):
        # everything stays on this machine: without it Spark looks for a non-loopback address and warns
        os.environ.setdefault("SPARK_LOCAL_IP", "127.0.0.1")
    builder = SparkSession.builder
    for key, value in session_conf(settings, master, jars).items():
        builder = builder.config(key, value)
    spark = builder.getOrCreate()
    spark.sparkContext.setLogLevel("WARN")
    return spark

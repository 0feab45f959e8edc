"""`python -m service stats --engine spark` on the real Cassandra node: the same numbers as the built-in
statistics, each model's accuracy and confusion matrix as counted here from what was written, and a plan
that reads partitions (never a scan of the predictions table).

The tests marked ``spark`` run in `make test-spark` (pyspark from requirements/spark.txt; the connector's
jars from Maven); without pyspark, Java 17 or Maven they skip saying why, except under CI=true, where they
fail. The others need neither: the session's settings and the printed report.
"""

from __future__ import annotations

import contextlib
import io
import os
import random
import subprocess
import sys
from collections import Counter
from datetime import UTC, datetime, timedelta

import pytest

from ml.labels import NOT_A_DIGIT
from scripts.cassandra_node import CassandraNode
from service.analytics import summarise
from service.predlog.base import created_at_of, new_prediction_id
from service.predlog.cassandra import CassandraPredictionLog
from service.stats_report import summary_lines
from tests.conftest import ROOT
from tests.fixtures.cassandra import env_for, keyspace_name, open_log
from tests.fixtures.records import record

DAYS = 5  # the records sit on the 3 days before today and today: a run crossing midnight still sees them all
VERSIONS = ("20261201T000000Z-aaaaaa", "20261205T000000Z-bbbbbb", "20261207T000000Z-cccccc")
LOW = 0.9
LOCAL_DC = {"datacenter1": 1}  # the keyspace, made as `log schema apply --replication datacenter1:1` makes it


@pytest.fixture(scope="session")
def spark_ready():
    """pyspark, Java 17 and the connector's jars, or the reason they are missing (session-scoped, and named
    first, so that a skip comes before the Cassandra node is started)."""
    from service.spark_runtime import SparkUnavailable, connector_jars, java_home

    try:
        try:
            import pyspark  # noqa: F401
        except ImportError as exc:
            raise SparkUnavailable(
                "pyspark is not installed (`make test-spark` installs requirements/spark.txt)"
            ) from exc
        java_home()
        connector_jars(quiet=True)
    except SparkUnavailable as exc:
        if os.environ.get("CI") == "true":
            pytest.fail(f"Spark must run under CI=true: {exc}")
        pytest.skip(f"Spark cannot run here: {exc}")


def spark_env(node: CassandraNode, keyspace: str) -> dict[str, str]:
    return {**os.environ, **env_for(node, keyspace), "LOW_CONFIDENCE": str(LOW)}


def fill(log: CassandraPredictionLog, count: int = 360) -> list:
    """``count`` answers spread over the 3 days before today and today's past minutes, three model versions,
    refusals among them; about one in five corrected (right, wrong, or a refusal given a digit)."""
    rng = random.Random(7)
    now = datetime.now(UTC)
    records = []
    for n in range(count):
        days_back = n % 4
        seconds = rng.uniform(0, 86_399) if days_back else rng.uniform(60, 3600)
        at = (now - timedelta(days=days_back, seconds=seconds)) if days_back else now - timedelta(seconds=seconds)
        pid = new_prediction_id(at=at)
        records.append(
            record(
                id=pid,
                created_at=created_at_of(pid),
                digit=rng.choice([*range(10), NOT_A_DIGIT]),
                model_version=VERSIONS[n % 3],
                confidence=rng.uniform(0.35, 1.0),
            )
        )
    log.apply_schema(LOCAL_DC)
    for start in range(0, count, 50):
        log.write_many(records[start : start + 50])
    labelled = []
    for r in rng.sample(records, count // 5):
        label = r.digit if r.digit != NOT_A_DIGIT and rng.random() < 0.6 else rng.randrange(10)
        assert log.set_label(r.id, label, now) is not None
        labelled.append((r.model_version, label, r.digit))
    return labelled


def _digit(exported: int | None) -> int:
    """The export writes a refusal's digit as null, as the built-in export does."""
    return NOT_A_DIGIT if exported is None else exported


def run_stats(env: dict, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "service", "stats", "--days", str(DAYS), *args],
        env=env,
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=240,
    )


@pytest.mark.spark
def test_spark_stats_equal_the_builtin_ones_with_accuracy_and_confusion(spark_ready, cassandra_node, tmp_path):
    import pyarrow.parquet as pq

    keyspace = keyspace_name("spark")
    log = open_log(cassandra_node, keyspace)
    try:
        labelled = fill(log)
        out = tmp_path / "stats.parquet"
        done = run_stats(spark_env(cassandra_node, keyspace), "--engine", "spark", "--export", str(out))
        assert done.returncode == 0, done.stderr[-3000:]
        lines = done.stdout.splitlines()
        # the days of the run's own window (it may have crossed midnight since the fill): its first line
        first, last = (datetime.strptime(word, "%Y-%m-%d").date() for word in lines[0].split()[0:3:2])
        builtin = log.stats(first, last, LOW)
    finally:
        log.close()

    # the per-day table is the built-in one, line for line
    table = summary_lines(summarise(builtin, first, last, LOW))
    assert lines[: len(table)] == table
    assert sum(r.count for r in builtin) == 360 and sum(r.corrected for r in builtin) == 360 // 5
    # and so are the exported (day, model version, digit) aggregates
    exported = pq.read_table(out).to_pylist()
    key = lambda r: (r.day, r.model_version, r.digit)  # noqa: E731
    expected = sorted(builtin, key=key)
    assert len(exported) == len(expected)
    for got, want in zip(
        sorted(exported, key=lambda r: (r["day"], r["model_version"], _digit(r["digit"]))), expected, strict=True
    ):
        assert (got["day"].isoformat(), got["model_version"], _digit(got["digit"])) == key(want)
        assert (got["count"], got["low_confidence"], got["corrected"], got["corrected_right"]) == (
            want.count,
            want.low_confidence,
            want.corrected,
            want.corrected_right,
        )
        assert got["confidence_sum"] == pytest.approx(want.confidence_sum, rel=1e-9)

    # accuracy and confusion matrix, against a count of what was written
    cells = Counter(labelled)
    confusion = pq.read_table(tmp_path / "stats.confusion.parquet").to_pylist()
    assert {(c["model_version"], c["label"], _digit(c["digit"])): c["count"] for c in confusion} == dict(cells)
    printed = {
        line.split()[0]: line.split()[1:3] for line in lines if line.startswith(VERSIONS) and "label" not in line
    }
    for version in VERSIONS:
        mine = [(label, digit, n) for (v, label, digit), n in cells.items() if v == version]
        right = sum(n for label, digit, n in mine if label == digit)
        assert printed[version] == [str(sum(n for *_, n in mine)), str(right)]
    assert f"wrote {out}" in done.stdout


@pytest.mark.spark
def test_the_plan_reads_partitions_not_the_table(spark_ready, cassandra_node, monkeypatch):
    """slots and labels by ``day IN``, predictions by a direct join on (day, slot, shard): no scan of the
    predictions table, whose partitions of other days would all be read."""
    from service import spark_stats
    from service.predlog.base import days_between
    from service.settings import Settings
    from service.spark_runtime import start_session

    keyspace = keyspace_name("spark")
    log = open_log(cassandra_node, keyspace)
    try:
        log.apply_schema(LOCAL_DC)
    finally:
        log.close()
    settings = Settings.from_env(spark_env(cassandra_node, keyspace))
    for name in ("JAVA_HOME", "SPARK_LOCAL_IP"):  # start_session sets them for the driver JVM it starts
        monkeypatch.setenv(name, os.environ.get(name, ""))
    spark = start_session(settings, quiet=True)
    try:
        today = datetime.now(UTC).date()
        days = days_between(today - timedelta(days=2), today)

        def plan(frame) -> str:
            shown = io.StringIO()
            with contextlib.redirect_stdout(shown):
                frame.explain()
            return shown.getvalue()

        answers = plan(spark_stats.predictions(spark, keyspace, days))
        corrections = plan(spark_stats.labels(spark, keyspace, days))
        assert "Cassandra Direct Join [day = day" in answers and "slot = slot" in answers and "shard = shard" in answers
        assert f"Cassandra Scan: {keyspace}.predictions" not in answers
        assert "BatchScan slots" in answers and '"day" IN (?, ?, ?)' in answers
        assert f"Cassandra Scan: {keyspace}.labels" in corrections and '"day" IN (?, ?, ?)' in corrections
        assert spark_stats.compute(spark, keyspace, days[0], days[-1], LOW).rows == []
    finally:
        spark.stop()


def test_the_session_is_configured_from_the_service_settings(tmp_path):
    from service.settings import Settings
    from service.spark_runtime import SparkUnavailable, cassandra_conf, session_conf

    settings = Settings.from_env(
        {
            "PREDICTION_LOG": "cassandra://db1:9043,db2:9142/digits_eu",
            "CASSANDRA_USERNAME": "reader",
            "CASSANDRA_PASSWORD": "s3cret",
            "CASSANDRA_LOCAL_DC": "eu-west",
            "CASSANDRA_READ_CONSISTENCY": "LOCAL_QUORUM",
        }
    )
    jars = [tmp_path / "a.jar", tmp_path / "b.jar"]
    conf = session_conf(settings, "spark://spark-master:7077", jars)
    assert cassandra_conf(settings)[0] == "digits_eu"
    assert {k: v for k, v in conf.items() if k.startswith("spark.cassandra.")} == {
        "spark.cassandra.connection.host": "db1:9043,db2:9142",
        "spark.cassandra.connection.port": "9142",
        "spark.cassandra.connection.localDC": "eu-west",
        "spark.cassandra.input.consistency.level": "LOCAL_QUORUM",
        "spark.cassandra.auth.username": "reader",
        "spark.cassandra.auth.password": "s3cret",
    }
    assert conf["spark.master"] == "spark://spark-master:7077"
    assert conf["spark.jars"] == f"{jars[0]},{jars[1]}"
    assert conf["spark.sql.extensions"] == "com.datastax.spark.connector.CassandraSparkExtensions"
    assert "spark.cassandra.auth.username" not in session_conf(
        Settings.from_env({"PREDICTION_LOG": "cassandra://db1/digits", "CASSANDRA_LOCAL_DC": "dc1"}), "local[2]", jars
    )
    with pytest.raises(SparkUnavailable, match="Cassandra log"):
        cassandra_conf(Settings.from_env({"PREDICTION_LOG": str(tmp_path / "log.db")}))


def test_accuracy_and_confusion_as_printed():
    from service.spark_stats import Confusion, accuracy_of
    from service.stats_report import accuracy_lines, confusion_lines

    cells = [
        Confusion("v1", 3, 3, 4),
        Confusion("v1", 3, 8, 1),
        Confusion("v1", 7, NOT_A_DIGIT, 1),
        Confusion("v1", NOT_A_DIGIT, 0, 2),  # a person said: not a digit at all
        Confusion("v2", 1, 1, 2),
    ]
    accuracy = accuracy_of(cells)
    assert [(a.model_version, a.labelled, a.right) for a in accuracy] == [("v1", 8, 4), ("v2", 2, 2)]
    assert accuracy_lines(accuracy)[1].split() == ["v1", "8", "4", "50.0%"]
    lines = confusion_lines(cells)
    assert lines[1].split() == [*map(str, range(10)), "no"]
    assert lines[2].split() == ["3", ".", ".", ".", "4", ".", ".", ".", ".", "1", ".", "."]
    assert lines[3].split() == ["7", *["."] * 10, "1"]
    assert lines[4].split() == ["no", "2", *["."] * 10]
    assert lines[5].startswith("v2:")

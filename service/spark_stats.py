"""``python -m service stats --engine spark``: the prediction log's statistics computed by Spark, straight
from Cassandra through the Spark Cassandra Connector.

The same per (day, model version, digit) aggregates as ``CassandraPredictionLog.stats`` (so
``service.analytics.summarise`` shapes both alike), plus each model version's accuracy against the
corrections and its confusion matrix (label against answer).

Nothing is read by scanning a table: ``slots`` and ``labels`` are read with ``day IN (...)`` on their
partition key, and ``predictions`` only in the (day, slot, shard) partitions the slots name, through a
direct join (one single-partition read per key; ``partition_keys`` explains why the keys are built the
way they are). The connector never pushes a range such as ``day >= x`` down: that would read every token
range of the table.
"""

from __future__ import annotations

import contextlib
import threading
from dataclasses import dataclass
from datetime import date
from pathlib import Path

from ml.labels import NOT_A_DIGIT
from service.errors import ExportError, ServiceError
from service.predlog.base import StatsRow, days_between
from service.predlog.layout import SHARDS
from service.settings import Settings

CASSANDRA = "org.apache.spark.sql.cassandra"
PREDICTION_COLUMNS = ("day", "slot", "shard", "model_version", "digit", "confidence")


@dataclass(frozen=True)
class Confusion:
    """How many corrected answers of one model version said ``digit`` where a person said ``label``."""

    model_version: str
    label: int
    digit: int  # NOT_A_DIGIT: the upload was refused
    count: int


@dataclass(frozen=True)
class Accuracy:
    """A model version's answers that a person labelled, and how many of those it had right (a refusal
    of a labelled upload counts as wrong, as in ``python -m ml eval``)."""

    model_version: str
    labelled: int
    right: int

    @property
    def share(self) -> float:
        return self.right / self.labelled


@dataclass(frozen=True)
class SparkStats:
    rows: list[StatsRow]
    accuracy: list[Accuracy]
    confusion: list[Confusion]


def _table(spark, keyspace: str, name: str, **options):
    return spark.read.format(CASSANDRA).options(keyspace=keyspace, table=name, **options).load()


def partition_keys(spark, keyspace: str, days: list[date]):
    """(day, slot, shard) of every predictions partition of those days: the slots table's rows (``day IN``,
    pushed down) times the shards. The shards are generated per slot row rather than cross-joined: the
    optimizer moves a cross join above the join with the table, which then scans it whole."""
    from pyspark.sql import functions as F

    shards = F.sequence(F.lit(0).cast("byte"), F.lit(SHARDS - 1).cast("byte"))
    # slot -1 is a whole day's rollup row, not a slot of predictions
    slots = _table(spark, keyspace, "slots").where(F.col("day").isin(days)).where(F.col("slot") >= 0)
    # the slots of many days arrive in one Spark partition: spread them so each core (or executor) makes
    # its share of the single-partition reads
    return slots.select("day", "slot", F.explode(shards).alias("shard")).repartition(
        spark.sparkContext.defaultParallelism
    )


def predictions(spark, keyspace: str, days: list[date]):
    """The narrow columns of the days' predictions, read partition by partition (Cassandra Direct Join)."""
    # "on": the connector's "auto" compares the keys with the table's estimated size, which a young table
    # (no size estimates yet) gets wrong, and a wrong guess is a full scan
    table = _table(spark, keyspace, "predictions", directJoinSetting="on").select(*PREDICTION_COLUMNS)
    return partition_keys(spark, keyspace, days).join(table, ["day", "slot", "shard"])


def labels(spark, keyspace: str, days: list[date]):
    """The days' corrections, each with the answer it corrects (``day IN``, pushed down)."""
    from pyspark.sql import functions as F

    return (
        _table(spark, keyspace, "labels")
        .where(F.col("day").isin(days))
        .select("day", "model_version", "digit", "label")
    )


def stats_frame(answers, corrections, low_below: float):
    """Per (day, model version, digit): what ``CassandraPredictionLog.stats`` counts. Corrections count for
    the answer they carry, and only where that group has answers in the range (as the built-in does)."""
    from pyspark.sql import functions as F

    group = ["day", "model_version", "digit"]
    counted = answers.groupBy(*group).agg(
        F.count(F.lit(1)).alias("count"),
        F.sum(F.col("confidence").cast("double")).alias("confidence_sum"),
        F.sum((F.col("confidence") < F.lit(low_below)).cast("long")).alias("low_confidence"),
    )
    corrected = corrections.groupBy(*group).agg(
        F.count(F.lit(1)).alias("corrected"),
        F.sum((F.col("label") == F.col("digit")).cast("long")).alias("corrected_right"),
    )
    return counted.join(corrected, group, "left").fillna(0, subset=["corrected", "corrected_right"])


def confusion_frame(corrections):
    return corrections.groupBy("model_version", "label", "digit").count()


def compute(spark, keyspace: str, first: date, last: date, low_below: float) -> SparkStats:
    days = days_between(first, last)
    corrections = labels(spark, keyspace, days).cache()  # read once, counted twice
    try:
        rows = [
            StatsRow(
                r.day.isoformat(),
                r.model_version,
                int(r.digit),
                int(r["count"]),
                float(r.confidence_sum),
                int(r.low_confidence),
                int(r.corrected),
                int(r.corrected_right),
            )
            for r in stats_frame(predictions(spark, keyspace, days), corrections, low_below).collect()
        ]
        cells = [
            Confusion(r.model_version, int(r.label), int(r.digit), int(r["count"]))
            for r in confusion_frame(corrections).collect()
        ]
    finally:
        corrections.unpersist()
    rows.sort(key=lambda r: (r.day, r.model_version, r.digit))
    cells.sort(key=lambda c: (c.model_version, c.label, c.digit))
    return SparkStats(rows, accuracy_of(cells), cells)


def accuracy_of(cells: list[Confusion]) -> list[Accuracy]:
    by_model: dict[str, list[int]] = {}
    for cell in cells:
        total = by_model.setdefault(cell.model_version, [0, 0])
        total[0] += cell.count
        total[1] += cell.count if cell.label == cell.digit else 0
    return [Accuracy(version, labelled, right) for version, (labelled, right) in sorted(by_model.items())]


def confusion_path(path: Path) -> Path:
    """Where ``export`` writes the confusion matrix beside the per-day rows: out.parquet -> out.confusion.parquet."""
    return path.with_name(f"{path.stem}.confusion{path.suffix}")


def export(result: SparkStats, path: Path) -> list[Path]:
    """The per (day, model version, digit) rows to ``path`` and the confusion matrix beside it, as Parquet
    files written here by the driver: the aggregates are small, and on a cluster a path given to Spark's
    own writer would be written on the executors' disks."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    if path.suffix != ".parquet":
        raise ExportError(f"{path}: the Spark engine exports Parquet only (FILE.parquet)")
    rows = pa.table(
        {
            "day": pa.array([date.fromisoformat(r.day) for r in result.rows], pa.date32()),
            "model_version": pa.array([r.model_version for r in result.rows], pa.string()),
            # null: refused as not a digit (as the built-in export writes it)
            "digit": pa.array([r.digit if r.digit != NOT_A_DIGIT else None for r in result.rows], pa.int8()),
            "count": pa.array([r.count for r in result.rows], pa.int64()),
            "confidence_sum": pa.array([r.confidence_sum for r in result.rows], pa.float64()),
            "low_confidence": pa.array([r.low_confidence for r in result.rows], pa.int64()),
            "corrected": pa.array([r.corrected for r in result.rows], pa.int64()),
            "corrected_right": pa.array([r.corrected_right for r in result.rows], pa.int64()),
        }
    )
    cells = pa.table(
        {
            "model_version": pa.array([c.model_version for c in result.confusion], pa.string()),
            "label": pa.array([c.label for c in result.confusion], pa.int8()),
            "digit": pa.array([c.digit if c.digit != NOT_A_DIGIT else None for c in result.confusion], pa.int8()),
            "count": pa.array([c.count for c in result.confusion], pa.int64()),
        }
    )
    written = [path, confusion_path(path)]
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        pq.write_table(rows, path)
        pq.write_table(cells, written[1])
    except OSError as exc:
        raise ExportError(f"cannot write {path}: {exc}") from exc
    return written


class SparkJobFailed(ServiceError):
    """Spark started but the job did not finish (Cassandra unreachable, login refused, a lost executor)."""

    code = "spark_job_failed"


def run(settings: Settings, first: date, last: date, master: str) -> SparkStats:
    """Start a session, compute, stop it. Spark works in a thread of its own while this one waits, so that
    Ctrl-C lands here, outside any call into the JVM: the jobs are cancelled, the session stopped, and
    KeyboardInterrupt goes on up (interrupting a py4j call midway left its connection unusable, and the
    cancel that pyspark's own handler then sends failed on it)."""
    from service.spark_runtime import cassandra_conf, start_session

    keyspace, _ = cassandra_conf(settings)
    cancelled = threading.Event()
    state: dict = {}

    def work() -> None:
        try:
            spark = state["spark"] = start_session(settings, master)
            try:
                if not cancelled.is_set():
                    state["result"] = compute(spark, keyspace, first, last, settings.low_confidence)
            finally:
                spark.stop()
        except BaseException as exc:  # handed to the waiting thread, which raises it there
            state["error"] = exc

    worker = threading.Thread(target=work, name="spark-stats", daemon=True)
    worker.start()
    try:
        while worker.is_alive():
            worker.join(0.2)
    except KeyboardInterrupt:
        cancelled.set()
        if "spark" in state:
            with contextlib.suppress(Exception):  # the session may be stopping already
                state["spark"].sparkContext.cancelAllJobs()
        worker.join()  # a second Ctrl-C leaves at once: the driver JVM exits when this process does
        raise
    error = state.get("error")
    if error is not None:
        from py4j.protocol import Py4JError
        from pyspark.errors import PySparkException

        if isinstance(error, Py4JError | PySparkException):
            raise SparkJobFailed(f"the Spark job failed: {_first_cause(error)}") from error
        raise error
    return state["result"]


def _first_cause(exc: BaseException) -> str:
    """The line of a JVM stack trace that says what went wrong (the deepest "Caused by"), not the trace."""
    text = str(exc)
    causes = [line.strip() for line in text.splitlines() if line.strip().startswith("Caused by:")]
    if causes:
        return causes[-1].removeprefix("Caused by:").strip()
    return next((line.strip() for line in text.splitlines() if line.strip()), type(exc).__name__)

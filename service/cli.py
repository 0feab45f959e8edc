"""The service's command line: ``python -m service {data,train,eval,predict,devset,stats}``.

The ML core's commands (``ml/commands.py``), with ``train`` run as the train function runs it (the machine's
training lock, ``--include-corrections`` from the prediction log), and ``stats`` over the prediction log."""

from __future__ import annotations

import sys
from datetime import UTC
from pathlib import Path

from ml import commands as ml_commands
from ml.errors import MLError
from ml.interrupts import interrupted_status
from ml.parameters import ParameterError
from ml.progress import Report
from service.errors import ServiceError
from service.predlog import admin
from service.settings import ConfigError, Settings


def cmd_train(args, settings: Settings) -> int:
    from service.train.runs import PARAMETERS, TrainRequest, run_training

    request = TrainRequest.from_values({name: getattr(args, name) for name in PARAMETERS.names()})
    report = Report.for_terminal()
    report.line(f"training {request.config.architecture} into {settings.model_store} (Ctrl-C stops it cleanly)")
    outcome = run_training(settings, request, report)
    ml_commands.print_outcome(outcome, settings.model_store)
    return 0 if outcome.promoted or args.no_fail else 3


def cmd_stats(args, settings: Settings) -> int:
    """Per-day summary on the terminal, or every record of the range exported for offline analysis."""
    from datetime import datetime, timedelta

    from tqdm import tqdm

    from service.analytics import summarise
    from service.predlog import open_prediction_log
    from service.stats_report import summary_lines

    last = datetime.now(UTC).date()
    first = last - timedelta(days=args.days - 1)
    if args.engine == "spark":
        return _spark_stats(args, settings, first, last)
    prediction_log = open_prediction_log(settings)
    try:
        prediction_log.ensure_schema()
        if args.export:
            from service.export import check_target, export

            check_target(Path(args.export))  # refused in one line, before the progress bar draws
            with tqdm(desc=f"export to {args.export}", unit=" rows", file=sys.stderr) as bar:
                count = export(prediction_log.export(first, last), Path(args.export), progress=bar.update)
            print(f"wrote {count:,} predictions from {first} to {last} to {args.export}")
            return 0
        stats = summarise(
            prediction_log.stats(first, last, settings.low_confidence), first, last, settings.low_confidence
        )
    except ServiceError as exc:  # the log is down, or the export cannot be written as asked
        print(f"error: {exc}", file=sys.stderr)
        return 2
    finally:
        prediction_log.close()
    print("\n".join(summary_lines(stats)))
    return 0


def _spark_stats(args, settings: Settings, first, last) -> int:
    """The same summary computed by Spark from Cassandra, then each model's accuracy against the corrections
    and its confusion matrix; ``--export`` also writes them as Parquet (service/spark_stats.py)."""
    from service import spark_stats
    from service.analytics import summarise
    from service.predlog import open_prediction_log
    from service.predlog.cassandra import CassandraPredictionLog
    from service.stats_report import accuracy_lines, confusion_lines, summary_lines

    prediction_log = open_prediction_log(settings)
    try:
        if not isinstance(prediction_log, CassandraPredictionLog):
            print(f"error: the Spark engine reads a Cassandra log, not {prediction_log.describe()}", file=sys.stderr)
            return 2
        # the schema's version checked here: a keyspace without it would fail Spark's job on a missing table
        prediction_log.ensure_schema()
        if prediction_log.legacy() is not None:
            print(
                "error: this keyspace still holds the first schema's tables, which the Spark engine does not read: "
                "run `python -m service log migrate` first (the built-in engine reads both)",
                file=sys.stderr,
            )
            return 2
    except ServiceError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    finally:
        prediction_log.close()
    try:
        result = spark_stats.run(settings, first, last, args.master)
        written = spark_stats.export(result, Path(args.export)) if args.export else []
    except ServiceError as exc:  # no Java/pyspark/connector, the job failed, the export cannot be written
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("interrupted: Spark's jobs were cancelled and the session stopped", file=sys.stderr)
        return 130
    low = settings.low_confidence
    print("\n".join(summary_lines(summarise(result.rows, first, last, low))))
    print("\nAccuracy against the corrections, per model version (a refused labelled upload counts as wrong)")
    print("\n".join(accuracy_lines(result.accuracy)))
    if result.confusion:
        print()
        print("\n".join(confusion_lines(result.confusion)))
    for path in written:
        print(f"wrote {path}")
    return 0


HELP = """Handwritten digits from the command line: the model's commands (data, train, eval, predict,
devset) and those over the prediction log (stats, log). Settings come from the environment, as the functions
read them (docs/configuration.md)."""


def program() -> str:
    """How the user called it: the installed `digits` command or `python -m service`."""
    return "digits" if Path(sys.argv[0]).name == "digits" else "python -m service"


def parser():
    from service.predict.status import STATS_QUERY
    from service.train.runs import PARAMETERS

    p = ml_commands.parser(program(), HELP)
    commands = next(a for a in p._actions if a.dest == "command")
    train = commands.choices["train"]
    PARAMETERS.only(["include_corrections", "correction_weight"]).add_flags(train)
    st = commands.add_parser("stats", help="per-day summary of the prediction log, or --export it to Parquet/CSV")
    days = STATS_QUERY["days"]  # the HTTP /stats default; a longer range is allowed here, for exports
    st.add_argument(
        "--days",
        type=int,
        default=days.default,
        choices=range(1, 3661),
        metavar="1-3660",
        help=f"{days.help} (default {days.default})",
    )
    st.add_argument(
        "--export",
        metavar="FILE.parquet|FILE.csv",
        help="write every record of those days to FILE; with --engine spark, the per (day, model, digit) "
        "aggregates to FILE.parquet and the confusion matrix to FILE.confusion.parquet",
    )
    st.add_argument(
        "--engine",
        choices=("builtin", "spark"),
        default="builtin",
        help="builtin: the log's own queries (default); spark: a Spark job over the Cassandra log, which also "
        "prints each model's accuracy and confusion matrix (needs pyspark: make spark-stats installs it)",
    )
    st.add_argument(
        "--master",
        default="local[2]",
        help="with --engine spark: where it runs, local[N] or spark://host:7077 (default local[2])",
    )
    admin.add_parser(commands)
    return p


COMMANDS = {**ml_commands.COMMANDS, "train": cmd_train, "stats": cmd_stats, "log": admin.cmd_log}


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    try:
        return COMMANDS[args.command](args, Settings.from_env())
    except (ConfigError, MLError, ParameterError, ServiceError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"\ninterrupted: {args.command} stopped", file=sys.stderr)
        return interrupted_status()

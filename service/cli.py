"""The service's command line: ``python -m service {data,train,eval,predict,devset,stats}``.

The ML core's commands (``ml/cli.py``), with ``train`` run as the train function runs it (the machine's
training lock, ``--include-corrections`` from the prediction log), and ``stats`` over the prediction log."""

from __future__ import annotations

import sys
from datetime import UTC
from pathlib import Path

from ml import cli as ml_cli
from ml.errors import MLError
from ml.parameters import ParameterError
from service import log_cli
from service.config import ConfigError, Settings
from service.errors import ServiceError


def cmd_train(args, settings: Settings) -> int:
    from service.training import PARAMETERS, TrainRequest, run_training

    request = TrainRequest.from_values({name: getattr(args, name) for name in PARAMETERS.names()})
    outcome = run_training(settings, request, say=print)
    ml_cli.print_outcome(outcome, settings.model_store)
    return 0 if outcome.promoted or args.no_fail else 3


def cmd_stats(args, settings: Settings) -> int:
    """Per-day summary on the terminal, or every record of the range exported for offline analysis."""
    from datetime import datetime, timedelta

    from tqdm import tqdm

    from service.analytics import summarise
    from service.predlog import open_prediction_log

    last = datetime.now(UTC).date()
    first = last - timedelta(days=args.days - 1)
    prediction_log = open_prediction_log(settings)
    try:
        prediction_log.ensure_schema()
        if args.export:
            from service.log_export import export

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
    print(f"{'day':<12}{'answers':>9}{'mean conf':>11}{'low conf':>10}{'corrected':>11}{'acc. corr.':>12}")
    pct = lambda v: "-" if v is None else f"{v:.1%}"  # noqa: E731
    for row in [*stats["days"], {"day": "total", **stats["total"]}]:
        print(
            f"{row['day']:<12}{row['count']:>9}{pct(row['mean_confidence']):>11}{pct(row['low_confidence_share']):>10}"
            f"{row['corrected']:>11}{pct(row['corrected_accuracy']):>12}"
        )
    return 0


def parser():
    from service.training import PARAMETERS

    p = ml_cli.parser("python -m service", __doc__)
    commands = next(a for a in p._actions if a.dest == "command")
    train = commands.choices["train"]
    PARAMETERS.only(["include_corrections", "correction_weight"]).add_flags(train)
    st = commands.add_parser("stats", help="per-day summary of the prediction log, or --export it to Parquet/CSV")
    st.add_argument(
        "--days",
        type=int,
        default=30,
        choices=range(1, 3661),
        metavar="1-3660",
        help="the last N UTC days, today included (default 30)",
    )
    st.add_argument("--export", metavar="FILE.parquet|FILE.csv", help="write every record of those days to FILE")
    log_cli.add_parser(commands)
    return p


COMMANDS = {**ml_cli.COMMANDS, "train": cmd_train, "stats": cmd_stats, "log": log_cli.cmd_log}


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    try:
        return COMMANDS[args.command](args, Settings.from_env())
    except (ConfigError, MLError, ParameterError, ServiceError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2

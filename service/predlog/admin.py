"""``python -m service log {tail,schema apply,migrate,requeue}``: operator commands over the prediction log."""

from __future__ import annotations

import argparse
import sys

from service.errors import ServiceError
from service.settings import ConfigError, Settings


def replication(text: str) -> dict[str, int]:
    """``dc1:3,dc2:3`` -> {"dc1": 3, "dc2": 3}."""
    try:
        places = {dc.strip(): int(n) for dc, n in (part.split(":") for part in text.split(","))}
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r}: expected DC:REPLICAS[,DC:REPLICAS...], e.g. dc1:3") from None
    if not places or any(n < 1 or not dc for dc, n in places.items()):
        raise argparse.ArgumentTypeError(f"{text!r}: every data centre needs a name and at least one replica")
    return places


def add_parser(commands) -> None:
    p = commands.add_parser("log", help="read or operate the prediction log (tail, schema apply, migrate, requeue)")
    sub = p.add_subparsers(dest="action", required=True)
    tail = sub.add_parser(
        "tail", help="the newest records, one line each, read through the driver (SQLite or Cassandra alike)"
    )
    tail.add_argument(
        "-n", "--lines", type=int, default=10, choices=range(1, 1001), metavar="1-1000", help="(default 10)"
    )
    schema = sub.add_parser("schema", help="the log's tables")
    schema_sub = schema.add_subparsers(dest="schema_action", required=True)
    apply = schema_sub.add_parser(
        "apply",
        help="create the tables once (idempotent), wait for the nodes to agree, record the version: the "
        "deployment's step; the functions only check it",
    )
    apply.add_argument(
        "--replication",
        type=replication,
        metavar="DC:N[,DC:N]",
        help="create the keyspace when missing, NetworkTopologyStrategy with N replicas in each DC "
        "(production: 3 per DC; a local node: datacenter1:1)",
    )
    sub.add_parser(
        "migrate",
        help="copy the first schema's day-keyed tables into the sharded ones (idempotent, resumable); "
        "until it has run, the functions read both",
    )
    sub.add_parser(
        "requeue",
        help="write the records quarantined in SPOOL_DIR (refused by the log) to it again, once the fault is "
        "fixed; damaged ones stay",
    )


def cmd_log(args, settings: Settings) -> int:
    from service.predlog import open_prediction_log
    from service.predlog.cassandra import CassandraPredictionLog

    prediction_log = open_prediction_log(settings)
    if args.action == "tail":
        return _tail(prediction_log, args.lines)
    if args.action == "requeue":
        return _requeue(prediction_log, settings)
    if not isinstance(prediction_log, CassandraPredictionLog):
        raise ConfigError(f"{prediction_log.describe()} is not a Cassandra log: `log` operates Cassandra only")
    try:
        if args.action == "schema":
            prediction_log.apply_schema(args.replication)
            print(f"{prediction_log.describe()}: schema applied and agreed")
            return 0
        return _migrate(prediction_log)
    except ServiceError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    finally:
        prediction_log.close()


TAIL_HEADER = (
    f"{'created (UTC)':<19}  {'answer':<11}  {'confidence':>10}  {'label':>5}  {'model':<24}  {'id':<32}  filename"
)


def _tail(prediction_log, lines: int) -> int:
    try:
        prediction_log.ensure_schema()
        records = prediction_log.recent(lines)
    except ServiceError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    finally:
        prediction_log.close()
    print(f"{prediction_log.describe()}: the newest {len(records)} records, oldest first")
    print(TAIL_HEADER)
    for record in reversed(records):
        answer = str(record.digit) if record.is_digit else "not a digit"
        label = "" if record.label is None else str(record.label)
        print(
            f"{record.created_at:%Y-%m-%d %H:%M:%S}  {answer:<11}  {record.confidence:>10.4f}  {label:>5}  "
            f"{record.model_version:<24}  {record.id:<32}  {record.filename!r}"
        )
    return 0


def _migrate(prediction_log) -> int:
    from tqdm import tqdm

    from service.predlog.legacy import migrate

    prediction_log.ensure_schema()
    with tqdm(desc="copying predictions", unit=" rows", file=sys.stderr) as bar:
        copied = migrate(prediction_log, progress=bar.update, say=bar.write)
    print(f"copied {copied:,} predictions; {prediction_log.describe()} reads the sharded tables only")
    return 0


def _requeue(prediction_log, settings: Settings) -> int:
    from service.predlog.spool import QUARANTINE, requeue

    try:
        prediction_log.ensure_schema()
        written, kept = requeue(settings.spool_dir, prediction_log)
    except ServiceError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    finally:
        prediction_log.close()
    print(f"{written:,} quarantined records written to {prediction_log.describe()}; {kept:,} damaged ones stay in "
          f"{settings.spool_dir / QUARANTINE}")  # fmt: skip
    return 0

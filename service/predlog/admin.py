"""``python -m service log {schema apply,migrate,requeue}``: operator commands over the prediction log."""

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
    p = commands.add_parser("log", help="operate the prediction log (schema apply, migrate, requeue)")
    sub = p.add_subparsers(dest="action", required=True)
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

"""``python -m service log migrate``: operator commands over the Cassandra prediction log."""

from __future__ import annotations

import sys

from service.config import Settings
from service.errors import ServiceError


def add_parser(commands) -> None:
    p = commands.add_parser("log", help="operate the Cassandra prediction log (migrate)")
    sub = p.add_subparsers(dest="action", required=True)
    sub.add_parser(
        "migrate",
        help="copy the first schema's day-keyed tables into the sharded ones (idempotent, resumable); "
        "until it has run, the functions read both",
    )


def cmd_log(args, settings: Settings) -> int:
    from tqdm import tqdm

    from service.predlog import open_prediction_log
    from service.predlog.cassandra import CassandraPredictionLog
    from service.predlog.legacy import migrate

    prediction_log = open_prediction_log(settings)
    if not isinstance(prediction_log, CassandraPredictionLog):
        print(f"error: {prediction_log.describe()} is not a Cassandra log: nothing to migrate", file=sys.stderr)
        return 2
    try:
        prediction_log.ensure_schema()
        with tqdm(desc="copying predictions", unit=" rows", file=sys.stderr) as bar:
            copied = migrate(prediction_log, progress=bar.update, say=bar.write)
    except ServiceError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    finally:
        prediction_log.close()
    print(f"copied {copied:,} predictions; {prediction_log.describe()} reads the sharded tables only")
    return 0

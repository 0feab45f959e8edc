"""/stats on the Cassandra log: the rollup path beside a full recount, on one real node holding 30 days.

Fills the days with records at random times (so every day has rows in many slots), then times
``stats`` over 30 days: the first call (which counts the slots and keeps their rollups), then warm calls
(median and p95), and ``recount`` (every row read) for comparison. Checks both give the same figures.

    .venv/bin/python -m benchmarks.stats_rollups [--records 60000] [--days 30] [--repeat 20]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from dataclasses import astuple, replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np

from benchmarks.cassandra_log import record
from scripts.cassandra_node import CassandraNode, classpath, free_port
from service.predlog import new_prediction_id
from service.predlog.base import created_at_of
from service.predlog.cassandra import CassandraPredictionLog


def timed(call) -> float:
    started = time.perf_counter()
    call()
    return (time.perf_counter() - started) * 1000


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--records", type=int, default=60_000)
    parser.add_argument("--days", type=int, default=30)
    parser.add_argument("--repeat", type=int, default=20)
    args = parser.parse_args(argv)
    rng = np.random.default_rng(0)
    now = datetime.now(UTC)
    with tempfile.TemporaryDirectory(prefix="stats-bench-") as tmp:
        node = CassandraNode(Path(tmp) / "node", native_port=free_port(), storage_port=free_port())
        node.start(classpath())
        node.wait_ready()
        # one host writes and reads: no margin for other clocks is needed before a count is kept
        log = CassandraPredictionLog(f"{node.url}/bench_stats", None, None, "ONE", stamp_margin=timedelta(0))
        try:
            log.apply_schema({"datacenter1": 1})
            started = time.perf_counter()
            batch = []
            for n in range(args.records):
                at = now - timedelta(days=int(rng.integers(args.days)), seconds=float(rng.uniform(600, 86_400)))
                pid = new_prediction_id(max(at, now - timedelta(days=args.days - 1, hours=now.hour)))
                batch.append(replace(record(0, rng), id=pid, created_at=created_at_of(pid), model_version=f"v{n % 3}"))
                if len(batch) == 2000:
                    log.write_many(batch)
                    batch = []
                    print(f"  {n + 1:,} records written", file=sys.stderr, flush=True)
            log.write_many(batch)
            print(f"filled {args.records:,} records in {time.perf_counter() - started:.0f} s", file=sys.stderr)
            last = now.date()
            first = last - timedelta(days=args.days - 1)
            cold = timed(lambda: log.stats(first, last, 0.9))
            warm = sorted(timed(lambda: log.stats(first, last, 0.9)) for _ in range(args.repeat))
            full = sorted(timed(lambda: log.recount(first, last, 0.9)) for _ in range(3))
            same = sorted(map(astuple, log.stats(first, last, 0.9))) == sorted(
                map(astuple, log.recount(first, last, 0.9))
            )
        finally:
            log.close()
            node.stop()
    print(f"## /stats over {args.days} days on one Cassandra node ({args.records:,} records)")
    print()
    command = " ".join([".venv/bin/python -m benchmarks.stats_rollups", *(argv or sys.argv[1:])])
    print(f"Command: `{command}`")
    print()
    print(f"- first call (counts every slot, keeps the rollups): {cold:,.0f} ms")
    print(
        f"- with rollups: median {statistics.median(warm):.1f} ms, p95 {warm[int(len(warm) * 0.95) - 1]:.1f} ms "
        f"({args.repeat} calls)"
    )
    print(f"- full recount (every row read): median {statistics.median(full):,.0f} ms (3 calls)")
    print(f"- same figures from rollups and recount: {same}")
    return 0 if same else 1


if __name__ == "__main__":
    sys.exit(main())

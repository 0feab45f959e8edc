"""Prediction-log analytics on a SQLite log of N synthetic records: /stats aggregation and export.

Prints medians, and peak memory of the streamed export beside the obvious way (read every record into a
list, then write). Each export runs in a fresh process, so ru_maxrss is that export's own peak.

    .venv/bin/python benchmarks/log_analytics.py [--records 200000] [--repeat 5]
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

EXPORT = """
import resource, sys, time
from datetime import date
from pathlib import Path
from service.export import export
from service.predlog.sqlite import SqlitePredictionLog
log = SqlitePredictionLog(Path(sys.argv[1]))
first, last = date.fromisoformat(sys.argv[3]), date.fromisoformat(sys.argv[4])
started = time.perf_counter()  # reading the log is part of both ways
records = log.export(first, last)
if sys.argv[5] == "list":
    records = list(records)
count = export(records, Path(sys.argv[2]))
print(count, time.perf_counter() - started, resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024)
"""


def fill(path: Path, count: int, days: int) -> tuple:
    import numpy as np

    from service.predlog.base import PredictionRecord, created_at_of, new_prediction_id
    from service.predlog.sqlite import SqlitePredictionLog

    log = SqlitePredictionLog(path)
    log.ensure_schema()
    rng = np.random.default_rng(0)
    now = datetime.now(UTC)
    conn = log._connection()
    conn.execute("BEGIN")
    for n in range(count):
        pid = new_prediction_id()
        digit = int(rng.integers(10))
        confidence = float(rng.uniform(0.4, 1.0))
        record = PredictionRecord(
            id=pid,
            created_at=created_at_of(pid) - timedelta(days=n % days),
            filename=f"{n}.png",
            content_type="image/png",
            digit=digit,
            confidence=confidence,
            probabilities=[0.01] * 10,
            model_version=f"v{n % 3}",
            latency_ms=1.0,
            normalised=rng.integers(0, 256, 784, dtype=np.uint8).tobytes(),
            image_size=300,
        )
        log.write(record)
        if n % 20 == 0:
            log.set_label(pid, (digit + n) % 10, now)
        if n and n % 50_000 == 0:
            print(f"  {n:,} records written", file=sys.stderr)
    conn.execute("COMMIT")
    return log, now.date() - timedelta(days=days - 1), now.date()


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--records", type=int, default=200_000)
    parser.add_argument("--days", type=int, default=30)
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        db = Path(tmp) / "log.db"
        started = time.perf_counter()
        log, first, last = fill(db, args.records, args.days)
        print(
            f"{args.records:,} records over {args.days} days written in {time.perf_counter() - started:.1f} s "
            f"({db.stat().st_size / 2**20:.0f} MiB)"
        )
        for days in (7, args.days):
            times = []
            for _ in range(args.repeat):
                t = time.perf_counter()
                log.stats(last - timedelta(days=days - 1), last, 0.9)
                times.append((time.perf_counter() - t) * 1000)
            print(
                f"stats, {days} days (SQL GROUP BY): median {statistics.median(times):.0f} ms over {args.repeat} runs"
            )
        log.close()
        for suffix in ("parquet", "csv"):
            for way in ("stream", "list"):
                out = Path(tmp) / f"out.{suffix}"
                done = subprocess.run(
                    [sys.executable, "-c", EXPORT, str(db), str(out), first.isoformat(), last.isoformat(), way],
                    capture_output=True,
                    text=True,
                    cwd=ROOT,
                    check=True,
                )
                count, seconds, peak = done.stdout.split()
                label = "streamed (ours)" if way == "stream" else "all in a list first"
                print(
                    f"export {suffix:<8} {label:<20}: {int(count):,} rows in {float(seconds):.1f} s, "
                    f"peak RSS {float(peak):.0f} MiB, file {out.stat().st_size / 2**20:.0f} MiB"
                )


if __name__ == "__main__":
    main()

"""Our throughput as a share of the least a prediction over HTTP can cost here (benchmarks/peers/bare_raw.py),
both measured in the same run, interleaved: the figure that does not drift with the machine's hour.

    .venv/bin/python -m benchmarks.share [--reps 3] [--seconds 5]

Each repetition starts each server fresh (gunicorn, two uvicorn workers), warms it, and loads it with wrk:
MNIST's 28x28 PNG as the raw body, 16 clients, then 1 client. Medians over the repetitions; after the runs,
every upload ours answered 200 is looked for in its prediction log by counting its rows.
"""

from __future__ import annotations

import argparse
import sqlite3
import statistics
import sys
import tempfile
from pathlib import Path

from benchmarks import bench, load
from benchmarks.profile import raw_body_script
from ml import mnist
from scripts.servers import stop

BARE = "bare: Pillow, LiteRT, JSON (gunicorn, 2 uvicorn workers)"
LOG = "share.db"  # ours' prediction log, in the run's folder


def servers(tmp: Path) -> dict[str, tuple[list[str], dict[str, str], str]]:
    command, env, path = bench.servers(tmp)[bench.OURS]
    return {
        bench.OURS: (command, {**env, "PREDICTION_LOG": f"sqlite://{tmp / LOG}"}, path),
        BARE: (bench.gunicorn_peer("benchmarks.peers.bare_raw:app"), {}, "/"),
    }


def rows(log: Path) -> int:
    if not log.exists():
        return 0
    with sqlite3.connect(log) as db:
        return db.execute("SELECT COUNT(*) FROM predictions").fetchone()[0]


def measure(picture: bytes, reps: int, seconds: int, tmp: Path) -> tuple[dict[str, dict[str, list[load.Load]]], int]:
    """The loads of every server, and the rows our log gained during them (its warm-up's are not counted)."""
    script = raw_body_script(picture, "image/png")
    runs: dict[str, dict[str, list[load.Load]]] = {}
    logged = 0
    try:
        for rep in range(reps):
            for label, (command, env, path) in servers(tmp).items():
                proc, url = bench.serve_warm(command, env, path, picture, raw_type="image/png")
                before = rows(tmp / LOG)
                try:
                    for clients in (16, 1):
                        result = load.run_wrk(url, script, clients, seconds, proc.pid)
                        runs.setdefault(label, {}).setdefault(f"@{clients}", []).append(result)
                        print(f"  rep {rep + 1} {label} @{clients}: {result}", flush=True)
                finally:
                    stop(proc)
                logged += rows(tmp / LOG) - before if label == bench.OURS else 0
    finally:
        script.unlink()
    return runs, logged


def report(runs: dict[str, dict[str, list[load.Load]]], logged: int) -> list[str]:
    med = statistics.median
    ours, bare = runs[bench.OURS], runs[BARE]
    share = med([r.rps for r in ours["@16"]]) / med([r.rps for r in bare["@16"]])
    answered = sum(r.requests - r.non_2xx for r in ours["@16"] + ours["@1"])
    lines = ["| server | req/s @16 | p99 ms @16 | p50 ms @1 | CPU ms/req @16 |", "|---|---|---|---|---|"]
    for label, each in runs.items():
        lines.append(
            f"| {label} | {med([r.rps for r in each['@16']]):,.0f} | {med([r.p99_ms for r in each['@16']]):.1f} "
            f"| {med([r.p50_ms for r in each['@1']]):.2f} | {med([r.cpu_ms_per_request for r in each['@16']]):.2f} |"
        )
    lines += [
        "",
        f"- ours as a share of the bare app at 16 clients: {share:.2f}x (target 0.8x)",
        f"- every answered upload in the log: {logged:,} rows for {answered:,} answers 200 that wrk counted (it does"
        f" not count those in flight when it stops): {'met' if logged >= answered else 'MISSED'}",
    ]
    return lines


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--reps", type=int, default=3)
    parser.add_argument("--seconds", type=int, default=5)
    args = parser.parse_args(argv)
    picture = bench.images(mnist.load(mnist.DirectorySource(bench.ROOT / "data" / "mnist")))["28x28 PNG"]
    with tempfile.TemporaryDirectory() as tmp:
        runs, logged = measure(picture, args.reps, args.seconds, Path(tmp))
    for line in report(runs, logged):
        print(line)
    return 0


if __name__ == "__main__":
    sys.exit(main())

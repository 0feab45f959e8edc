"""`python -m service stats --engine spark` beside the built-in `python -m service stats`, on one real
Cassandra node holding N days of predictions.

Fills the days through the log's own writes (and corrections through ``set_label``), then times each way
as a person runs it, a fresh process each time, interleaved over the repetitions:

- built-in, first call: the rollups cleared before, so it counts every slot's rows (and keeps the rollups);
- built-in with the rollups kept (what a second call costs);
- Spark (local[2] by default): a driver JVM started, every row of those days read through the connector.

Wall time from process start to exit; peak memory of the command's own Python process (wait4's ru_maxrss)
and of the Spark driver JVM it starts (its RSS sampled from /proc every 20 ms). Checks that both ways print
the same per-day table. Prints Markdown for BENCHMARKS.md.

    .venv/bin/python -m benchmarks.spark_stats [--per-day 3000] [--days 30] [--repeat 3] [--master local[2]]
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np

from benchmarks.cassandra_log import record
from ml.labels import NOT_A_DIGIT
from scripts.cassandra_node import CassandraNode, classpath, cql_cluster, free_port
from service.predlog.base import created_at_of, new_prediction_id
from service.predlog.cassandra import STAMP_MARGIN, CassandraPredictionLog

ROOT = Path(__file__).resolve().parents[1]
KEYSPACE = "bench_spark"


@dataclass
class Run:
    seconds: float
    python_mib: float
    jvm_mib: float
    stdout: str


def _rss_mib(pid: int) -> float:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return 0.0


def _children(pid: int) -> list[int]:
    found = []
    for task in Path(f"/proc/{pid}/task").glob("*"):
        try:
            found += [int(c) for c in (task / "children").read_text().split()]
        except OSError:
            continue
    return found


def measure(command: list[str], env: dict) -> Run:
    """Run ``command``; its wall time, its own peak RSS, and the peak RSS of the processes it started."""
    out_file, err_file = tempfile.TemporaryFile("w+"), tempfile.TemporaryFile("w+")
    started = time.perf_counter()
    process = subprocess.Popen(command, env=env, cwd=ROOT, stdout=out_file, stderr=err_file)
    peak_children = 0.0
    done = threading.Event()

    def sample() -> None:
        nonlocal peak_children
        while not done.is_set():
            peak_children = max(peak_children, sum(_rss_mib(c) for c in _children(process.pid)))
            time.sleep(0.02)

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    _, status, usage = os.wait4(process.pid, 0)  # not Popen.wait: its rusage is what we want
    seconds = time.perf_counter() - started
    done.set()
    sampler.join()
    process.returncode = os.waitstatus_to_exitcode(status)
    out_file.seek(0)
    err_file.seek(0)
    out, err = out_file.read(), err_file.read()
    if process.returncode != 0:
        raise SystemExit(f"{' '.join(command)} failed ({process.returncode}):\n{err[-3000:]}")
    return Run(seconds, usage.ru_maxrss / 1024, peak_children, out)


def fill(log: CassandraPredictionLog, per_day: int, days: int, rng) -> tuple[int, int]:
    """``per_day`` answers a day at random times (refusals and three model versions among them), 2 % of them
    corrected; the originals left out (at the default INLINE_IMAGE_BYTES they live in the object store)."""
    now = datetime.now(UTC)
    written = corrected = 0
    for back in range(days):
        day_start = datetime.combine((now - timedelta(days=back)).date(), datetime.min.time(), tzinfo=UTC)
        span = (now - day_start).total_seconds() - 1 if back == 0 else 86_399
        batch = []
        for n in range(per_day):
            pid = new_prediction_id(day_start + timedelta(seconds=float(rng.uniform(0, span))))
            digit = int(rng.integers(11))
            batch.append(
                replace(
                    record(0, rng),
                    id=pid,
                    created_at=created_at_of(pid),
                    digit=digit,
                    model_version=f"v{n % 3}",
                    image=None,
                    image_key=f"originals/{pid}",
                )
            )
        for start in range(0, len(batch), 1000):
            log.write_many(batch[start : start + 1000])
        written += len(batch)
        for k, r in enumerate(batch[::50]):  # two in three confirmed, the others (and refusals) corrected
            log.set_label(r.id, r.digit if r.digit != NOT_A_DIGIT and k % 3 else int(rng.integers(10)), now)
            corrected += 1
        print(f"  {back + 1}/{days} days written", file=sys.stderr, flush=True)
    return written, corrected


def clear_rollups(node: CassandraNode, days: int) -> None:
    """Forget every slot's rollup, so the next built-in call counts the rows again."""
    cluster = cql_cluster([node.address], node.native_port, timeout=30)
    try:
        session = cluster.connect()
        today = datetime.now(UTC).date()
        for back in range(days):
            day = today - timedelta(days=back)
            for row in session.execute(f"SELECT slot FROM {KEYSPACE}.slots WHERE day = %s", (day,)):
                session.execute(f"DELETE rollup FROM {KEYSPACE}.slots WHERE day = %s AND slot = %s", (day, row.slot))
    finally:
        cluster.shutdown()


def table_of(stdout: str, days: int) -> list[str]:
    return stdout.splitlines()[: days + 2]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--per-day", type=int, default=3000)
    parser.add_argument("--days", type=int, default=30)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--master", default="local[2]")
    args = parser.parse_args(argv)
    rng = np.random.default_rng(0)
    with tempfile.TemporaryDirectory(prefix="spark-bench-") as tmp:
        node = CassandraNode(Path(tmp) / "node", native_port=free_port(), storage_port=free_port())
        node.start(classpath())
        node.wait_ready()
        env = {
            **os.environ,
            "PREDICTION_LOG": f"{node.url}/{KEYSPACE}",
            "CASSANDRA_LOCAL_DC": "datacenter1",
        }
        log = CassandraPredictionLog(env["PREDICTION_LOG"], None, None, "ONE")
        runs: dict[str, list[Run]] = {"builtin, first call": [], "builtin, rollups kept": [], "spark": []}
        try:
            log.apply_schema({"datacenter1": 1})
            started = time.perf_counter()
            written, corrected = fill(log, args.per_day, args.days, rng)
            print(f"filled {written:,} records in {time.perf_counter() - started:.0f} s", file=sys.stderr)
            base = [sys.executable, "-m", "service", "stats", "--days", str(args.days)]
            spark = [*base, "--engine", "spark", "--master", args.master]
            measure(spark, env)  # the connector's jars fetched, the OS's caches warm for every way alike
            for n in range(args.repeat):
                clear_rollups(node, args.days)
                # a count made within the stamp margin of a clearing is not kept: let the margin pass
                time.sleep(STAMP_MARGIN.total_seconds() + 1)
                runs["builtin, first call"].append(measure(base, env))
                runs["builtin, rollups kept"].append(measure(base, env))
                runs["spark"].append(measure(spark, env))
                print(f"  repetition {n + 1}/{args.repeat} done", file=sys.stderr, flush=True)
            node_mib = node.rss_mib()
        finally:
            log.close()
            node.stop()
    tables = {way: table_of(r[-1].stdout, args.days) for way, r in runs.items()}
    same = tables["spark"] == tables["builtin, first call"] == tables["builtin, rollups kept"]
    print(f"## Log analytics: Spark beside the built-in stats ({args.days} days, {written:,} predictions)")
    print()
    command = " ".join([".venv/bin/python -m benchmarks.spark_stats", *(argv or sys.argv[1:])])
    print(f"Command: `{command}`")
    print()
    print(
        f"One Cassandra 5.0 node (heap {node.heap}, RSS {node_mib:,.0f} MiB at the end), {args.per_day:,} predictions "
        f"a day at random times, {corrected:,} corrected. Each way is `python -m service stats --days {args.days}` "
        f"in a fresh process; medians of {args.repeat} interleaved repetitions."
    )
    print()
    print("| way | wall s | Python peak RSS MiB | driver JVM peak RSS MiB | together MiB |")
    print("|---|---|---|---|---|")
    for way, done in runs.items():
        seconds = statistics.median(r.seconds for r in done)
        python = statistics.median(r.python_mib for r in done)
        jvm = statistics.median(r.jvm_mib for r in done)
        label = f"Spark, `--engine spark --master {args.master}`" if way == "spark" else way
        print(f"| {label} | {seconds:.1f} | {python:,.0f} | {jvm:,.0f} | {python + jvm:,.0f} |")
    print()
    for way, done in runs.items():
        print(f"- {way}: wall {', '.join(f'{r.seconds:.1f}' for r in done)} s")
    print(f"- the same per-day table from every way: {same}")
    return 0 if same else 1


if __name__ == "__main__":
    sys.exit(main())

"""The Cassandra prediction log measured on a real node, beside SQLite in the same run.

- node start (process start -> a CQL query answers) and its RSS;
- log write latency (the predict function's own insert), median and p99, interleaved repetitions;
- HTTP req/s and p99 of the predict function (2 workers x 1 thread, as `make run`) at 1 and 16 wrk
  clients, with each log;
- /stats aggregation and a streamed Parquet export over N records on the node.

Prints Markdown for BENCHMARKS.md.

    .venv/bin/python -m benchmarks.cassandra_log [--records 200000] [--repeat 3] [--seconds 10]
"""

from __future__ import annotations

import argparse
import os
import re
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np

from scripts.cassandra_node import CassandraNode, apply_schema, classpath, free_port
from scripts.servers import function_server
from service.predlog import PredictionRecord, new_prediction_id
from service.predlog.base import created_at_of
from service.predlog.cassandra import CassandraPredictionLog
from service.predlog.sqlite import SqlitePredictionLog

ROOT = Path(__file__).resolve().parents[1]
IMAGE = (ROOT / "tests" / "fixtures" / "golden" / "3_canvas.png").read_bytes()
MODEL_STORE = ROOT / "tests" / "fixtures" / "modelstore"


def mnist_png() -> bytes:
    """MNIST's first test digit as a 28x28 PNG: the upload of BENCHMARKS.md's HTTP figures."""
    import io

    from PIL import Image

    from ml import mnist

    out = io.BytesIO()
    Image.fromarray(mnist.load(mnist.DirectorySource(ROOT / "data" / "mnist")).x_test[0]).save(out, "PNG")
    return out.getvalue()


def say(line: str = "") -> None:
    print(line, flush=True)


def record(days_back: int = 0, rng=None) -> PredictionRecord:
    pid = new_prediction_id(datetime.now(UTC) - timedelta(days=days_back) if days_back else None)
    rng = rng or np.random.default_rng()
    digit = int(rng.integers(10))
    return PredictionRecord(
        id=pid,
        created_at=created_at_of(pid),
        filename="d.png",
        content_type="image/png",
        digit=digit,
        confidence=float(rng.uniform(0.4, 1.0)),
        probabilities=[0.1] * 10,
        model_version="v",
        latency_ms=1.0,
        normalised=rng.integers(0, 256, 784, dtype=np.uint8).tobytes(),
        image=IMAGE,
        image_size=len(IMAGE),
    )


def percentiles(samples: list[float]) -> tuple[float, float]:
    ordered = sorted(samples)
    return statistics.median(ordered), ordered[max(0, int(len(ordered) * 0.99) - 1)]


def write_latency(logs: dict, count: int, repeat: int) -> None:
    say("### Log write latency (one record, the predict function's insert)")
    samples: dict[str, list[float]] = {name: [] for name in logs}
    for _ in range(repeat):  # interleaved: both logs see the same machine noise
        for name, log in logs.items():
            for _ in range(count):
                r = record()
                started = time.perf_counter()
                log.write(r)
                samples[name].append((time.perf_counter() - started) * 1000)
    for name, values in samples.items():
        median, p99 = percentiles(values)
        say(f"- {name}: median {median:.2f} ms, p99 {p99:.2f} ms ({len(values):,} writes)")
    say("")


def wrk_run(wrk: str, url: str, clients: int, seconds: int, script: Path) -> tuple[float, str]:
    out = subprocess.run(
        [wrk, "-t", str(min(clients, 2)), "-c", str(clients), "-d", f"{seconds}s", "--latency", "-s", str(script), url],
        capture_output=True,
        text=True,
    ).stdout
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))
    p99 = dict(re.findall(r"^\s+(99)%\s+([\d.]+\w+)", out, re.MULTILINE)).get("99", "?")
    errors = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    return rps, p99 + (f" ({errors.group(1)} non-2xx)" if errors else "")


def http(node: CassandraNode, tmp: Path, seconds: int, repeat: int) -> None:
    from benchmarks.bench import lua_body

    say("### HTTP: predict function, 2 workers x 1 thread, 28x28 PNG uploads, wrk on the same 2 cores")
    wrk = shutil.which("wrk")
    if wrk is None:
        say("- wrk is not installed (`apt-get install wrk`): skipped")
        return
    script, _ = lua_body(mnist_png())
    shutil.copytree(MODEL_STORE, tmp / "models", dirs_exist_ok=True)
    base = {"MODEL_STORE": f"file://{tmp / 'models'}", "WORKERS": "2", "THREADS": "1", "MODEL_REFRESH_SECONDS": "0"}
    logs = {
        "SQLite": {"PREDICTION_LOG": f"sqlite://{tmp / 'http.db'}"},
        "Cassandra (1 node, ONE)": {"PREDICTION_LOG": f"{node.url}/bench_http", "CASSANDRA_LOCAL_DC": "datacenter1"},
    }
    apply_schema(node, "bench_http")
    results: dict[tuple[str, int], list[tuple[float, str]]] = {}
    for _ in range(repeat):
        for name, env in logs.items():
            with function_server("predict", {**base, **env, "SPOOL_DIR": str(tmp / "spool")}, tmp) as url:
                wrk_run(wrk, url, 4, 2, script)  # warm-up: model loaded, statements prepared
                for clients in (1, 16):
                    results.setdefault((name, clients), []).append(wrk_run(wrk, url, clients, seconds, script))
    for (name, clients), runs in results.items():
        rps = statistics.median(r for r, _ in runs)
        say(
            f"- {name}, {clients:>2} clients: median {rps:,.0f} req/s (runs {', '.join(f'{r:,.0f}' for r, _ in runs)}); "
            f"p99 per run {', '.join(p for _, p in runs)}"
        )
    say("")


def fill(log: CassandraPredictionLog, count: int, days: int) -> float:
    """``count`` records over ``days`` days, written as the predict function writes them, 2,000 at a time."""
    rng = np.random.default_rng(0)
    log.apply_schema({"datacenter1": 1})
    started = time.perf_counter()
    batch = []
    for n in range(count):
        r = record(n % days, rng)
        batch.append(replace(r, model_version=f"v{n % 3}", image=None))
        if len(batch) == 2000:
            log.write_many(batch)
            batch = []
        if n and n % 50_000 == 0:
            print(f"  {n:,} records written", file=sys.stderr, flush=True)
    log.write_many(batch)
    return time.perf_counter() - started


def analytics(node: CassandraNode, records: int, days: int, repeat: int, tmp: Path) -> None:
    from service.export import export

    say(f"### /stats and export over {records:,} records ({days} day partitions) on the node")
    log = CassandraPredictionLog(f"{node.url}/bench_analytics", None, None, "ONE")
    seconds = fill(log, records, days)
    say(
        f"- filled in {seconds:.0f} s ({records / seconds:,.0f} records/s, 64 concurrent inserts); node RSS "
        f"{node.rss_mib():.0f} MiB after"
    )
    last = datetime.now(UTC).date()
    for span in (7, days):
        times = []
        for _ in range(repeat):
            started = time.perf_counter()
            log.stats(last - timedelta(days=span - 1), last, 0.9)
            times.append((time.perf_counter() - started) * 1000)
        say(f"- stats over {span} days: median {statistics.median(times):,.0f} ms ({repeat} runs)")
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    started = time.perf_counter()
    count = export(log.export(last - timedelta(days=days - 1), last), tmp / "export.parquet")
    say(
        f"- streamed Parquet export: {count:,} rows in {time.perf_counter() - started:.1f} s "
        f"(peak RSS of this process {before:.0f} -> {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:.0f} MiB)"
    )
    log.close()
    say("")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--records", type=int, default=200_000)
    parser.add_argument("--days", type=int, default=30)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--seconds", type=int, default=10, help="length of each wrk run")
    parser.add_argument("--writes", type=int, default=1000, help="log writes per backend per repetition")
    args = parser.parse_args(argv)
    say(f"## Cassandra prediction log, beside SQLite ({time.strftime('%Y-%m-%d')}, {os.cpu_count()} cores)")
    say("")
    command = " ".join([".venv/bin/python -m benchmarks.cassandra_log", *(argv or sys.argv[1:])])
    say(f"Command: `{command}`")
    say("")
    with tempfile.TemporaryDirectory(prefix="cassandra-bench-") as tmp_name:
        tmp = Path(tmp_name)
        cp = classpath()
        starts, rss = [], []
        for n in range(args.repeat):  # node start: fresh directory each time
            node = CassandraNode(tmp / f"start{n}", native_port=free_port(), storage_port=free_port())
            node.start(cp)
            starts.append(node.wait_ready() + 0.0)
            rss.append(node.rss_mib())
            node.stop()
        say("### Node")
        say(
            f"- start to the first CQL answer (fresh data directory, 512 MiB heap): median {statistics.median(starts):.1f} s "
            f"(runs {', '.join(f'{s:.1f}' for s in starts)}); RSS when ready: median {statistics.median(rss):.0f} MiB"
        )
        say("")
        node = CassandraNode(tmp / "node", native_port=free_port(), storage_port=free_port())
        node.start(cp)
        node.wait_ready()
        try:
            sqlite = SqlitePredictionLog(tmp / "writes.db")
            sqlite.ensure_schema()
            cassandra = CassandraPredictionLog(f"{node.url}/bench_writes", None, None, "ONE")
            cassandra.apply_schema({"datacenter1": 1})
            write_latency(
                {"SQLite (WAL)": sqlite, "Cassandra, 1 node (batch commit log)": cassandra}, args.writes, args.repeat
            )
            cassandra.close()
            http(node, tmp, args.seconds, args.repeat)
            analytics(node, args.records, args.days, args.repeat, tmp)
        finally:
            node.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())

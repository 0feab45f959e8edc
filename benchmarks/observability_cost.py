"""What metrics and structured logs cost in HTTP throughput.

The predict function as `make run` starts it (2 workers x 1 thread, SQLite log, 28x28 MNIST PNG uploads),
wrk with 16 clients on the same 2 cores, interleaved repetitions of:
  - on:  METRICS=on,  LOG_FORMAT=json, LOG_LEVEL=INFO (an access line per request: the default)
  - off: METRICS=off, LOG_LEVEL=WARNING (no metrics, no access lines)
Prints the median req/s of each and the cost (target: under 5 %).

    .venv/bin/python -m benchmarks.observability_cost [--repeat 3] [--seconds 10]
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import sys
import tempfile
from pathlib import Path

from benchmarks.bench import lua_body
from benchmarks.cassandra_log import mnist_png, wrk_run
from scripts.servers import function_server

ROOT = Path(__file__).resolve().parents[1]
MODES = {
    "on (metrics + JSON access lines)": {"METRICS": "on", "LOG_FORMAT": "json", "LOG_LEVEL": "INFO"},
    "off (neither)": {"METRICS": "off", "LOG_LEVEL": "WARNING"},
}


def in_process(repeat: int = 5, count: int = 5000) -> None:
    """The added work alone, per request: telemetry record, Prometheus updates, the JSON access line."""
    import logging
    import os
    import time

    from service import applog, monitoring, telemetry

    applog.configure("json", "INFO")
    logging.getLogger().handlers[0].stream = open(os.devnull, "w")

    def request():
        t = telemetry.RequestTelemetry("predict", telemetry.request_id_from(""), "POST", "/", 600)
        t.route = "/"
        for stage in ("preprocess", "inference", "log_write"):
            with t.stage(stage):
                pass
        t.prediction_ids.append("6b0c1a2e-cf3b-11f1-9a2b-02fc00000001")
        t.predictions.append((7, 0.99))
        t.model_version = "v1"
        t.finish(200, 400)
        return t

    def parts(observe: bool, access: bool) -> None:
        t = request()
        if observe:
            monitoring.observe(t, 0.9)
        if access:
            applog.access(t.access_fields())

    print(f"\nIn process, the added work per request (median of {repeat} x {count:,}):")
    for label, observe, access in (
        ("telemetry record alone", False, False),
        ("+ Prometheus updates", True, False),
        ("+ JSON access line", False, True),
        ("all of it", True, True),
    ):
        times = []
        for _ in range(repeat):
            started = time.perf_counter()
            for _ in range(count):
                parts(observe, access)
            times.append((time.perf_counter() - started) / count * 1e6)
        print(f"- {label}: {statistics.median(times):.0f} µs")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--seconds", type=int, default=10)
    parser.add_argument("--clients", type=int, default=16)
    parser.add_argument("--in-process", action="store_true", help="only the per-request cost of the added work")
    args = parser.parse_args(argv)
    if args.in_process:
        in_process()
        return 0
    wrk = shutil.which("wrk")
    if wrk is None:
        print("wrk is not installed (apt-get install wrk)", file=sys.stderr)
        return 1
    script, _ = lua_body(mnist_png())
    runs: dict[str, list[float]] = {name: [] for name in MODES}
    with tempfile.TemporaryDirectory(prefix="obs-cost-") as tmp_name:
        tmp = Path(tmp_name)
        shutil.copytree(ROOT / "tests" / "fixtures" / "modelstore", tmp / "models")
        for n in range(args.repeat):
            for name, env in MODES.items():
                base = {
                    "MODEL_STORE": f"file://{tmp / 'models'}",
                    "PREDICTION_LOG": f"sqlite://{tmp / f'{n}.db'}",
                    "WORKERS": "2",
                    "THREADS": "1",
                    "MODEL_REFRESH_SECONDS": "0",
                    "SPOOL_DIR": str(tmp / "spool"),
                }
                with function_server("predict", {**base, **env}, tmp) as url:
                    wrk_run(wrk, url, 4, 2, script)  # warm-up
                    rps, p99 = wrk_run(wrk, url, args.clients, args.seconds, script)
                runs[name].append(rps)
                print(f"  {name}: {rps:,.0f} req/s, p99 {p99}", file=sys.stderr, flush=True)
    print(
        f"## Metrics and structured logs: HTTP cost ({args.clients} clients, {args.seconds} s runs, "
        f"{args.repeat} interleaved repetitions)\n"
    )
    print("Command: `.venv/bin/python -m benchmarks.observability_cost`\n")
    medians = {name: statistics.median(values) for name, values in runs.items()}
    for name, values in runs.items():
        print(f"- {name}: median {medians[name]:,.0f} req/s (runs {', '.join(f'{v:,.0f}' for v in values)})")
    on, off = medians[list(MODES)[0]], medians[list(MODES)[1]]
    print(f"- cost of metrics + JSON access lines: {(off - on) / off * 100:.1f} % of throughput")
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""The predict function's cold start as AWS's Runtime Interface Emulator reports it (`make lambda`'s runtime:
awslambdaric on Python 3.12, the built layer alone): a fresh execution environment per run invoked with the
recorded event tests/events/predict_multipart.json; RIE's ``INIT REPORT`` (the runtime and the handler module
loaded) and the first invocation's ``REPORT`` Duration, and the client's time from the emulator's start to the
answer. Medians of ``--runs``.

    .venv/bin/python -m benchmarks.lambda_rie [--runs 7]
"""

from __future__ import annotations

import argparse
import json
import re
import statistics
import sys
import tempfile
import time
from pathlib import Path

import requests

from scripts.function_url import INVOKE_PATH
from scripts.lambda_local import Runtime, build_layer, ensure_runtime, local_environment
from tests.conftest import MODEL_STORE

ROOT = Path(__file__).resolve().parents[1]
EVENT = json.loads((ROOT / "tests" / "events" / "predict_multipart.json").read_text())


def one_cold_start(python: Path, data: Path, n: int) -> tuple[float, float, float]:
    env = {
        **local_environment("predict", data),
        "MODEL_STORE": f"file://{MODEL_STORE}",
        "PREDICTION_LOG": f"sqlite://{data / 'p.db'}",
    }
    runtime = Runtime("predict", python, env, data / f"predict-{n}.log")
    started = time.perf_counter()
    runtime.start()
    try:
        answer = requests.post(runtime.url + INVOKE_PATH, json=EVENT, timeout=120).json()
        client = time.perf_counter() - started
        assert answer["statusCode"] == 200, answer
    finally:
        runtime.stop()
    log = runtime.log.read_text()
    init = float(re.search(r"INIT REPORT\(durationMs: ([\d.]+)\)", log)[1])  # type: ignore[index]
    duration = float(re.search(r"REPORT RequestId: \S+\tInit Duration: [\d.]+ ms\tDuration: ([\d.]+) ms", log)[1])  # type: ignore[index]
    return init, duration, client * 1000


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=7)
    args = parser.parse_args(argv)
    build_layer()
    python = ensure_runtime("predict")
    results = []
    with tempfile.TemporaryDirectory(prefix="lambda-rie-") as tmp:
        for n in range(args.runs):
            results.append(one_cold_start(python, Path(tmp), n))
            print(f"run {n + 1}/{args.runs}: INIT {results[-1][0]:.0f} ms, first invocation {results[-1][1]:.0f} ms, "
                  f"client {results[-1][2]:.0f} ms", file=sys.stderr)  # fmt: skip
    init, duration, client = (statistics.median(column) for column in zip(*results, strict=True))
    print("| RIE INIT REPORT | first invocation (REPORT Duration) | emulator start to answer, at the client |")
    print(f"| --- | --- | --- |\n| {init:.0f} ms | {duration:.0f} ms | {client:.0f} ms |")
    return 0


if __name__ == "__main__":
    sys.exit(main())

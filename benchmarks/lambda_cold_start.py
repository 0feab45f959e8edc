"""The predict function's Lambda cold start from the built layer alone: a fresh `python -S` with only the
layer on its path loads functions/predict/main.py and answers the recorded function-URL event
tests/events/predict_multipart.json (a 28x28-canvas-sized PNG upload); timed from process start to the
answer, the median of 7. The layer is built for this machine's Python (the Lambda runtime is 3.12).

    .venv/bin/python benchmarks/lambda_cold_start.py
"""

from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
HANDLER = """
import importlib.util, json, sys
spec = importlib.util.spec_from_file_location("main", sys.argv[1])
main = importlib.util.module_from_spec(spec)
spec.loader.exec_module(main)
answer = main.lambda_handler(json.load(open(sys.argv[2])), None)
assert answer["statusCode"] == 200, answer
print(json.loads(answer["body"])["digit"])
"""


def measure(runs: int = 7) -> list[float]:
    """Milliseconds from process start to the answer, one per run."""
    version = f"{sys.version_info.major}.{sys.version_info.minor}"
    with tempfile.TemporaryDirectory() as tmp:
        subprocess.run(
            [sys.executable, "layers/build.py", "--out", tmp, "--python", version],
            cwd=ROOT,
            check=True,
            capture_output=True,
        )
        env = {
            "PATH": os.environ["PATH"],
            "AWS_LAMBDA_FUNCTION_NAME": "predict",  # every Lambda runtime sets it
            "PYTHONPATH": str(Path(tmp) / "layer" / "python"),
            "MODEL_STORE": f"file://{ROOT / 'tests' / 'fixtures' / 'modelstore'}",
            "PREDICTION_LOG": f"sqlite://{Path(tmp) / 'p.db'}",
            "SPOOL_DIR": str(Path(tmp) / "spool"),
        }
        base = Path(getattr(sys, "_base_executable", sys.executable))
        command = [
            str(base),
            "-S",
            "-c",
            HANDLER,
            str(ROOT / "functions" / "predict" / "main.py"),
            str(ROOT / "tests" / "events" / "predict_multipart.json"),
        ]
        samples = []
        for _ in range(runs):
            started = time.perf_counter()
            # cwd: a directory without our packages, or `python -c` would import them from the checkout
            # (first on sys.path) instead of the layer, compiling them where no bytecode was written
            done = subprocess.run(command, env=env, cwd=tmp, capture_output=True, text=True, check=True)
            samples.append((time.perf_counter() - started) * 1000)
            assert done.stdout.strip().splitlines()[-1] == "7", done.stdout
    return samples


def main() -> None:
    samples = measure()
    print(
        json.dumps(
            {
                "median_ms": round(statistics.median(samples)),
                "min_ms": round(min(samples)),
                "max_ms": round(max(samples)),
                "runs": len(samples),
            }
        )
    )


if __name__ == "__main__":
    main()

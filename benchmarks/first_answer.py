"""How long a new user waits: from `make run`, then `make stack`, on a fresh clone to the first curl answered.

Each run clones this repository's HEAD into a new directory and, as README says, types `make run` (installs,
MNIST, the shipped model published, both functions) and sends the golden 3 until it is answered; then Ctrl-C
and `make stack` (its own installs, SeaweedFS, a Cassandra node, both functions) until the same upload is
answered there; then Ctrl-C. The pip cache is the machine's own (warm once anything was installed here), or
an empty one with ``--cold``; npm's and Maven's caches are the machine's own.

    .venv/bin/python -m benchmarks.first_answer [--runs 3] [--cold] [--only run|stack]
"""

from __future__ import annotations

import argparse
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import requests

from scripts.cassandra_node import free_port

ROOT = Path(__file__).resolve().parents[1]
GOLDEN = ROOT / "tests" / "fixtures" / "golden" / "3_canvas.png"
PORTS = {
    "run": ("PREDICT_PORT", "TRAIN_PORT"),
    "stack": ("PREDICT_PORT", "TRAIN_PORT", "S3_PORT", "CASSANDRA_PORT", "CASSANDRA_STORAGE_PORT"),
}
LIMIT_S = 1800


def _hears_ctrl_c() -> None:
    """As at a prompt: a shell ignores SIGINT in its background jobs, and a shell script cannot trap a
    signal ignored when it started, so a benchmark started with ``&`` would send Ctrl-C to no one."""
    signal.signal(signal.SIGINT, signal.SIG_DFL)


def _answered(url: str) -> bool:
    try:
        answer = requests.post(url, files={"file": ("3.png", GOLDEN.read_bytes())}, timeout=10)
        return answer.status_code == 200 and answer.json().get("digit") == 3
    except (requests.RequestException, ValueError):
        return False


def first_answer(checkout: Path, target: str, env: dict[str, str], log: Path) -> float:
    """Seconds from typing ``make <target>`` to the first upload it answers; then one Ctrl-C stops it."""
    ports = {name: str(free_port()) for name in PORTS[target]}
    url = f"http://127.0.0.1:{ports['PREDICT_PORT']}"
    started = time.monotonic()
    with open(log, "ab") as out:
        proc = subprocess.Popen(
            ["make", target], cwd=checkout, env={**env, **ports}, stdout=out, stderr=subprocess.STDOUT,
            start_new_session=True, preexec_fn=_hears_ctrl_c,
        )  # fmt: skip
    try:
        while not _answered(url):
            if proc.poll() is not None or time.monotonic() - started > LIMIT_S:
                raise RuntimeError(f"make {target} ended or stalled before answering: see {log}")
            time.sleep(0.25)
        return time.monotonic() - started
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGINT)
            try:
                proc.wait(180)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)


def one_run(n: int, work: Path, targets: list[str], cold: bool) -> dict[str, float]:
    checkout = work / f"clone-{n}"
    subprocess.run(["git", "clone", "-q", str(ROOT), str(checkout)], check=True)
    env = {k: v for k, v in os.environ.items() if not k.startswith(("MAKE", "VIRTUAL_ENV"))}
    if cold:
        env["PIP_CACHE_DIR"] = str(work / f"pip-cache-{n}")  # empty: every wheel comes from PyPI
    took = {}
    for target in targets:
        took[target] = first_answer(checkout, target, env, work / f"make-{target}-{n}.log")
        print(f"  run {n}: make {target} answered after {took[target]:.1f} s", file=sys.stderr, flush=True)
    return took


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--cold", action="store_true", help="an empty pip cache for every run")
    parser.add_argument("--only", choices=sorted(PORTS), help="time this target only")
    args = parser.parse_args(argv)
    targets = [args.only] if args.only else ["run", "stack"]
    cache = "empty pip cache" if args.cold else "warm pip cache"
    results: list[dict[str, float]] = []
    with tempfile.TemporaryDirectory(prefix="first-answer-") as tmp:
        try:
            for n in range(1, args.runs + 1):
                print(
                    f"run {n}/{args.runs}: a fresh clone, {cache}: make {' then make '.join(targets)}", file=sys.stderr
                )
                results.append(one_run(n, Path(tmp), targets, args.cold))
        except KeyboardInterrupt:
            print("interrupted: the clones are removed", file=sys.stderr)
            return 130
    print(f"\n| fresh clone, {cache} | runs | median s | each run, s |\n| --- | --- | --- | --- |")
    for target in targets:
        each = [r[target] for r in results]
        print(f"| `make {target}` to the first answer | {len(each)} | {statistics.median(each):.0f} | "
              f"{', '.join(f'{s:.0f}' for s in each)} |")  # fmt: skip
    return 0


if __name__ == "__main__":
    sys.exit(main())

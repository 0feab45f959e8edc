"""What TRAIN_SECONDS_PER_EPOCH and TRAIN_SECONDS_FIXED should be where this runs: one real training
(`python -m service train`, two epochs of one member over all of MNIST by default, into a temporary store),
its steps timed from its own progress lines. Run it where the train function runs (or on a machine of the
same cores) and put the two figures in the template's parameters.

    .venv/bin/python -m benchmarks.training_time [--epochs 2]
"""

from __future__ import annotations

import argparse
import os
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
DONE = re.compile(r"^training (\d+) models? x (\d+) epochs: done in (?:(\d+) min )?(\d+) s$")


def seconds(minutes: str | None, rest: str) -> int:
    return int(minutes or 0) * 60 + int(rest)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=2)
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="training-time-") as tmp:
        env = {**os.environ, "MODEL_STORE": f"file://{tmp}/store", "TRAIN_LOCK_FILE": f"{tmp}/train.lock"}
        command = [
            sys.executable,
            "-m",
            "service",
            "train",
            "--epochs",
            str(args.epochs),
            "--members",
            "1",
            "--no-fail",
        ]
        started = time.monotonic()
        done = subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True)
        total = time.monotonic() - started
    if done.returncode != 0:
        print(done.stderr[-3000:], file=sys.stderr)
        return 1
    found = next(filter(None, (DONE.match(line) for line in (done.stdout + done.stderr).splitlines())), None)
    if found is None:
        print("the training did not say how long it trained", file=sys.stderr)
        return 1
    members, epochs, fitting = int(found[1]), int(found[2]), seconds(found[3], found[4])
    per_epoch = fitting / (members * epochs)
    print(f"TRAIN_SECONDS_PER_EPOCH={per_epoch:.0f}  TRAIN_SECONDS_FIXED={total - fitting:.0f}  "
          f"(a training of {members} x {epochs} took {total:.0f} s, {fitting} s of it fitting)")  # fmt: skip
    return 0


if __name__ == "__main__":
    sys.exit(main())

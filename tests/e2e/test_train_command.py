"""`python -m service train` as a person runs it in a terminal's place: it says what it does from its first
second, and one Ctrl-C (SIGINT to its whole process group, as a terminal sends it) stops it with one line and
exit 130, wherever it is, leaving no process behind and nothing in the model store."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

import pytest

from tests.conftest import ROOT
from tests.fixtures.processes import children

pytestmark = pytest.mark.training
TRAINING = ["train", "--subset", "3000", "--epochs", "50", "--members", "1", "--negatives", "4000"]


def _start(tmp_path) -> tuple[subprocess.Popen, dict]:
    env = {
        **os.environ,
        "MODEL_STORE": f"file://{tmp_path / 'models'}",
        "TRAIN_LOCK_FILE": str(tmp_path / "train.lock"),
        "PREDICTION_LOG": f"sqlite://{tmp_path / 'p.db'}",
    }
    env.pop("MAKELEVEL", None)  # as typed at a prompt, not a recipe of `make test`
    command = [sys.executable, "-m", "service", *TRAINING]
    proc = subprocess.Popen(
        command, cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, start_new_session=True
    )
    return proc, env


@pytest.mark.parametrize("during", ["drawing uploads", "training 1 model"])
def test_one_ctrl_c_stops_training_with_one_line_and_130(tmp_path, during):
    proc, _ = _start(tmp_path)
    said: list[str] = []
    started = time.monotonic()
    assert proc.stderr is not None and proc.stdout is not None
    os.set_blocking(proc.stderr.fileno(), False)
    os.set_blocking(proc.stdout.fileno(), False)
    while not any(line.startswith(during) for line in said):
        assert proc.poll() is None and time.monotonic() - started < 240, said
        for stream in (proc.stdout, proc.stderr):
            said += [line.rstrip("\n") for line in stream.readlines()]
        time.sleep(0.05)
    workers = children(proc.pid)
    os.killpg(proc.pid, signal.SIGINT)
    out, err = proc.communicate(timeout=120)
    assert proc.returncode == 130, err
    tail = err.strip().splitlines()
    assert tail[-1] == "interrupted: train stopped", err
    assert "Traceback" not in err + out and "KeyboardInterrupt" not in err + out
    assert not [pid for pid in workers if os.path.exists(f"/proc/{pid}")]  # the drawing processes went with it
    assert not list((tmp_path / "models").glob("models/*/metadata.json"))  # nothing published
    assert said[0].startswith("training cnn into file://")  # said before the first long step began

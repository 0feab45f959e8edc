"""`make run` as README gives it: both functions answer, then one Ctrl-C (SIGINT to the terminal's whole process
group) stops everything with one line: no warning per worker, no make error, nothing left running."""

from __future__ import annotations

import os
import signal
import subprocess
import time

import requests

from scripts.cassandra_node import free_port
from tests.conftest import GOLDEN, ROOT


def test_make_run_answers_then_one_ctrl_c_stops_it_with_one_line(tmp_path):
    ports = {"PREDICT_PORT": str(free_port()), "TRAIN_PORT": str(free_port())}
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith("MAKE")},
        **ports,
        "MODEL_STORE": f"file://{tmp_path / 'models'}",  # empty: a first run publishes the shipped model
        "PREDICTION_LOG": f"sqlite://{tmp_path / 'p.db'}",
        "SPOOL_DIR": str(tmp_path / "spool"),
        "TRAIN_TOKEN": "make-run-test",
    }
    log = tmp_path / "make-run.log"
    with open(log, "wb") as out:
        proc = subprocess.Popen(
            ["make", "run"],
            cwd=ROOT,
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
            # as typed at a prompt: a test worker may have SIGINT ignored, which a shell script cannot trap
            preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),
        )
    try:
        deadline = time.monotonic() + 120
        while "Ctrl-C stops both" not in log.read_text() and time.monotonic() < deadline:
            assert proc.poll() is None, log.read_text()
            time.sleep(0.2)
        predict = f"http://127.0.0.1:{ports['PREDICT_PORT']}"
        answer = requests.post(predict, files={"file": ("3.png", (GOLDEN / "3_canvas.png").read_bytes())}, timeout=30)
        assert answer.status_code == 200 and answer.json()["digit"] == 3
        assert "published the starter model this repository ships" in log.read_text()
        os.killpg(proc.pid, signal.SIGINT)
        proc.wait(60)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
    said = log.read_text()
    assert proc.returncode in (-signal.SIGINT, 130), said  # make ends as Ctrl-C ended it: a shell shows 130
    after = said.split("Ctrl-C stops both.")[1]
    assert "stopped both functions" in after and "make: ***" not in after, after
    assert "was sent SIGINT" not in after and "Traceback" not in after, after
    for port in ports.values():
        try:
            requests.get(f"http://127.0.0.1:{port}/healthz", timeout=2)
            raise AssertionError(f"something still answers on {port}")
        except requests.ConnectionError:
            pass

"""`make stack` as a person runs it: everything up, one upload, one Ctrl-C, nothing left running."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time

import requests
import yaml

from scripts.cassandra_node import free_port
from scripts.stack import COMPOSE, compose_app_env, stack_env
from tests.conftest import GOLDEN, ROOT


def listening(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=1):
            return True
    except OSError:
        return False


def test_the_stack_has_exactly_the_compose_files_variables(tmp_path):
    compose = yaml.safe_load(COMPOSE.read_text())
    s3 = {"AWS_ENDPOINT_URL_S3": "http://127.0.0.1:1", "AWS_ACCESS_KEY_ID": "k", "AWS_SECRET_ACCESS_KEY": "s"}
    env = stack_env(s3, 9042, tmp_path, "token")
    assert set(env) - {"TRAIN_TOKEN"} == set(compose["x-app-env"])
    assert compose_app_env({})["AWS_ACCESS_KEY_ID"] == "digits"  # ${MINIO_ROOT_USER:-digits}, as compose reads it
    assert compose_app_env({"MINIO_ROOT_USER": "me"})["AWS_ACCESS_KEY_ID"] == "me"


def test_make_stack_serves_then_one_ctrl_c_stops_everything(cassandra_node, tmp_path):
    ports = {
        name: free_port()
        for name in ("PREDICT_PORT", "TRAIN_PORT", "S3_PORT", "CASSANDRA_PORT", "CASSANDRA_STORAGE_PORT")
    }
    env = {**os.environ, **{k: str(v) for k, v in ports.items()}, "TRAIN_TOKEN": "stack-test"}
    log = tmp_path / "stack.log"
    with open(log, "wb") as out:
        proc = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "scripts.stack",
                "--state",
                str(tmp_path / "state"),
            ],
            cwd=ROOT,
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    try:
        deadline = time.monotonic() + 180
        while "stack ready" not in log.read_text() and time.monotonic() < deadline:
            assert proc.poll() is None, log.read_text()
            time.sleep(0.5)
        assert "stack ready" in log.read_text(), log.read_text()
        # an empty store gets the shipped model, as `make run` does, instead of a training of minutes
        assert "yet: published" in log.read_text() and "training" not in log.read_text()
        assert f"127.0.0.1:{ports['S3_PORT']}" in log.read_text()  # every port it took is said
        predict = f"http://127.0.0.1:{ports['PREDICT_PORT']}"
        health = requests.get(predict + "/healthz", timeout=10).json()
        assert health["status"] == "ok"
        assert health["prediction_log"]["url"].startswith("cassandra://") and health["prediction_log"]["reachable"]
        assert health["model_store"]["url"] == "s3://digits/" and health["model_store"]["reachable"]
        answer = requests.post(predict, files={"file": ("3.png", (GOLDEN / "3_canvas.png").read_bytes())}, timeout=30)
        assert answer.status_code == 200 and answer.json()["digit"] == 3
        # the rows, read as the ready message says, without Docker: the upload just answered is the newest
        tail = next(line for line in log.read_text().splitlines() if "log tail" in line).split()
        tail_env = dict(word.split("=", 1) for word in tail[:2])
        rows = subprocess.run(
            [sys.executable, "-m", "service", "log", "tail", "-n", "1"],
            env={**os.environ, **tail_env},
            cwd=ROOT,
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert rows.returncode == 0 and answer.json()["id"] in rows.stdout, rows.stdout + rows.stderr
        train = requests.post(f"http://127.0.0.1:{ports['TRAIN_PORT']}/", timeout=10)
        assert train.status_code == 401  # the compose token rule holds: no token, no training
        os.killpg(proc.pid, signal.SIGINT)  # what Ctrl-C in the terminal sends to the foreground group
        assert proc.wait(180) == 0, log.read_text()  # Cassandra drains; slow while a training test shares the cores
        assert "stopping the stack" in log.read_text()
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
    assert not any(listening(port) for port in ports.values()), log.read_text()
    leftovers = subprocess.run(["pgrep", "-f", str(tmp_path / "state")], capture_output=True, text=True).stdout
    assert leftovers == "", f"still running: {leftovers}"

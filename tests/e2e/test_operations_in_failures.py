"""Health and metrics are for the bad moments: they must answer, whole, while things are failing (no model yet,
the log down, workers replaced), on real servers."""

from __future__ import annotations

import json
import os
import signal
import time
from pathlib import Path

import pytest
import requests

from scripts.servers import function_server
from service.predlog.spool import QUARANTINE, encode
from tests.conftest import SHIPPED_VERSION
from tests.e2e.test_observability import sample
from tests.fixtures.processes import server_processes, wait_for_new_workers
from tests.fixtures.publish import promote_a_copy
from tests.fixtures.records import record
from tests.fixtures.sqlite_log import Outage


def test_with_no_model_and_the_log_down_health_reports_every_part_and_metrics_answer(tmp_path):
    """No model promoted yet, the log locked by another writer, three records spooled by a dead process, one line
    quarantined: /healthz says all of it (503: nothing can be served), /metrics answers 200 with each as a gauge."""
    (tmp_path / "empty").mkdir()
    spool = tmp_path / "spool"
    spool.mkdir()
    (spool / "spool-999999999-0.jsonl").write_bytes(b"".join(encode(record()) for _ in range(3)))
    (spool / QUARANTINE).write_text(json.dumps({"reason": "checksum mismatch", "at": "", "line": "torn"}) + "\n")
    env = {
        "MODEL_STORE": f"file://{tmp_path / 'empty'}",
        "PREDICTION_LOG": f"sqlite://{tmp_path / 'predictions.db'}",
        "SPOOL_DIR": str(spool),
        "MODEL_REFRESH_SECONDS": "0",
    }
    with Outage(tmp_path / "predictions.db"), function_server("predict", env, tmp_path) as url:
        health = requests.get(url + "/healthz", timeout=30)
        assert health.status_code == 503, health.text
        body = health.json()
        assert body["status"] == "degraded" and body["model_version"] is None
        assert "has no promoted model" in body["model_error"]
        assert body["model_store"] == {"url": env["MODEL_STORE"], "reachable": True}
        log = body["prediction_log"]
        assert (log["reachable"], log["spooled"], log["quarantined"]) == (False, 3, 1) and log["error"], log
        metrics = requests.get(url + "/metrics", timeout=30)
        assert metrics.status_code == 200, metrics.text
        assert sample(metrics.text, "digits_model_loaded") == 0
        assert sample(metrics.text, "digits_spool_records") == 3
        assert sample(metrics.text, "digits_prediction_log_up") == 0
        assert sample(metrics.text, "digits_model_store_up") == 1


@pytest.mark.parametrize("runtime", ["serve.sh", "functions-framework"])
def test_a_replaced_worker_leaves_one_model_version_serving(tmp_path, predict_env, model_store, runtime):
    """A new model is promoted, then both workers are killed (SIGKILL) and replaced; the new ones load the new
    model. The dead workers' gauges must not keep the old version at 1 beside it (scripts/serve.sh: its master
    drops them at once; functions-framework's master is not ours: the next scrape does)."""
    env = {**predict_env, "WORKERS": "2", "THREADS": "1"}
    with function_server("predict", env, tmp_path, runtime=runtime) as url:
        assert sample(requests.get(url + "/metrics", timeout=30).text, "digits_model_serving", version=SHIPPED_VERSION)
        new = promote_a_copy(model_store)
        _, workers = server_processes(url)
        for pid in workers:
            os.kill(pid, signal.SIGKILL)
        wait_for_new_workers(url, workers, 2)
        assert requests.get(url + "/healthz", timeout=30).json()["model_version"] == new
        serving = _serving(url)
        deadline = time.monotonic() + 30
        while not serving and time.monotonic() < deadline:  # a worker that /healthz did not reach loads lazily
            time.sleep(0.2)
            serving = _serving(url)
        assert {version for version, value in serving.items() if value == 1} == {new}, serving


def _serving(url: str) -> dict[str, float]:
    """The digits_model_serving gauge, per version, as one scrape shows it."""
    text = requests.get(url + "/metrics", timeout=30).text
    return {
        line.split('"')[1]: float(line.rsplit(" ", 1)[1])
        for line in text.splitlines()
        if line.startswith("digits_model_serving{")
    }


def _requests_counted(url: str) -> float:
    text = requests.get(url + "/metrics", timeout=30).text
    return sample(text, "digits_requests_total", function="train", route="other", method="GET", status="404")


def _running(pid: int) -> bool:
    try:  # an exited child of this test stays a zombie (state Z) until function_server reaps it
        return Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()[0] != "Z"
    except FileNotFoundError:
        return False


def _wait_gone(pid: int, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while _running(pid) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not _running(pid), f"{pid} is still running"


@pytest.mark.parametrize("stop", [signal.SIGTERM, signal.SIGINT], ids=["SIGTERM", "SIGINT"])
def test_the_train_functions_workers_share_one_view_and_leave_no_directory(tmp_path, stop):
    """Under functions-framework (its master loads the function, then forks two workers): requests counted by
    workers that are then killed and replaced still count, whichever worker is scraped; a clean stop removes
    the metrics directory the server made, dead workers' files included. A directory the operator gave is used
    as it is and kept."""
    scratch = tmp_path / "tmp"
    scratch.mkdir()
    env = {"MODEL_STORE": f"file://{tmp_path / 'models'}", "WORKERS": "2", "THREADS": "1", "TMPDIR": str(scratch)}
    with function_server("train", env, tmp_path, runtime="functions-framework") as url:
        for _ in range(6):
            assert requests.get(url + "/nowhere", timeout=30).status_code == 404
        master, workers = server_processes(url)
        for pid in workers:
            os.kill(pid, signal.SIGKILL)
        wait_for_new_workers(url, workers, 2)
        assert [_requests_counted(url) for _ in range(4)] == [6] * 4
        os.killpg(master, stop)
        _wait_gone(master)
    assert not list(scratch.glob("digits-metrics-*"))

    given = tmp_path / "operators-metrics"
    given.mkdir()
    with function_server("train", {**env, "PROMETHEUS_MULTIPROC_DIR": str(given)}, tmp_path) as url:
        requests.get(url + "/nowhere", timeout=30)
        assert _requests_counted(url) == 1
    assert list(given.glob("*.db")) and not list(scratch.glob("digits-metrics-*"))

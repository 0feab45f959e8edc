"""The train function over HTTP: auth, validation, one run at a time, publish + promote."""

from __future__ import annotations

import os
import threading
import time

import requests

from scripts.servers import function_server
from tests.conftest import GOLDEN
from tests.fixtures.processes import alive, children, server_processes

TOKEN = "test-token-with-enough-entropy"
# one member: two doubled the training tests' time, and they share the cores with the stack and node tests
QUICK = {"architecture": "cnn", "epochs": 2, "subset": 6000, "members": 1, "min_accuracy": 0.0}


def lock_is_held(path) -> bool:
    """Whether a training run holds the lock (the same record lock the server takes, from this process)."""
    import fcntl
    import os

    if not path.exists():
        return False
    fd = os.open(path, os.O_RDWR)
    try:
        fcntl.lockf(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        return False
    except OSError:
        return True
    finally:
        os.close(fd)


def test_train_auth_and_params(tmp_path):
    env = {
        "MODEL_STORE": f"file://{tmp_path / 'models'}",
        "TRAIN_TOKEN": TOKEN,
        "TRAIN_LOCK_FILE": str(tmp_path / "lock"),
    }
    with function_server("train", env, tmp_path) as url:
        anonymous = requests.post(url, timeout=10)
        assert anonymous.status_code == 401 and anonymous.headers["WWW-Authenticate"].startswith("Bearer")
        wrong = requests.post(url, headers={"Authorization": "Bearer nope"}, timeout=10)
        assert wrong.status_code == 401
        auth = {"Authorization": f"Bearer {TOKEN}"}
        for params, word in [
            ({"epochs": 0}, "epochs"),
            ({"architecture": "resnet"}, "architecture"),
            ({"learning_rate": 1}, "unknown"),
            ({"epochs": "5"}, "epochs"),
            ({"force": 1}, "force"),
            ({"include_corrections": "yes"}, "include_corrections"),
            ({"correction_weight": 0}, "correction_weight"),
        ]:
            answer = requests.post(url, json=params, headers=auth, timeout=10)
            assert answer.status_code == 400 and word in answer.json()["message"], answer.text
        assert TOKEN not in anonymous.text + wrong.text


def test_train_publishes_promotes_and_predict_picks_it_up(tmp_path):
    models = tmp_path / "models"
    train_env = {"MODEL_STORE": f"file://{models}", "TRAIN_TOKEN": TOKEN, "TRAIN_LOCK_FILE": str(tmp_path / "lock")}
    predict_env = {
        "MODEL_STORE": f"file://{models}",
        "PREDICTION_LOG": f"sqlite://{tmp_path / 'p.db'}",
        "MODEL_REFRESH_SECONDS": "0",
    }
    auth = {"Authorization": f"Bearer {TOKEN}"}
    with (
        function_server("train", train_env, tmp_path) as train_url,
        function_server("predict", predict_env, tmp_path) as predict_url,
    ):
        results: dict[str, requests.Response] = {}
        first = threading.Thread(
            target=lambda: results.setdefault("first", requests.post(train_url, json=QUICK, headers=auth, timeout=600))
        )
        first.start()
        # while the first run holds the lock, a second is refused
        for _ in range(600):
            if lock_is_held(tmp_path / "lock"):
                break
            time.sleep(0.05)
        second = requests.post(train_url, json=QUICK, headers=auth, timeout=600)
        first.join()
        assert second.status_code == 409 and second.json()["error"] == "training_in_progress"
        body = results["first"].json()
        assert results["first"].status_code == 200, body
        assert body["promoted"] is True and body["metrics"]["test_accuracy"] > 0.5
        assert (models / "models" / body["version"] / "model.tflite").is_file()
        assert (models / "models" / "LATEST").read_text() == body["version"]
        answer = requests.post(
            predict_url, files={"file": ("1.png", (GOLDEN / "1_canvas.png").read_bytes())}, timeout=30
        )
        assert answer.status_code == 200 and answer.json()["model_version"] == body["version"]
        # the gate: a worse model is published but not promoted
        worse = requests.post(
            train_url, json={**QUICK, "subset": 200, "min_accuracy": 0.999}, headers=auth, timeout=600
        )
        assert worse.status_code == 200 and worse.json()["promoted"] is False
        assert (models / "models" / "LATEST").read_text() == body["version"]
        metrics = requests.get(train_url + "/metrics", timeout=10).text
        assert 'digits_training_runs_total{outcome="promoted"} 1.0' in metrics
        assert 'digits_training_runs_total{outcome="refused"} 1.0' in metrics
        assert 'outcome="failed"' not in metrics  # the 409 was a refusal at the door, not a failed training
        assert 'digits_requests_total{function="train",method="POST",route="/",status="409"} 1.0' in metrics


def test_corrections_made_on_the_page_feed_the_train_function(tmp_path, model_store):
    """Predict -> POST /predictions/<id>/label -> train with include_corrections, over one shared log."""
    shipped = (model_store / "models" / "LATEST").read_text()
    log = f"sqlite://{tmp_path / 'p.db'}"
    predict_env = {"MODEL_STORE": f"file://{model_store}", "PREDICTION_LOG": log}
    train_env = {**predict_env, "TRAIN_TOKEN": TOKEN, "TRAIN_LOCK_FILE": str(tmp_path / "lock")}
    with function_server("predict", predict_env, tmp_path) as predict_url:
        for name, wrong in (("2_canvas.png", 7), ("5_chalk.png", 6), ("8_paper.jpg", 3)):
            answer = requests.post(predict_url, files={"file": (name, (GOLDEN / name).read_bytes())}, timeout=30)
            label = requests.post(
                f"{predict_url}/predictions/{answer.json()['id']}/label", json={"label": wrong}, timeout=10
            )
            assert label.status_code == 200 and label.json()["label"] == wrong
    with function_server("train", train_env, tmp_path) as train_url:
        params = {**QUICK, "subset": 1000, "epochs": 1, "include_corrections": True, "correction_weight": 5}
        answer = requests.post(train_url, json=params, headers={"Authorization": f"Bearer {TOKEN}"}, timeout=600)
    assert answer.status_code == 200, answer.text
    body = answer.json()
    report = body["metrics"]["corrections"]
    assert (report["used"], report["weight"], report["model_before"]) == (3, 5, shipped)
    assert report["accuracy_before"] == 0.0  # the shipped model answered 2, 5 and 8; people said 7, 6, 3
    assert 0.0 <= report["accuracy_after"] <= 1.0
    assert body["metrics"]["config"]["correction_weight"] == 5
    assert body["promoted"] is False  # 1,000 images for one epoch: worse than the shipped model on MNIST


def test_rollback_endpoint(tmp_path):
    from ml.artifacts import TFLITE_FILE, Artifact
    from ml.registry import ModelRegistry
    from ml.storage.filestore import FileObjectStore

    registry = ModelRegistry(FileObjectStore(tmp_path / "models"))
    for version in ("20260101T000000Z-aaaaaa", "20260102T000000Z-bbbbbb"):
        registry.publish(Artifact.create(version, {TFLITE_FILE: b"x"}, {}))
        registry.promote(version)
    env = {
        "MODEL_STORE": f"file://{tmp_path / 'models'}",
        "TRAIN_TOKEN": TOKEN,
        "TRAIN_LOCK_FILE": str(tmp_path / "lock"),
    }
    with function_server("train", env, tmp_path) as url:
        assert requests.post(url + "/models/rollback", timeout=10).status_code == 401
        auth = {"Authorization": f"Bearer {TOKEN}"}
        answer = requests.post(url + "/models/rollback", headers=auth, timeout=10)
        assert answer.status_code == 200
        assert answer.json() == {"version": "20260101T000000Z-aaaaaa", "rolled_back_from": "20260102T000000Z-bbbbbb"}
        again = requests.post(url + "/models/rollback", headers=auth, timeout=10)
        assert again.status_code == 409 and again.json()["error"] == "nothing_to_roll_back"


def _rendering(master: int, timeout: float = 300) -> tuple[int, list[int]]:
    """(the worker, the processes it forked) once a training's rendering has started."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        for worker in children(master):
            forked = children(worker)
            if forked:
                return worker, forked
        time.sleep(0.1)
    raise AssertionError("no rendering started")


def _gone(pids: list[int], timeout: float = 15) -> bool:
    deadline = time.monotonic() + timeout
    while any(alive(pid) for pid in pids):
        if time.monotonic() > deadline:
            return False
        time.sleep(0.05)
    return True


def _train_in_background(url: str, params: dict) -> threading.Thread:
    def post() -> None:
        try:
            requests.post(url, json=params, headers={"Authorization": f"Bearer {TOKEN}"}, timeout=600)
        except requests.ConnectionError:
            pass  # the worker or the server is killed under it: what this test does

    thread = threading.Thread(target=post, daemon=True)
    thread.start()
    return thread


def test_a_killed_or_stopped_training_leaves_nothing_behind_and_the_next_one_runs(tmp_path):
    """SIGKILL the worker, then SIGTERM the server, each in the middle of rendering the training data: the
    rendering processes died with them, the lock is free, and a restarted function trains."""
    import signal

    lock = tmp_path / "lock"
    env = {"MODEL_STORE": f"file://{tmp_path / 'models'}", "TRAIN_TOKEN": TOKEN, "TRAIN_LOCK_FILE": str(lock)}
    rendering_long = {**QUICK, "subset": 30000, "negatives": 20000}
    with function_server("train", env, tmp_path) as url:
        master, _ = server_processes(url)
        _train_in_background(url, rendering_long)
        worker, forked = _rendering(master)
        os.kill(worker, signal.SIGKILL)
        assert _gone(forked), "rendering processes outlived their killed worker"
        assert not lock_is_held(lock)
        _train_in_background(url, rendering_long)  # the new worker gunicorn started takes it
        worker, forked = _rendering(master)
        os.kill(master, signal.SIGTERM)
        assert _gone([master, worker, *forked], timeout=30), "a process outlived the stopped server"
        assert not lock_is_held(lock)
    with function_server("train", env, tmp_path) as url:
        answer = requests.post(url, json=QUICK, headers={"Authorization": f"Bearer {TOKEN}"}, timeout=600)
    assert answer.status_code == 200 and answer.json()["promoted"] is True, answer.text

"""Both functions as Lambda runs them (`make lambda`): AWS's Runtime Interface Emulator and runtime interface
client on Python 3.12, predict on the built layer alone, behind local function URLs; the HTTP contract that
matters through those URLs, and the recorded events invoked on the emulator directly. `make test-lambda`;
under CI=true a missing Go or Python 3.12 fails the run."""

from __future__ import annotations

import base64
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import time

import pytest
import requests

from scripts.cassandra_node import free_port
from tests.conftest import GOLDEN, MODEL_STORE, ROOT

pytestmark = pytest.mark.aws_lambda
EVENTS = ROOT / "tests" / "events"
TOKENS = {"TRAIN_TOKEN": "lambda-train", "PREDICTIONS_TOKEN": "lambda-reader", "CORRECTIONS_TOKEN": "lambda-fixer"}
UUID = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$")


def _needs(tool: str, found: bool) -> None:
    if not found:
        message = f"{tool} is missing: `make lambda` needs it"
        if os.environ.get("CI"):
            pytest.fail(message)
        pytest.skip(message)


@pytest.fixture(scope="module")
def lambda_urls(tmp_path_factory):
    """`make lambda`'s two function URLs on a copy of the shipped model, and its state folder."""
    from layers.build import runtime_interpreter

    _needs("Go", shutil.which("go") is not None)
    _needs("Python 3.12", runtime_interpreter("3.12") is not None)
    tmp = tmp_path_factory.mktemp("lambda")
    shutil.copytree(MODEL_STORE, tmp / "store")
    ports = {"PREDICT_PORT": str(free_port()), "TRAIN_PORT": str(free_port())}
    env = {
        **os.environ,
        **ports,
        **TOKENS,
        "MODEL_STORE": f"file://{tmp / 'store'}",
        "PREDICTION_LOG": f"sqlite://{tmp / 'p.db'}",
        "MODEL_REFRESH_SECONDS": "0",  # a model promoted by a test is served at the next request
    }
    log = tmp / "lambda.log"
    with open(log, "wb") as out:
        proc = subprocess.Popen(
            [sys.executable, "-m", "scripts.lambda_local", "--state", str(tmp / "state")],
            cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True,
        )  # fmt: skip
    try:
        deadline = time.monotonic() + 600  # the first run builds RIE and installs both runtimes
        while "Ctrl-C stops both" not in log.read_text():
            assert proc.poll() is None and time.monotonic() < deadline, log.read_text()[-3000:]
            time.sleep(0.5)
        yield {name: f"http://127.0.0.1:{ports[f'{name.upper()}_PORT']}" for name in ("predict", "train")}, tmp
    finally:
        os.killpg(proc.pid, signal.SIGINT)
        try:
            proc.wait(60)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)


def _upload(url: str, name: str) -> requests.Response:
    return requests.post(url, files={"file": (name, (GOLDEN / name).read_bytes())}, timeout=60)


def test_uploads_of_each_kind_are_answered_with_lambdas_request_id(lambda_urls):
    urls, tmp = lambda_urls
    predict = urls["predict"]
    multipart = _upload(predict, "3_canvas.png")
    raw = requests.post(predict, data=(GOLDEN / "9_paper.jpg").read_bytes(), headers={"Content-Type": "image/jpeg"})
    as_json = requests.post(predict, json={"image": base64.b64encode((GOLDEN / "7_canvas.png").read_bytes()).decode()})
    assert [r.status_code for r in (multipart, raw, as_json)] == [200, 200, 200], as_json.text
    assert [r.json()["digit"] for r in (multipart, raw, as_json)] == [3, 9, 7]
    request_id = multipart.headers["X-Request-Id"]
    assert UUID.match(request_id)  # Lambda's own, not one the service drew
    runtime_log = (tmp / "state" / "predict.log").read_text()
    assert f"START RequestId: {request_id}" in runtime_log and f"request_id={request_id}" in runtime_log
    reader = {"Authorization": f"Bearer {TOKENS['PREDICTIONS_TOKEN']}"}
    record = requests.get(f"{predict}/predictions/{multipart.json()['id']}", headers=reader, timeout=30).json()
    assert record["request_id"] == request_id


def test_errors_history_corrections_and_health_through_the_function_url(lambda_urls):
    predict = lambda_urls[0]["predict"]
    text = requests.post(predict, files={"file": ("notes.txt", b"not an image")}, timeout=30)
    assert text.status_code == 415 and text.json()["error"] == "unsupported_media_type"
    # over the template's MAX_UPLOAD_BYTES (4 MiB), within Lambda's payload once base64-encoded
    too_big_for_the_function = requests.post(predict, data=b"\x89PNG" + bytes(4 * 2**20 + 2**18), timeout=60)
    assert too_big_for_the_function.json()["error"] == "payload_too_large"
    too_big_for_lambda = requests.post(predict, data=bytes(7 * 2**20), timeout=60)
    assert too_big_for_lambda.status_code == 413 and "Request must be smaller" in too_big_for_lambda.text
    assert requests.get(f"{predict}/predictions", timeout=30).status_code == 401  # PREDICTIONS_READ=token
    answered = _upload(predict, "4_canvas.png").json()
    listed = requests.get(
        f"{predict}/predictions?limit=3", headers={"Authorization": f"Bearer {TOKENS['PREDICTIONS_TOKEN']}"}
    )
    assert listed.status_code == 200 and answered["id"] in [p["id"] for p in listed.json()["predictions"]]
    fixer = {"Authorization": f"Bearer {TOKENS['CORRECTIONS_TOKEN']}"}
    label = requests.post(f"{predict}/predictions/{answered['id']}/label", json={"label": 4}, headers=fixer)
    assert label.status_code == 200 and label.json()["label"] == 4
    health = requests.get(f"{predict}/healthz", timeout=30)
    assert health.status_code == 200 and health.json()["status"] == "ok"
    page = requests.get(predict, headers={"Accept": "text/html"}, timeout=30)
    assert page.status_code == 200 and page.headers["Content-Type"].startswith("text/html")


def test_the_recorded_events_invoked_on_the_emulator_directly(lambda_urls):
    """What AWS sends, as AWS sends it: each recorded event through RIE's invoke API, no front in between."""
    from scripts.function_url import INVOKE_PATH

    rie = (lambda_urls[1] / "state" / "predict.rie").read_text()  # the emulator's own address
    for name, status in (("healthz", 200), ("predict_multipart", 200), ("predict_raw_jpeg", 200)):
        event = json.loads((EVENTS / f"{name}.json").read_text())
        result = requests.post(rie + INVOKE_PATH, json=event, timeout=60).json()
        assert result["statusCode"] == status, (name, result)


@pytest.mark.training
def test_train_trains_the_smallest_training_through_its_function_url(lambda_urls):
    train = lambda_urls[0]["train"]
    assert requests.post(train, json={}, timeout=30).status_code == 401
    smallest = {"architecture": "mlp", "epochs": 1, "subset": 1000, "min_accuracy": 0.0}
    done = requests.post(
        train, json=smallest, headers={"Authorization": f"Bearer {TOKENS['TRAIN_TOKEN']}"}, timeout=900
    )
    assert done.status_code == 200, done.text
    assert done.json()["version"] and UUID.match(done.headers["X-Request-Id"])


def _kill_environment(state, function: str = "predict") -> None:
    """What Lambda may do to an execution environment at any moment: gone at once, /tmp with it."""
    import socket
    from urllib.parse import urlsplit

    from scripts.lambda_local import kill_environment

    kill_environment(int((state / f"{function}.pid").read_text()))
    address = urlsplit((state / f"{function}.rie").read_text())
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:  # between requests: the next one must not meet it dying
        try:
            socket.create_connection((address.hostname, address.port), timeout=1).close()
            time.sleep(0.05)
        except OSError:
            return


def test_records_spooled_in_an_environment_that_dies_reach_the_log_from_the_next(lambda_urls):
    from service.predlog.sqlite import SqlitePredictionLog

    urls, tmp = lambda_urls
    database = tmp / "p.db"
    _kill_environment(tmp / "state")
    database.rename(tmp / "p.db.aside")
    database.mkdir()  # SQLite cannot open a folder: the log is down for the next environment
    try:
        answered = [_upload(urls["predict"], name).json() for name in ("2_canvas.png", "5_canvas.png", "8_canvas.png")]
        assert all("digit" in a for a in answered), answered  # 200s: spooled where Lambda keeps it
        assert len(list((tmp / "state" / "spool-store" / "pending").iterdir())) == 3
        _kill_environment(tmp / "state")  # the environment that spooled them is gone
    finally:
        database.rmdir()
        (tmp / "p.db.aside").rename(database)
    assert requests.get(f"{urls['predict']}/healthz", timeout=60).status_code == 200  # a fresh environment
    log = SqlitePredictionLog(database)
    try:
        deadline = time.monotonic() + 60
        while any(log.get(a["id"]) is None for a in answered):
            assert time.monotonic() < deadline, "the spooled records did not reach the log"
            time.sleep(0.5)
    finally:
        log.close()
    pending = tmp / "state" / "spool-store" / "pending"
    while list(pending.iterdir()):  # a record is written to the log first, its object deleted after
        assert time.monotonic() < deadline, f"replayed, yet still spooled: {list(pending.iterdir())}"
        time.sleep(0.2)


def test_an_environment_restored_from_a_snapshot_draws_its_own_prediction_ids():
    """SnapStart: what the runtime calls after a restore gives this process another clock sequence and node,
    so that environments restored from one snapshot never mint the same id."""
    from scripts.lambda_local import LAYER, STATE

    script = (
        "import snapshot_restore_py as s; from service.predlog.base import new_prediction_id as new\n"
        "before = new()[19:]\n"
        "[hook(*args, **kwargs) for hook, args, kwargs in s.get_after_restore()]\n"  # what a restore runs
        "print(before, new()[19:])"
    )
    python = STATE / "predict" / "bin" / "python"
    _needs("the predict runtime (make lambda installs it)", python.exists())
    # this checkout's code (the layer is built from it) first, the layer's dependencies, the runtime's Python
    env = {"PYTHONPATH": f"{ROOT}:{LAYER}"}
    done = subprocess.run([str(python), "-c", script], cwd=ROOT, env=env, capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    before, after = done.stdout.split()
    assert before != after


@pytest.mark.training
def test_a_training_killed_with_its_environment_leaves_latest_and_history_as_they_were(lambda_urls):
    """Lambda ends a training at the function's time limit by ending its environment: nothing half-made may
    become the served model or enter the history a rollback reads."""
    import threading

    urls, tmp = lambda_urls
    models = tmp / "store" / "models"
    before = {name: (models / name).read_bytes() for name in ("LATEST", "HISTORY")}
    versions = {p.name for p in models.iterdir() if p.is_dir()}
    long = {"architecture": "cnn", "epochs": 50, "members": 1, "negatives": 0, "min_accuracy": 0.0}
    answers: list[requests.Response] = []
    auth = {"Authorization": f"Bearer {TOKENS['TRAIN_TOKEN']}"}
    caller = threading.Thread(target=lambda: answers.append(requests.post(urls["train"], json=long, headers=auth)))
    caller.start()
    log = tmp / "state" / "train.log"
    deadline = time.monotonic() + 300
    while "training 1 model x 50 epochs" not in log.read_text():
        assert time.monotonic() < deadline and caller.is_alive(), log.read_text()[-2000:]
        time.sleep(0.5)
    _kill_environment(tmp / "state", "train")
    caller.join(60)
    assert answers and answers[0].status_code == 502  # what a function URL answers for a function that ended
    assert {name: (models / name).read_bytes() for name in before} == before
    assert {p.name for p in models.iterdir() if p.is_dir() and (p / "metadata.json").exists()} == versions


def test_the_pre_traffic_gate_passes_a_good_version_and_refuses_a_broken_one(lambda_urls):
    """The deployment's gate (service/deploy/pretraffic.py) sending its events to the predict function under
    the Lambda runtime, as the hook sends them to a new version: the shipped model passes; a version whose
    promoted model answers wrong is refused, every golden image named."""
    from ml.registry import ModelRegistry
    from ml.storage.filestore import FileObjectStore
    from scripts.function_url import INVOKE_PATH
    from service.deploy.pretraffic import check_predict, gate, golden
    from tests.functional.test_pretraffic import HOOK, promote_a_version_answering_wrong

    urls, tmp = lambda_urls
    rie = (tmp / "state" / "predict.rie").read_text()

    def send(event: dict) -> dict:
        return requests.post(rie + INVOKE_PATH, json=event, timeout=60).json()

    def run_gate() -> tuple[list[str], list[str]]:
        reports: list[str] = []
        return gate(lambda: check_predict(send, golden(HOOK / "golden")), reports.append), reports

    assert run_gate() == ([], ["Succeeded"])
    registry = ModelRegistry(FileObjectStore(tmp / "store"))
    good = registry.latest_version()
    broken = promote_a_version_answering_wrong(tmp / "store")
    try:
        problems, reports = run_gate()
        assert reports == ["Failed"] and len(problems) == 10 and all(p.endswith(f"by {broken}") for p in problems)
    finally:
        registry.promote(good)

"""The pre-traffic gate against the real predict and train apps in this process, through their Lambda entry
(``serve_lambda``, what the runtime calls): a good version passes; a version whose promoted model answers
wrong, or that cannot answer at all, fails; each outcome is reported once."""

from __future__ import annotations

import importlib.util

import pytest

from ml.artifacts import new_version
from ml.registry import ModelRegistry
from ml.storage.filestore import FileObjectStore
from service.deploy.pretraffic import check_predict, check_train, gate, golden, upload_event
from service.http.entry import predict_function, train_function
from service.settings import Settings
from tests.conftest import GOLDEN, ROOT
from tests.fixtures.publish import copy_of

HOOK = ROOT / "functions" / "pretraffic"


def test_the_hook_ships_exact_copies_of_golden_images_one_per_digit():
    shipped = golden(HOOK / "golden")
    assert sorted(digit for _, digit, _ in shipped) == list(range(10))
    for name, _, data in shipped:
        assert data == (GOLDEN / name).read_bytes(), f"{name} differs from tests/fixtures/golden/{name}"


def test_a_good_version_passes(predict_env):
    app = predict_function(Settings.from_env(predict_env))
    reports: list[str] = []
    problems = gate(lambda: check_predict(app.serve_lambda, golden(HOOK / "golden")), reports.append)
    assert problems == [] and reports == ["Succeeded"]


def promote_a_version_answering_wrong(store) -> str:
    """A real published and promoted version whose answers are wrong: the shipped network under a calibration
    with a negative temperature, which turns each image's likeliest digit into its least likely one."""
    registry = ModelRegistry(FileObjectStore(store))
    shipped = registry.load(registry.latest_version())
    broken = copy_of(shipped, new_version())
    metadata = {k: v for k, v in broken.metadata.items() if k not in ("files", "version", "format")}
    metadata["calibration"] = {**metadata.get("calibration", {}), "temperature": -1.0}
    payload = {k: v for k, v in broken.files.items() if k != "metadata.json"}
    registry.publish(type(broken).create(broken.version, payload, metadata))
    registry.promote(broken.version)
    return broken.version


def test_a_version_whose_model_answers_wrong_fails(predict_env, model_store):
    version = promote_a_version_answering_wrong(model_store)
    app = predict_function(Settings.from_env(predict_env))
    reports: list[str] = []
    problems = gate(lambda: check_predict(app.serve_lambda, golden(HOOK / "golden")), reports.append)
    assert reports == ["Failed"] and len(problems) == 10, problems
    assert all("answered" in p and p.endswith(f"by {version}") for p in problems)  # by the broken model, wrongly


def test_a_version_without_a_model_fails(predict_env, tmp_path):
    app = predict_function(Settings.from_env({**predict_env, "MODEL_STORE": f"file://{tmp_path / 'empty'}"}))
    reports: list[str] = []
    problems = gate(lambda: check_predict(app.serve_lambda, golden(HOOK / "golden")), reports.append)
    assert reports == ["Failed"] and all("HTTP 503" in p for p in problems), problems


def test_checks_that_cannot_run_fail_the_gate_instead_of_hanging_it():
    def unreachable(event):
        raise ConnectionError("the new version could not be invoked")

    reports: list[str] = []
    problems = gate(lambda: check_predict(unreachable, [("1_x.png", 1, b"")]), reports.append)
    assert reports == ["Failed"] and "could not be invoked" in problems[0]


def test_the_gate_for_train(tmp_path):
    env = {"MODEL_STORE": f"file://{tmp_path / 'models'}", "TRAIN_LOCK_FILE": str(tmp_path / "lock")}
    good = train_function(Settings.from_env({**env, "TRAIN_TOKEN": "a-token-long-enough-to-use"}))
    assert check_train(good.serve_lambda) == []
    open_door = train_function(Settings.from_env(env))  # no token read: the door is not what the gate expects
    problems = check_train(open_door.serve_lambda)
    assert problems and "without the token" in problems[0], problems


@pytest.mark.parametrize("name", ["3_canvas.png", "8_paper.jpg"])
def test_upload_events_read_as_function_url_uploads(predict_env, name):
    """The event the gate builds is read like the recorded ones (tests/events/): a multipart upload."""
    app = predict_function(Settings.from_env(predict_env))
    import json

    answer = app.serve_lambda(upload_event(name, (GOLDEN / name).read_bytes()))
    body = json.loads(answer["body"])
    assert answer["statusCode"] == 200 and body["digit"] == int(name[0])
    assert body["filename"] == f"pretraffic-{name}"


def test_the_handler_module_imports_without_aws():
    spec = importlib.util.spec_from_file_location("pretraffic_main", HOOK / "main.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    assert module.GOLDEN == HOOK / "golden" and callable(module.lambda_handler)

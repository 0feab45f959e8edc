"""The error tables of docs/api.md, one request per code, in-process through each function's Lambda entry; and a
check that these cases reach every declared route and name every code the tables list (so a new route or
code without a case fails here, not in production)."""

from __future__ import annotations

import base64
import io
import re
from dataclasses import dataclass, field
from datetime import UTC, datetime

import pytest
from PIL import Image
from urllib3 import encode_multipart_formdata

from service.http.routes import Router, routes_of
from service.predict.app import RESOURCES as PREDICT_RESOURCES
from service.train.app import RESOURCES as TRAIN_RESOURCES
from tests.conftest import GOLDEN, ROOT, SHIPPED_VERSION
from tests.fixtures.events import http, inprocess_function
from tests.fixtures.images import encode, many_scan_jpeg

SEVEN = (GOLDEN / "7_canvas.png").read_bytes()
TOKEN = "s3cret-train-token"
NOW = datetime(2026, 11, 30, 7, 0, tzinfo=UTC)
# Codes this transport cannot cause, and the test that does: the HTTP server answers the first three before
# any function code runs (over real sockets there); a malformed function-URL event only AWS could send.
ELSEWHERE = {
    "invalid_http": "tests/e2e/test_slow_clients.py",
    "request_timeout": "tests/e2e/test_slow_clients.py",
    "headers_too_large": "tests/e2e/test_slow_clients.py",
    "invalid_body": "tests/unit/test_lambda_adapter.py",
    "busy": "tests/unit/test_lane.py",
    "out_of_time": "tests/unit/test_lambda_adapter.py",  # needs the Lambda runtime's context
    "training_too_long": "tests/unit/test_lambda_adapter.py",  # as does this
}


def png(image: Image.Image) -> bytes:
    out = io.BytesIO()
    image.save(out, "PNG")
    return out.getvalue()


def multipart(*files: tuple[str, bytes], field_name: str = "file") -> tuple[bytes, dict[str, str]]:
    body, content_type = encode_multipart_formdata([(field_name, (name, data)) for name, data in files])
    return body, {"Content-Type": content_type}


def upload(*files: tuple[str, bytes], field_name: str = "file") -> dict:
    body, headers = multipart(*files, field_name=field_name)
    return {"data": body, "headers": headers}


@dataclass(frozen=True)
class Case:
    status: int
    code: str | None  # None: a 2xx/3xx answer
    method: str
    path: str  # "{id}" is replaced by the id of a prediction made first
    send: dict = field(default_factory=dict)  # requests' keyword arguments
    env: dict = field(default_factory=dict)
    locked: bool = False  # another training holds the machine's training lock


def _label(label: object) -> dict:
    return {"json": {"label": label}}


PREDICT = {
    "predict": Case(200, None, "POST", "/", upload(("7.png", SEVEN))),
    "page": Case(200, None, "GET", "/", {"headers": {"Accept": "text/html"}}),
    "asset": Case(200, None, "GET", "/assets/app.js"),
    "favicon": Case(200, None, "GET", "/favicon.ico"),
    "health": Case(200, None, "GET", "/healthz"),
    "list": Case(200, None, "GET", "/predictions", {"params": {"limit": "5", "low_confidence": "true"}}),
    "record": Case(200, None, "GET", "/predictions/{id}"),
    "image": Case(200, None, "GET", "/predictions/{id}/image"),
    "normalised": Case(200, None, "GET", "/predictions/{id}/normalised.png"),
    "label": Case(200, None, "POST", "/predictions/{id}/label", _label(7)),
    "stats": Case(200, None, "GET", "/stats", {"params": {"days": "3"}}),
    "metrics": Case(200, None, "GET", "/metrics"),
    "openapi": Case(200, None, "GET", "/openapi.json"),
    "empty_body": Case(400, "empty_body", "POST", "/"),
    "missing_file": Case(400, "missing_file", "POST", "/", upload(("7.png", SEVEN), field_name="picture")),
    "empty_file": Case(400, "empty_file", "POST", "/", upload(("7.png", b""))),
    "invalid_image": Case(400, "invalid_image", "POST", "/", upload(("7.png", SEVEN[: len(SEVEN) // 2]))),
    "invalid_json": Case(
        400, "invalid_json", "POST", "/", {"data": b"[" * 50_000, "headers": {"Content-Type": "application/json"}}
    ),
    "missing_image": Case(400, "missing_image", "POST", "/", {"json": {"picture": "x"}}),
    "invalid_base64": Case(400, "invalid_base64", "POST", "/", {"json": {"image": "***"}}),
    "invalid_multipart": Case(
        400,
        "invalid_multipart",
        "POST",
        "/",
        {
            "data": b'--b\r\nContent-Disposition: form-data; name="file"; filename="\xff.png"\r\n\r\nx\r\n--b--\r\n',
            "headers": {"Content-Type": "multipart/form-data; boundary=b"},
        },
    ),
    "invalid_limit": Case(400, "invalid_limit", "GET", "/predictions", {"params": {"limit": "0"}}),
    "invalid_low_confidence": Case(
        400, "invalid_low_confidence", "GET", "/predictions", {"params": {"low_confidence": "maybe"}}
    ),
    "invalid_days": Case(400, "invalid_days", "GET", "/stats", {"params": {"days": "91"}}),
    "invalid_label": Case(400, "invalid_label", "POST", "/predictions/{id}/label", _label(10)),
    "unauthorized": Case(
        401, "unauthorized", "GET", "/predictions", env={"PREDICTIONS_READ": "token", "PREDICTIONS_TOKEN": "reader"}
    ),
    "unauthorized_correction": Case(
        401, "unauthorized", "POST", "/predictions/{id}/label", _label(1), env={"CORRECTIONS_TOKEN": "corrector"}
    ),
    "forbidden": Case(403, "forbidden", "GET", "/stats", env={"PREDICTIONS_READ": "off"}),
    "not_found": Case(404, "not_found", "GET", "/nowhere"),
    "unknown_id": Case(404, "not_found", "GET", "/predictions/8c1f6c1e-0000-11f0-8000-000000000000"),
    "method_not_allowed": Case(405, "method_not_allowed", "DELETE", "/healthz"),
    "payload_too_large": Case(
        413, "payload_too_large", "POST", "/", upload(("7.png", SEVEN)), env={"MAX_UPLOAD_BYTES": "1024"}
    ),
    "image_too_large": Case(
        413, "image_too_large", "POST", "/", upload(("7.png", SEVEN)), env={"MAX_IMAGE_PIXELS": "100"}
    ),
    "request_too_costly": Case(
        413,
        "request_too_costly",
        "POST",
        "/",
        upload(("a.png", SEVEN), ("b.png", SEVEN)),
        env={"MAX_REQUEST_PIXELS": "100000"},
    ),
    "too_many_files": Case(
        413, "too_many_files", "POST", "/", {"json": {"images": ["aGk="] * 3}}, env={"MAX_FILES_PER_REQUEST": "2"}
    ),
    "too_many_parts": Case(
        413, "too_many_parts", "POST", "/", upload(*[("d.png", b"x")] * 20), env={"MAX_FILES_PER_REQUEST": "2"}
    ),
    "unsupported_content_type": Case(
        415, "unsupported_content_type", "POST", "/", {"data": b"7", "headers": {"Content-Type": "text/plain"}}
    ),
    "form_correction": Case(
        415, "unsupported_content_type", "POST", "/predictions/{id}/label", {"data": {"label": "7"}}
    ),
    "unsupported_media_type": Case(415, "unsupported_media_type", "POST", "/", upload(("7.png", b"<html></html>"))),
    "no_digit_found": Case(422, "no_digit_found", "POST", "/", upload(("w.png", png(Image.new("L", (64, 64), 255))))),
    "not_a_digit": Case(
        422,
        "not_a_digit",
        "POST",
        "/",
        upload(("star.jpg", (GOLDEN.parent / "golden_not_digits" / "star_paper.jpg").read_bytes())),
    ),
    "non_finite_pixels": Case(
        422,
        "non_finite_pixels",
        "POST",
        "/",
        upload(("nan.tif", encode(Image.new("F", (64, 64), float("nan")), "TIFF"))),
    ),
    "image_too_costly": Case(422, "image_too_costly", "POST", "/", upload(("s.jpg", many_scan_jpeg(60)))),
    "model_unavailable": Case(
        503, "model_unavailable", "POST", "/", upload(("7.png", SEVEN)), env={"MODEL_STORE": "{tmp}/empty-store"}
    ),
    "store_unavailable": Case(
        503,
        "store_unavailable",
        "POST",
        "/",
        upload(("7.png", SEVEN)),
        env={"INLINE_IMAGE_BYTES": "0", "MODEL_STORE": "{tmp}/store-uploads-blocked"},
    ),
    "log_unavailable": Case(
        503,
        "log_unavailable",
        "POST",
        "/",
        upload(("7.png", SEVEN)),
        env={"PREDICTION_LOG": "sqlite://{tmp}/a-folder", "SPOOL_MAX_BYTES": "1024"},
    ),
}

INFER = "/v2/models/digits/infer"
ONE = [255 if 5 <= i // 28 < 23 and 12 <= i % 28 < 16 else 0 for i in range(784)]  # a stroke in MNIST's form
PIXELS = {"name": "pixels", "shape": [1, 28, 28], "datatype": "UINT8", "data": ONE}


def infer(*inputs: dict, **fields) -> dict:
    return {"json": {"inputs": list(inputs), **fields}}


def seven(shape: list[int] | None = None, datatype: str = "BYTES") -> dict:
    return {"name": "image", "shape": shape or [1], "datatype": datatype, "data": [base64.b64encode(SEVEN).decode()]}


# The Open Inference Protocol's routes: the same codes, in the protocol's shape ({"error", "code"})
V2 = {
    "v2_server": Case(200, None, "GET", "/v2"),
    "v2_live": Case(200, None, "GET", "/v2/health/live"),
    "v2_ready": Case(200, None, "GET", "/v2/health/ready"),
    "v2_metadata": Case(200, None, "GET", "/v2/models/digits"),
    "v2_version_metadata": Case(200, None, "GET", f"/v2/models/digits/versions/{SHIPPED_VERSION}"),
    "v2_model_ready": Case(200, None, "GET", "/v2/models/digits/ready"),
    "v2_version_ready": Case(200, None, "GET", f"/v2/models/digits/versions/{SHIPPED_VERSION}/ready"),
    "v2_infer": Case(200, None, "POST", INFER, infer(seven())),
    "v2_infer_version": Case(200, None, "POST", f"/v2/models/digits/versions/{SHIPPED_VERSION}/infer", infer(PIXELS)),
    "unknown_model": Case(404, "unknown_model", "GET", "/v2/models/mnist"),
    "unknown_version": Case(404, "unknown_version", "GET", "/v2/models/digits/versions/20200101T000000Z-000000/ready"),
    "v2_not_found": Case(404, "not_found", "GET", "/v2/models"),
    "v2_method_not_allowed": Case(405, "method_not_allowed", "GET", INFER),
    "v2_not_ready": Case(503, "model_unavailable", "GET", "/v2/health/ready", env={"MODEL_STORE": "{tmp}/empty-store"}),
    "invalid_inference_request": Case(400, "invalid_inference_request", "POST", INFER, {"json": {"inputs": []}}),
    "invalid_datatype": Case(400, "invalid_datatype", "POST", INFER, infer({**PIXELS, "datatype": "INT64"})),
    "v2_datatype_not_a_string": Case(400, "invalid_datatype", "POST", INFER, infer({**PIXELS, "datatype": {}})),
    "invalid_shape": Case(400, "invalid_shape", "POST", INFER, infer({**PIXELS, "shape": [1, 27, 29]})),
    "invalid_binary_data": Case(
        400,
        "invalid_binary_data",
        "POST",
        INFER,
        {"data": b'{"inputs": []}', "headers": {"Inference-Header-Content-Length": "999"}},
    ),
    "v2_invalid_json": Case(400, "invalid_json", "POST", INFER, {"data": b"{"}),
    "v2_invalid_base64": Case(
        400, "invalid_base64", "POST", INFER, infer({"name": "image", "shape": [1], "datatype": "BYTES", "data": ["*"]})
    ),
    "v2_too_many_files": Case(
        413,
        "too_many_files",
        "POST",
        INFER,
        infer({**PIXELS, "shape": [3, 784], "data": [0] * 2352}),
        env={"MAX_FILES_PER_REQUEST": "2"},
    ),
    "v2_payload_too_large": Case(
        413, "payload_too_large", "POST", INFER, infer(seven()), env={"MAX_UPLOAD_BYTES": "1024"}
    ),
    "v2_unsupported_media_type": Case(
        415,
        "unsupported_media_type",
        "POST",
        INFER,
        infer({"name": "image", "shape": [1], "datatype": "BYTES", "data": [base64.b64encode(b"<html>").decode()]}),
    ),
    "v2_no_digit_found": Case(422, "no_digit_found", "POST", INFER, infer({**PIXELS, "data": [255] * 784})),
    "v2_log_unavailable": Case(
        503,
        "log_unavailable",
        "POST",
        INFER,
        infer(PIXELS),
        env={"PREDICTION_LOG": "sqlite://{tmp}/a-folder", "SPOOL_MAX_BYTES": "1024"},
    ),
}
PREDICT.update(V2)

TRAIN_AUTH = {"headers": {"Authorization": f"Bearer {TOKEN}"}}
TRAIN = {
    # a training answers in minutes (tests/e2e/test_train_function.py); with the lock held these reach the handler
    "train": Case(409, "training_in_progress", "POST", "/", TRAIN_AUTH, locked=True),
    "train_alias": Case(409, "training_in_progress", "POST", "/train", TRAIN_AUTH, locked=True),
    "seed_alias": Case(409, "training_in_progress", "GET", "/train", TRAIN_AUTH, locked=True),
    "rollback": Case(409, "nothing_to_roll_back", "POST", "/models/rollback", TRAIN_AUTH),
    "metrics": Case(200, None, "GET", "/metrics"),
    "openapi": Case(200, None, "GET", "/openapi.json"),
    "unauthorized": Case(401, "unauthorized", "POST", "/", {"headers": {"Authorization": "Bearer wrong"}}),
    "invalid_params": Case(400, "invalid_params", "POST", "/", {**TRAIN_AUTH, "json": {"epochs": 0}}),
    "unknown_param": Case(400, "invalid_params", "POST", "/", {**TRAIN_AUTH, "json": {"epoch": 3}}),
    "invalid_json": Case(400, "invalid_json", "POST", "/", {**TRAIN_AUTH, "data": b"{"}),
    "not_found": Case(404, "not_found", "GET", "/models"),
    "method_not_allowed": Case(405, "method_not_allowed", "GET", "/"),
    "train_disabled": Case(503, "train_disabled", "POST", "/", env={"TRAIN_TOKEN": ""}),
}


def _materialise(env: dict, tmp_path) -> dict:
    env = {k: v.replace("{tmp}", str(tmp_path)) for k, v in env.items()}
    blocked = tmp_path / "store-uploads-blocked"
    if "MODEL_STORE" in env and env["MODEL_STORE"].endswith("store-uploads-blocked"):
        import shutil

        from tests.conftest import MODEL_STORE

        shutil.copytree(MODEL_STORE, blocked)
        (blocked / "uploads").write_text("a file where the uploads folder should be")
    if env.get("PREDICTION_LOG", "").endswith("a-folder"):
        (tmp_path / "a-folder").mkdir()  # SQLite cannot open a folder: the log is down, the spool too small
    return env


@pytest.mark.parametrize("name", PREDICT)
def test_predict_answers_as_the_table_says(name, tmp_path, predict_env):
    case = PREDICT[name]
    with inprocess_function("predict", predict_env, tmp_path / "first") as url:
        made = http.post(url, **upload(("7.png", SEVEN)))
        assert made.status_code == 200, made.text
    env = {**predict_env, **_materialise(case.env, tmp_path)}
    with inprocess_function("predict", env, tmp_path, clock=lambda: NOW) as url:
        answer = http.request(case.method, url + case.path.format(id=made.json()["id"]), **case.send)
    _check(answer, case)


@pytest.mark.parametrize("name", TRAIN)
def test_train_answers_as_the_table_says(name, tmp_path, model_store):
    from contextlib import nullcontext

    from service.train.runs import TrainLock

    case = TRAIN[name]
    env = {"MODEL_STORE": f"file://{model_store}", "TRAIN_TOKEN": TOKEN, **case.env}
    with TrainLock(tmp_path / "train.lock") if case.locked else nullcontext():
        with inprocess_function("train", env, tmp_path) as url:
            answer = http.request(case.method, url + case.path, **case.send)
    _check(answer, case)
    deprecated = case.method == "GET" and case.path == "/train"  # the seed's alias, kept for old clients
    assert (answer.headers.get("Deprecation"), "successor-version" in answer.headers.get("Link", "")) == (
        ("true", True) if deprecated else (None, False)
    )


def _check(answer, case: Case) -> None:
    assert answer.status_code == case.status, answer.text[:300]
    assert answer.headers["X-Content-Type-Options"] == "nosniff" and answer.headers["X-Request-Id"]
    if case.code is not None:
        assert answer.headers["Content-Type"] == "application/json"
        body = answer.json()
        if case.path.startswith("/v2"):  # the Open Inference Protocol's shape, the code leading the message
            assert (
                body["code"] == case.code
                and body["error"].startswith(f"{case.code}: ")
                and body["error"][len(case.code) + 2 :]
            ), body
        else:
            assert body["error"] == case.code and body["message"], body
    if case.status == 405:
        assert answer.headers["Allow"]
    if case.status == 503 and case.code != "train_disabled":
        assert answer.headers["Retry-After"]


def readme_codes(table_number: int) -> set[str]:
    """The codes in docs/api.md's n-th "| status | codes |" table (predict's, then train's)."""
    api = (ROOT / "docs" / "api.md").read_text()
    tables = api.split("| status | codes |")[1:]
    table = tables[table_number].split("\n\n")[0]
    return {code for line in table.splitlines()[2:] for code in re.findall(r"`([a-z0-9_]+)`", line.split("|")[2])}


def test_the_cases_reach_every_route_and_name_every_code_of_the_readme():
    for cases, resources, table in ((PREDICT, PREDICT_RESOURCES, 0), (TRAIN, TRAIN_RESOURCES, 1)):
        routes = Router([(r, None) for r in routes_of(*resources)], None, "")
        reached = {
            routes.match(c.method, c.path.format(id="00000000-0000-1000-8000-000000000000"))[0].path
            for c in cases.values()
            if c.status not in (404, 405)
        }
        assert reached == {r.path for r in routes.routes}
        named = {c.code for c in cases.values() if c.code}
        listed = readme_codes(table)
        assert listed - named - set(ELSEWHERE) == set(), "docs/api.md codes without a case here"
        assert named - listed == set(), "codes answered here that docs/api.md's table does not list"
    for code, where in ELSEWHERE.items():
        assert code in (ROOT / where).read_text(), f"{where} no longer checks {code}"

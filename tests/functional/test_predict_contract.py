"""The predict function's whole HTTP contract, in-process: every request becomes a function-URL event
(the recorded ones under tests/events/, re-aimed) and goes through the Lambda entry AWS drives, on
injected settings. tests/e2e/test_predict_function.py keeps a few of these honest over real sockets."""

from __future__ import annotations

import base64
import fnmatch
import gzip
import io
import json
import re
import sqlite3

import numpy as np
import pytest
from PIL import Image

from tests.conftest import GOLDEN, golden_images, not_digit_images
from tests.fixtures.events import http, inprocess_function
from tests.fixtures.images import many_scan_jpeg


@pytest.fixture
def predict_url(tmp_path, predict_env):
    with inprocess_function("predict", predict_env, tmp_path) as url:
        yield url


def test_golden_images_over_multipart(predict_url):
    for path in golden_images():
        with open(path, "rb") as f:
            answer = http.post(predict_url, files={"file": (path.name, f)}, timeout=30)
        assert answer.status_code == 200, answer.text
        body = answer.json()
        assert body["digit"] == int(path.name[0]), f"{path.name}: {body}"
        assert set(body) >= {"id", "digit", "confidence", "probabilities", "model_version", "filename", "created_at"}
        assert body["filename"] == path.name and len(body["probabilities"]) == 10
        assert body["is_digit"] is True and body["confidence"] == max(body["probabilities"])
        assert abs(sum(body["probabilities"]) - 1) < 1e-3 and 0 <= body["not_a_digit"] < 0.5


def test_pictures_that_are_not_digits_are_refused_recorded_counted_and_correctable(predict_url):
    refused = []
    for path in not_digit_images():
        answer = http.post(predict_url, files={"file": (path.name, path.read_bytes())}, timeout=30)
        assert answer.status_code == 422, f"{path.name}: {answer.text[:300]}"
        body = answer.json()
        assert body["error"] == "not_a_digit" and "not a digit" in body["message"]
        assert body["is_digit"] is False and body["digit"] is None and body["filename"] == path.name
        assert body["confidence"] == body["not_a_digit"] >= 0.5
        record = http.get(f"{predict_url}/predictions/{body['id']}", timeout=10).json()
        assert record["is_digit"] is False and record["not_a_digit"] == body["not_a_digit"]
        refused.append(body["id"])
    total = http.get(predict_url + "/stats?days=1", timeout=10).json()["total"]
    assert total["not_a_digit"] == len(refused) and total["count"] == 0  # refusals are not answers
    house, three = (
        (GOLDEN.parent / "golden_not_digits" / "house_canvas.png").read_bytes(),
        (GOLDEN / "3_canvas.png").read_bytes(),
    )
    many = http.post(predict_url, files=[("file", ("3.png", three)), ("file", ("house.png", house))], timeout=30)
    assert many.status_code == 200  # among several files, each gets its own outcome
    assert [(r.get("error"), r["digit"]) for r in many.json()] == [(None, 3), ("not_a_digit", None)]
    page = http.post(predict_url, files={"file": ("house.png", house)}, headers={"Accept": "text/html"}, timeout=30)
    assert page.status_code == 422 and "<p class=digit>not a digit</p>" in page.text
    fixed = http.post(f"{predict_url}/predictions/{refused[0]}/label", json={"label": 4}, timeout=10)
    assert fixed.status_code == 200 and fixed.json()["label"] == 4  # a person may say it was a digit


def test_raw_body_json_base64_and_many_files(predict_url):
    three, seven = (GOLDEN / "3_canvas.png").read_bytes(), (GOLDEN / "7_paper.jpg").read_bytes()
    raw = http.post(predict_url, data=three, headers={"Content-Type": "image/png"}, timeout=30)
    assert raw.status_code == 200 and raw.json()["digit"] == 3
    js = http.post(predict_url, json={"image": base64.b64encode(seven).decode()}, timeout=30)
    assert js.status_code == 200 and js.json()["digit"] == 7
    many = http.post(
        predict_url,
        files=[("file", ("a.png", three)), ("file", ("b.jpg", seven)), ("file", ("c.png", three))],
        timeout=30,
    )
    assert many.status_code == 200
    assert [(r["filename"], r["digit"]) for r in many.json()] == [("a.png", 3), ("b.jpg", 7), ("c.png", 3)]


def test_form_page_and_html_result(predict_url):
    page = http.get(predict_url, timeout=10)
    assert page.status_code == 200 and "text/html" in page.headers["Content-Type"]
    assert 'enctype="multipart/form-data"' in page.text and 'name="file"' in page.text
    html = http.post(
        predict_url,
        files={"file": ("5.png", (GOLDEN / "5_chalk.png").read_bytes())},
        headers={"Accept": "text/html,application/xhtml+xml,*/*;q=0.8"},
        timeout=30,
    )
    assert html.status_code == 200 and "text/html" in html.headers["Content-Type"]
    assert "<p class=digit>5</p>" in html.text


def test_predictions_are_logged_and_readable(predict_url, tmp_path):
    sent = {}
    for name in ("1_canvas.png", "8_paper.jpg", "0_chalk.png"):
        data = (GOLDEN / name).read_bytes()
        body = http.post(predict_url, files={"file": (name, data, "image/x-test")}, timeout=30).json()
        sent[body["id"]] = (name, data)
    listed = http.get(predict_url + "/predictions?limit=2", timeout=10).json()["predictions"]
    assert [p["filename"] for p in listed] == ["0_chalk.png", "8_paper.jpg"]  # newest first
    for pid, (name, data) in sent.items():
        one = http.get(f"{predict_url}/predictions/{pid}", timeout=10)
        assert one.status_code == 200 and one.json()["filename"] == name
        image = http.get(f"{predict_url}/predictions/{pid}/image", timeout=10)
        real_type = "image/jpeg" if name.endswith(".jpg") else "image/png"  # what the bytes are, not what was declared
        assert image.content == data and image.headers["Content-Type"] == real_type
        seen = http.get(f"{predict_url}/predictions/{pid}/normalised.png", timeout=10)
        assert Image.open(io.BytesIO(seen.content)).size == (28, 28)
    # and straight from the store
    rows = (
        sqlite3.connect(tmp_path / "predictions.db")
        .execute("SELECT id, filename, length(normalised) FROM predictions")
        .fetchall()
    )
    assert {r[0] for r in rows} == set(sent) and all(r[2] == 784 for r in rows)


def test_healthz_reports_model_and_stores(predict_url):
    health = http.get(predict_url + "/healthz", timeout=10)
    assert health.status_code == 200
    body = health.json()
    assert body["model_version"] and body["model_store"]["reachable"] and body["prediction_log"]["reachable"]


@pytest.mark.parametrize(
    "kwargs, status, code",
    [
        ({"files": {"image": ("x.png", b"abc")}}, 400, "missing_file"),
        ({"files": {"file": ("x.png", b"")}}, 400, "empty_file"),
        ({"data": b"", "headers": {"Content-Type": "image/png"}}, 400, "empty_body"),
        ({"files": {"file": ("x.png", b"just some text")}}, 415, "unsupported_media_type"),
        ({"data": b"hello", "headers": {"Content-Type": "text/plain"}}, 415, "unsupported_content_type"),
        ({"data": b"{bad json", "headers": {"Content-Type": "application/json"}}, 400, "invalid_json"),
        ({"json": {"image": "***not base64***"}}, 400, "invalid_base64"),
        ({"data": b"\0" * (5 * 1024 * 1024), "headers": {"Content-Type": "image/png"}}, 413, "payload_too_large"),
    ],
)
def test_bad_requests_get_clear_errors(predict_url, kwargs, status, code):
    answer = http.post(predict_url, timeout=30, **kwargs)
    assert answer.status_code == status, answer.text
    assert answer.json()["error"] == code and answer.json()["message"]


def test_blank_image_is_422_and_unknown_ids_404(predict_url):
    blank = io.BytesIO()
    Image.new("L", (100, 100), 255).save(blank, "PNG")
    answer = http.post(predict_url, files={"file": ("blank.png", blank.getvalue())}, timeout=30)
    assert answer.status_code == 422 and answer.json()["error"] == "no_digit_found"
    assert http.get(predict_url + "/predictions/not-an-id", timeout=10).status_code == 404
    missing = http.get(predict_url + "/predictions/8c1f6c1e-0000-11f0-8000-000000000000", timeout=10)
    assert missing.status_code == 404 and missing.json()["error"] == "not_found"
    assert http.get(predict_url + "/predictions?limit=0", timeout=10).status_code == 400


def test_no_model_is_503_with_retry_after(tmp_path):
    env = {"MODEL_STORE": f"file://{tmp_path / 'empty'}", "PREDICTION_LOG": f"sqlite://{tmp_path / 'p.db'}"}
    with inprocess_function("predict", env, tmp_path) as url:
        answer = http.post(url, files={"file": ("3.png", (GOLDEN / "3_canvas.png").read_bytes())}, timeout=30)
        assert answer.status_code == 503 and answer.json()["error"] == "model_unavailable"
        assert answer.headers["Retry-After"]
        assert http.get(url + "/healthz", timeout=10).status_code == 503


@pytest.mark.parametrize("mode, token, status", [("off", None, 403), ("token", None, 401), ("token", "reader", 200)])
def test_read_endpoints_can_be_closed(tmp_path, predict_env, mode, token, status):
    env = {**predict_env, "PREDICTIONS_READ": mode, "PREDICTIONS_TOKEN": "reader" if mode == "token" else ""}
    with inprocess_function("predict", env, tmp_path) as url:
        posted = http.post(url, files={"file": ("3.png", (GOLDEN / "3_canvas.png").read_bytes())}, timeout=30)
        assert posted.status_code == 200  # predicting stays open
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        assert http.get(url + "/predictions", headers=headers, timeout=10).status_code == status
        one = http.get(f"{url}/predictions/{posted.json()['id']}/image", headers=headers, timeout=10)
        assert one.status_code == status
        assert http.get(url + "/stats", headers=headers, timeout=10).status_code == status
        label = http.post(
            f"{url}/predictions/{posted.json()['id']}/label", json={"label": 1}, headers=headers, timeout=10
        )
        assert label.status_code == status


def test_hostile_filenames_and_part_counts(predict_url):
    data = (GOLDEN / "3_canvas.png").read_bytes()
    for raw, expected in [("../../etc/passwd", "passwd"), ("a\x00b.png", "ab.png"), ("x" * 5000 + ".png", None)]:
        body = http.post(predict_url, files={"file": (raw, data)}, timeout=30).json()
        assert "/" not in body["filename"] and "\x00" not in body["filename"] and len(body["filename"]) <= 200
        if expected:
            assert body["filename"] == expected
    many = http.post(predict_url, files=[("file", ("d.png", b"x"))] * 1000, timeout=60)
    assert many.status_code == 413 and many.json()["error"] in ("too_many_parts", "too_many_files")
    assert http.get(predict_url + "/healthz", timeout=10).status_code == 200


def test_bad_input_corpus_over_http(predict_url):
    """Every case answers as expected and the server stays healthy after each."""
    from tests.fixtures.bad_inputs import corpus

    for name, (filename, data, status, code) in corpus().items():
        answer = http.post(predict_url, files={"file": (filename, data)}, timeout=60)
        assert answer.status_code == status, f"{name}: {answer.status_code} {answer.text[:200]}"
        if code:
            assert answer.json()["error"] == code, name
        else:
            assert answer.json()["digit"] == 3, name
        assert http.get(predict_url + "/healthz", timeout=10).status_code == 200, name


def test_oversized_and_odd_requests(predict_url):
    big = http.post(predict_url, files={"file": ("big.png", b"\0" * (20 * 1024 * 1024))}, timeout=60)
    assert big.status_code == 413 and big.json()["error"] == "payload_too_large"
    raw_name = http.post(  # a non-UTF-8 filename in the multipart header
        predict_url,
        data=b'--b\r\nContent-Disposition: form-data; name="file"; filename="\xff\xfe.png"\r\n\r\n'
        + (GOLDEN / "3_canvas.png").read_bytes()
        + b"\r\n--b--\r\n",
        headers={"Content-Type": "multipart/form-data; boundary=b"},
        timeout=30,
    )
    # multipart headers must be UTF-8 (RFC 7578); the answer says so instead of guessing
    assert raw_name.status_code == 400 and raw_name.json()["error"] == "invalid_multipart"
    assert "utf-8" in raw_name.json()["message"]
    cut_off = http.post(  # the connection's body ends inside the part: no closing boundary
        predict_url,
        data=b'--b\r\nContent-Disposition: form-data; name="file"; filename="3.png"\r\n\r\n'
        + (GOLDEN / "3_canvas.png").read_bytes()[:300],
        headers={"Content-Type": "multipart/form-data; boundary=b"},
        timeout=30,
    )
    assert cut_off.status_code == 400 and cut_off.json()["error"] == "invalid_multipart", cut_off.text
    empty_name = http.post(predict_url, files={"file": ("", (GOLDEN / "3_canvas.png").read_bytes())}, timeout=30)
    assert empty_name.status_code == 200 and empty_name.json()["filename"] == "upload"
    assert http.get(predict_url + "/healthz", timeout=10).status_code == 200


def _predict(url: str, name: str = "4_canvas.png") -> dict:
    answer = http.post(url, files={"file": (name, (GOLDEN / name).read_bytes())}, timeout=30)
    answer.raise_for_status()
    return answer.json()


@pytest.mark.parametrize(
    "body, code",
    [
        (b"", "invalid_json"),
        (b"{label: 3}", "invalid_json"),
        (b'{"label": 10}', "invalid_label"),
        (b'{"label": -1}', "invalid_label"),
        (b'{"label": "3"}', "invalid_label"),
        (b'{"label": true}', "invalid_label"),
        (b'{"label": 3.5}', "invalid_label"),
        (b"[3]", "invalid_label"),
        (b'{"label": 3, "note": "x"}', "invalid_label"),
        (b'{"label": null}', "invalid_label"),
        (b'{"label": "not a digit"}', "invalid_label"),
        (b"[" * 100_000, "invalid_json"),
        (b'{"label": ' + b"{" * 50_000, "invalid_json"),
    ],
)
def test_bad_corrections_are_400_and_change_nothing(predict_url, body, code):
    pid = _predict(predict_url)["id"]
    answer = http.post(
        f"{predict_url}/predictions/{pid}/label", data=body, timeout=10, headers={"Content-Type": "application/json"}
    )
    assert (answer.status_code, answer.json()["error"]) == (400, code)
    assert http.get(f"{predict_url}/predictions/{pid}", timeout=10).json()["label"] is None


def test_not_a_digit_is_a_correction_too(predict_url):
    """A person says the picture was no digit: stored, answered and listed as "not_a_digit", counted in the
    stats as a corrected answer the model got wrong (it had read a 4)."""
    pid = _predict(predict_url)["id"]
    answer = http.post(f"{predict_url}/predictions/{pid}/label", json={"label": "not_a_digit"}, timeout=10)
    assert answer.status_code == 200 and answer.json()["label"] == "not_a_digit"
    assert http.get(f"{predict_url}/predictions/{pid}", timeout=10).json()["label"] == "not_a_digit"
    assert http.get(f"{predict_url}/predictions", timeout=10).json()["predictions"][0]["label"] == "not_a_digit"
    total = http.get(f"{predict_url}/stats?days=1", timeout=10).json()["total"]
    assert (total["corrected"], total["corrected_accuracy"]) == (1, 0.0)


def test_a_correction_is_stored_replaced_and_reported(predict_url):
    pid = _predict(predict_url)["id"]
    first = http.post(f"{predict_url}/predictions/{pid}/label", json={"label": 9}, timeout=10)
    assert first.status_code == 200 and first.json()["label"] == 9 and first.json()["labelled_at"].endswith("Z")
    http.post(f"{predict_url}/predictions/{pid}/label", json={"label": 4}, timeout=10).raise_for_status()
    assert http.get(f"{predict_url}/predictions/{pid}", timeout=10).json()["label"] == 4
    total = http.get(f"{predict_url}/stats?days=1", timeout=10).json()["total"]
    assert (total["count"], total["corrected"], total["corrected_accuracy"]) == (1, 1, 1.0)  # 4 was right
    unknown = "6f1c9a2e-0000-11f1-8000-000000000000"
    assert http.post(f"{predict_url}/predictions/{unknown}/label", json={"label": 1}, timeout=10).status_code == 404
    assert http.post(f"{predict_url}/predictions/nope/label", json={"label": 1}, timeout=10).status_code == 404
    wrong_method = http.get(f"{predict_url}/predictions/{pid}/label", timeout=10)
    assert wrong_method.status_code == 405 and wrong_method.headers["Allow"] == "POST"


@pytest.mark.parametrize(
    "query, status", [("", 200), ("?days=90", 200), ("?days=0", 400), ("?days=91", 400), ("?days=week", 400)]
)
def test_stats_days_are_validated(predict_url, query, status):
    answer = http.get(f"{predict_url}/stats{query}", timeout=10)
    assert answer.status_code == status and answer.headers["Content-Type"] == "application/json"
    if status == 200:
        assert len(answer.json()["days"]) == int(query.partition("=")[2] or 7)
    else:
        assert answer.json()["error"] == "invalid_days"


def test_low_confidence_filter_and_its_validation(predict_url):
    _predict(predict_url)
    everything = http.get(f"{predict_url}/predictions", timeout=10).json()
    low = http.get(f"{predict_url}/predictions?low_confidence=true", timeout=10).json()
    threshold = everything["low_confidence_below"]
    assert [p["id"] for p in low["predictions"]] == [
        p["id"] for p in everything["predictions"] if p["confidence"] < threshold
    ]
    bad = http.get(f"{predict_url}/predictions?low_confidence=maybe", timeout=10)
    assert (bad.status_code, bad.json()["error"]) == (400, "invalid_low_confidence")


def test_page_assets_are_served_with_etags(predict_url):
    for name, kind in (("app.js", "text/javascript"), ("app.css", "text/css"), ("stats.js", "text/javascript")):
        answer = http.get(f"{predict_url}/assets/{name}", timeout=10)
        assert answer.status_code == 200 and answer.headers["Content-Type"].startswith(kind)
        again = http.get(f"{predict_url}/assets/{name}", headers={"If-None-Match": answer.headers["ETag"]}, timeout=10)
        assert again.status_code == 304
    for missing in ("nope.js", "..%2Fpredict_app.py", ".hidden.js"):
        assert http.get(f"{predict_url}/assets/{missing}", timeout=10).status_code == 404
    page = http.get(f"{predict_url}/stats", headers={"Accept": "text/html"}, timeout=10)
    assert page.headers["Content-Type"].startswith("text/html") and "assets/stats.js" in page.text
    data = http.get(f"{predict_url}/stats", timeout=10)
    for answer in (page, data):  # one URL, two answers: a cache must tell them apart by Accept
        assert "Accept" in [v.strip() for v in answer.headers["Vary"].split(",")]


def _raw(url: str, encoding: str, **headers: str):
    """A GET whose body is left as it came (requests would decode gzip itself)."""
    return http.get(url, headers={"Accept-Encoding": encoding, **headers}, timeout=10, stream=True)


@pytest.mark.parametrize("path", ["/", "/assets/app.js", "/assets/app.css", "/assets/stats.js", "/stats"])
def test_pages_and_their_assets_are_gzipped_for_a_client_that_asks(predict_url, path):
    plain = _raw(predict_url + path, "identity", Accept="text/html")
    packed = _raw(predict_url + path, "gzip, deflate, br", Accept="text/html")
    assert "Content-Encoding" not in plain.headers and packed.headers["Content-Encoding"] == "gzip"
    for answer in (plain, packed):
        assert "accept-encoding" in answer.headers["Vary"].lower()  # a shared cache keeps the two apart
    body = packed.raw.read()
    assert (
        len(body) < len(plain.raw.read())
        and gzip.decompress(body) == http.get(predict_url + path, headers={"Accept": "text/html"}, timeout=10).content
    )
    assert packed.headers["ETag"] != plain.headers["ETag"]  # two representations, two validators
    again = _raw(predict_url + path, "gzip", Accept="text/html", **{"If-None-Match": packed.headers["ETag"]})
    assert again.status_code == 304
    refused = _raw(predict_url + path, "gzip;q=0, identity", Accept="text/html")
    assert "Content-Encoding" not in refused.headers


def test_a_predictions_json_answer_is_never_compressed_and_reads_are(predict_url):
    with open(GOLDEN / "3_canvas.png", "rb") as f:
        answer = http.post(predict_url, files={"file": ("3.png", f)}, headers={"Accept-Encoding": "gzip"}, timeout=30)
    assert answer.status_code == 200 and "Content-Encoding" not in answer.headers
    for _ in range(6):
        http.post(predict_url, files={"file": ("3.png", (GOLDEN / "3_canvas.png").read_bytes())}, timeout=30)
    listed = _raw(f"{predict_url}/predictions", "gzip")
    assert listed.headers["Content-Encoding"] == "gzip"
    assert len(json.loads(gzip.decompress(listed.raw.read()))["predictions"]) == 7


def test_stored_originals_are_served_as_what_their_bytes_are(predict_url):
    """A page declared as a picture never comes back as a page; a real picture comes back as its real type."""
    png = (GOLDEN / "3_canvas.png").read_bytes()
    disguised = http.post(predict_url, files={"file": ("3.html", png, "text/html")}, timeout=30).json()
    served = http.get(f"{predict_url}/predictions/{disguised['id']}/image", timeout=10)
    assert served.headers["Content-Type"] == "image/png" and served.content == png
    assert served.headers["X-Content-Type-Options"] == "nosniff"
    page = http.get(predict_url, headers={"Accept": "text/html"}, timeout=10)
    assert "script-src 'self'" in page.headers["Content-Security-Policy"]
    assert "frame-ancestors 'none'" in page.headers["Content-Security-Policy"]


def test_non_images_are_never_served_with_a_declared_type(tmp_path, predict_env):
    """Bytes stored as an original that are no image (a log written by another version, an operator's
    hand) come back as a download, never rendered."""
    from service.predict.history import stored_image_response

    answer = stored_image_response(b"<script>alert(1)</script>")
    assert answer.content_type == "application/octet-stream" and answer.headers["Content-Disposition"] == "attachment"


def test_corrections_are_json_only_and_can_have_their_own_token(tmp_path, predict_env):
    env = {**predict_env, "CORRECTIONS_TOKEN": "corrector"}
    with inprocess_function("predict", env, tmp_path) as url:
        pid = http.post(url, files={"file": ("3.png", (GOLDEN / "3_canvas.png").read_bytes())}, timeout=30).json()["id"]
        target = f"{url}/predictions/{pid}/label"
        as_form = http.post(target, data={"label": "1"}, headers={"Authorization": "Bearer corrector"}, timeout=10)
        assert (as_form.status_code, as_form.json()["error"]) == (415, "unsupported_content_type")
        anonymous = http.post(target, json={"label": 1}, timeout=10)
        assert anonymous.status_code == 401 and "CORRECTIONS_TOKEN" in anonymous.json()["message"]
        assert http.get(f"{url}/predictions/{pid}", timeout=10).json()["label"] is None  # reading stays public
        allowed = http.post(target, json={"label": 1}, headers={"Authorization": "Bearer corrector"}, timeout=10)
        assert allowed.status_code == 200 and allowed.json()["label"] == 1


def test_a_correction_answers_only_what_a_correction_needs(tmp_path, predict_env):
    """The corrections token may correct, not read: its answer names the target and the label stored, nothing
    of the upload (its name, request id, answer, confidence). An unknown id is a 404 that says no more."""
    env = {**predict_env, "CORRECTIONS_TOKEN": "corrector", "PREDICTIONS_READ": "token", "PREDICTIONS_TOKEN": "reader"}
    with inprocess_function("predict", env, tmp_path) as url:
        png = (GOLDEN / "3_canvas.png").read_bytes()
        pid = http.post(
            url, files={"file": ("private-name.png", png)}, headers={"X-Request-Id": "upload-request-42"}, timeout=30
        ).json()["id"]
        corrector = {"Authorization": "Bearer corrector"}
        assert http.get(f"{url}/predictions/{pid}", headers=corrector, timeout=10).status_code == 401
        answer = http.post(f"{url}/predictions/{pid}/label", json={"label": 1}, headers=corrector, timeout=10)
        assert answer.status_code == 200
        body = answer.json()
        assert set(body) == {"id", "label", "labelled_at"} and (body["id"], body["label"]) == (pid, 1)
        assert body["labelled_at"].endswith("Z")
        assert "private-name" not in answer.text and "upload-request-42" not in answer.text
        unknown = "6f1c9a2e-0000-11f1-8000-000000000000"
        missing = http.post(f"{url}/predictions/{unknown}/label", json={"label": 1}, headers=corrector, timeout=10)
        assert missing.status_code == 404 and set(missing.json()) == {"error", "message"}
        stored = http.get(f"{url}/predictions/{pid}", headers={"Authorization": "Bearer reader"}, timeout=10).json()
        assert (stored["label"], stored["filename"]) == (1, "private-name.png")


def test_deep_json_uploads_are_400(predict_url):
    answer = http.post(
        predict_url, data=b'{"image": ' + b"[" * 100_000, timeout=10, headers={"Content-Type": "application/json"}
    )
    assert (answer.status_code, answer.json()["error"]) == (400, "invalid_json")


def test_costly_images_are_refused_over_http(predict_url):
    """A 123 KB JPEG of 2,000 scans (19.9 s of CPU to decode fully) and eight 20 MP images in one request."""
    scans = http.post(predict_url, files={"file": ("s.jpg", many_scan_jpeg(2000))}, timeout=30)
    assert (scans.status_code, scans.json()["error"]) == (422, "image_too_costly")
    big = io.BytesIO()
    Image.new("L", (5000, 4000), 255).save(big, "PNG")
    many = http.post(predict_url, files=[("file", (f"{i}.png", big.getvalue())) for i in range(8)], timeout=30)
    assert (many.status_code, many.json()["error"]) == (413, "request_too_costly")
    assert "MAX_REQUEST_PIXELS" in many.json()["message"]


def test_non_finite_pixels_are_422_before_any_model_or_log_sees_them(predict_url, tmp_path):
    """A float TIFF whose ink is NaN: a JSON client got 500, a browser form 200 "digit 0, confidence nan%" whose
    record the log then dropped, and a multi-file request committed its good parts and answered 500."""
    values = np.full((100, 100), 1.0, dtype=np.float32)
    values[20:80, 45:55] = float("nan")
    nan_tiff = io.BytesIO()
    Image.fromarray(values, "F").save(nan_tiff, "TIFF")
    upload = {"file": ("nan.tif", nan_tiff.getvalue())}
    answer = http.post(predict_url, files=upload, headers={"Accept": "application/json"}, timeout=30)
    assert answer.status_code == 422, answer.text
    assert answer.json()["error"] == "non_finite_pixels" and "NaN" in answer.json()["message"]
    page = http.post(predict_url, files=upload, headers={"Accept": "text/html,*/*;q=0.8"}, timeout=30)
    assert page.status_code == 422 and page.headers["Content-Type"].startswith("text/html")  # the form's error page
    assert "non_finite_pixels" in page.text and "NaN" in page.text
    good = (GOLDEN / "3_canvas.png").read_bytes()
    mixed = http.post(
        predict_url, files=[("file", ("3.png", good)), ("file", ("nan.tif", nan_tiff.getvalue()))], timeout=30
    )
    assert mixed.status_code == 200, mixed.text
    first, second = mixed.json()
    assert first["digit"] == 3 and second["error"] == "non_finite_pixels"
    assert http.get(f"{predict_url}/predictions/{first['id']}", timeout=10).status_code == 200
    logged = sqlite3.connect(tmp_path / "predictions.db").execute("SELECT filename FROM predictions").fetchall()
    assert logged == [("3.png",)]
    metrics = http.get(predict_url + "/metrics", timeout=10).text
    assert "NaN" not in metrics


def test_during_an_outage_an_answered_upload_is_readable_and_its_correction_retried(predict_url, tmp_path):
    """The log refuses writes (another connection's exclusive transaction): the upload is answered from the
    spool; reading it answers the record, correcting it a 503 with Retry-After, and after the replay both work."""
    import time

    from tests.fixtures.sqlite_log import Outage

    with Outage(tmp_path / "predictions.db"):
        answer = http.post(predict_url, files={"file": ("3.png", (GOLDEN / "3_canvas.png").read_bytes())}, timeout=30)
        assert answer.status_code == 200, answer.text
        pid = answer.json()["id"]
        read = http.get(f"{predict_url}/predictions/{pid}", timeout=10)
        assert read.status_code == 200 and read.json()["digit"] == 3
        label = http.post(f"{predict_url}/predictions/{pid}/label", json={"label": 8}, timeout=10)
        assert label.status_code == 503 and label.headers["Retry-After"], label.text
        assert label.json()["error"] == "log_unavailable"
    deadline = time.monotonic() + 30
    while (
        label := http.post(f"{predict_url}/predictions/{pid}/label", json={"label": 8}, timeout=10)
    ).status_code == 503:
        assert time.monotonic() < deadline, "the spooled upload was never replayed"
        time.sleep(0.2)
    assert label.status_code == 200 and label.json()["label"] == 8
    assert http.get(f"{predict_url}/predictions/{pid}", timeout=10).json()["label"] == 8


@pytest.mark.parametrize(
    "path, query, name",
    [
        ("/predictions", "limit=5_0", "limit"),  # Python's int() takes underscores
        ("/predictions", "limit=%D9%A5", "limit"),  # and ARABIC-INDIC DIGIT FIVE
        ("/predictions", "limit=%205", "limit"),  # and spaces around
        ("/predictions", "limit=5%20", "limit"),
        ("/predictions", "limit=%2B5", "limit"),  # and a plus sign
        ("/predictions", "low_confidence=TRUE", "low_confidence"),
        ("/predictions", "low_confidence=%20yes", "low_confidence"),
        ("/predictions", "low_confidence=No", "low_confidence"),
        ("/stats", "days=%207", "days"),
        ("/stats", "days=%EF%BC%97", "days"),  # FULLWIDTH DIGIT SEVEN
    ],
)
def test_query_values_are_taken_only_as_the_document_writes_them(predict_url, path, query, name):
    answer = http.get(f"{predict_url}{path}?{query}", timeout=10)
    assert (answer.status_code, answer.json()["error"]) == (400, f"invalid_{name}"), answer.text
    document = http.get(f"{predict_url}/openapi.json", timeout=10).json()
    [low] = [p for p in document["paths"]["/predictions"]["get"]["parameters"] if p["name"] == "low_confidence"]
    for word in low["schema"]["enum"]:  # every word the document lists is taken
        assert http.get(f"{predict_url}/predictions?low_confidence={word}", timeout=10).status_code == 200


def test_an_id_in_capitals_names_the_same_record(predict_url):
    """A UUID's hex digits are case-insensitive: every route of a record takes its id in either case and
    answers with the id as it was handed out. Other ways of writing a UUID name nothing."""
    pid = _predict(predict_url)["id"]
    upper = pid.upper()
    assert http.get(f"{predict_url}/predictions/{upper}", timeout=10).json()["id"] == pid
    for tail in ("/image", "/normalised.png"):
        assert http.get(f"{predict_url}/predictions/{upper}{tail}", timeout=10).status_code == 200
    fixed = http.post(f"{predict_url}/predictions/{upper}/label", json={"label": 4}, timeout=10)
    assert fixed.status_code == 200 and fixed.json()["id"] == pid
    assert http.get(f"{predict_url}/predictions/{pid}", timeout=10).json()["label"] == 4
    for other in ("{" + pid + "}", "urn:uuid:" + pid, pid.replace("-", "")):
        assert http.get(f"{predict_url}/predictions/{other}", timeout=10).status_code == 404
    document = http.get(f"{predict_url}/openapi.json", timeout=10).json()
    [segment] = [p for p in document["paths"]["/predictions/{prediction_id}"]["get"]["parameters"] if p["in"] == "path"]
    assert re.fullmatch(segment["schema"]["pattern"].strip("^$"), upper) and "either case" in segment["description"]


def test_the_document_lists_every_body_and_query_an_upload_may_use(predict_url):
    """Each way POST / takes a picture is in the API document: raw bodies of any image type or of none, the
    JSON body under both its types, and the filename query parameter that names a raw body."""
    three = (GOLDEN / "3_canvas.png").read_bytes()
    gif = io.BytesIO()
    Image.open(io.BytesIO(three)).save(gif, "GIF")
    sent = [
        ("image/gif", gif.getvalue(), "?filename=three.gif"),
        ("application/octet-stream", three, "?filename=three.png"),
        ("text/json", json.dumps({"image": base64.b64encode(three).decode()}).encode(), ""),
    ]
    document = http.get(f"{predict_url}/openapi.json", timeout=10).json()["paths"]["/"]["post"]
    documented = document["requestBody"]["content"]
    for content_type, body, query in sent:
        answer = http.post(predict_url + query, data=body, headers={"Content-Type": content_type}, timeout=30)
        assert answer.status_code == 200 and answer.json()["digit"] == 3, answer.text
        assert any(fnmatch.fnmatch(content_type, media) for media in documented), content_type
        if query:
            assert answer.json()["filename"] == query.partition("=")[2]
    assert "filename" in [p["name"] for p in document["parameters"] if p["in"] == "query"]
    links = document["responses"]["200"]["links"]
    assert {link["operationId"] for link in links.values()} >= {"getPrediction", "correctPrediction"}


def test_refused_parts_leave_no_garbage_holding_their_pictures(predict_env, monkeypatch):
    """A refused part's error kept its traceback, whose frames held the picture's arrays and the list it was kept
    in: a cycle only the garbage collector freed, so a worker sent many-part requests of blank pictures grew by
    their decoded size each time, far past any budget, until a collection happened to run."""
    import gc

    from urllib3 import encode_multipart_formdata

    from ml.errors import MLError
    from service.http.entry import predict_function
    from service.http.messages import Request
    from service.settings import Settings

    for name, value in predict_env.items():
        monkeypatch.setenv(name, value)
    entry = predict_function(Settings.from_env())
    blank = io.BytesIO()
    Image.new("L", (400, 400), 255).save(blank, "PNG")
    body, content_type = encode_multipart_formdata([("file", (f"{n}.png", blank.getvalue())) for n in range(8)])
    gc.collect()
    gc.disable()
    try:
        answer = entry.handle(Request("POST", "/", {"content-type": content_type}, {}, body))
        left = [o for o in gc.get_objects() if isinstance(o, MLError)]
    finally:
        gc.enable()
    assert answer.status == 200 and len(left) == 0, left[:3]

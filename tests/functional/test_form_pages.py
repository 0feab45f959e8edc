"""The no-JavaScript form's answers through the whole function (in-process, its Lambda entry): errors found
before the handler runs (a body over the limit) and after it (a log that refuses the record) are pages too."""

from __future__ import annotations

import html

from urllib3 import encode_multipart_formdata

from tests.conftest import GOLDEN
from tests.fixtures.events import http, inprocess_function

SEVEN = (GOLDEN / "7_canvas.png").read_bytes()
BROWSER = "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8"


def _form(accept: str) -> dict:
    body, content_type = encode_multipart_formdata([("file", ("7.png", SEVEN))])
    return {"data": body, "headers": {"Content-Type": content_type, "Accept": accept}}


def test_errors_before_and_after_the_handler_are_pages_for_the_form_and_json_for_curl(predict_env, tmp_path):
    cases = {
        413: {"MAX_UPLOAD_BYTES": "1024"},
        503: {"PREDICTION_LOG": f"sqlite://{tmp_path / 'a-folder'}", "SPOOL_MAX_BYTES": "1024"},
    }
    (tmp_path / "a-folder").mkdir()
    for status, env in cases.items():
        with inprocess_function("predict", {**predict_env, **env}, tmp_path / str(status)) as url:
            page = http.post(url + "/", **_form(BROWSER))
            api = http.post(url + "/", **_form("*/*"))
        assert page.status_code == api.status_code == status
        assert page.headers["Content-Type"].startswith("text/html") and "assets/app.css" in page.text
        assert api.json()["message"] in html.unescape(page.text)
        assert "Content-Security-Policy" in page.headers and "Content-Security-Policy" not in api.headers
        if status == 503:
            assert page.headers["Retry-After"] == api.headers["Retry-After"]

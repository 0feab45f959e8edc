"""The no-JavaScript form's errors: a page for a browser that posted the form, the API's JSON for everyone else."""

from __future__ import annotations

import json

import pytest

from service.http.error_pages import for_pages
from service.http.layout import base_of
from service.http.messages import Request, Response, json_response

BROWSER = "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8"


def _request(method: str = "POST", path: str = "/", accept: str = BROWSER) -> Request:
    return Request(method, path, {"accept": accept, "content-type": "multipart/form-data; boundary=b"}, {}, b"")


def _error(status: int = 415, message: str = "the file is not an image", headers: dict | None = None) -> Response:
    return json_response(status, {"error": "unsupported_media_type", "message": message}, headers)


def test_a_form_posted_by_a_browser_gets_its_error_as_a_styled_page_with_the_same_status():
    answer = for_pages(_request(), _error(503, "no model yet", {"Retry-After": "5"}))
    page = answer.body.decode()
    assert (answer.status, answer.content_type) == (503, "text/html; charset=utf-8")
    assert answer.headers == {"Retry-After": "5"}  # what the error said beyond its body is kept
    assert '<link rel="stylesheet" href="assets/app.css">' in page and 'rel="icon"' in page
    assert "no model yet" in page and "unsupported_media_type" in page and 'href="./"' in page


def test_the_message_is_escaped():
    page = for_pages(_request(), _error(message='<script>alert("x")</script>.png')).body.decode()
    assert "<script>" not in page and "&lt;script&gt;" in page


@pytest.mark.parametrize(
    "request_",
    [
        _request(accept="*/*"),  # curl
        _request(accept="application/json"),  # the page's own fetch()
        _request(accept="text/html, application/json"),  # a tie: JSON
        _request(method="GET"),  # a browser navigating to an API URL: not a form it posted
    ],
    ids=["curl", "fetch", "tie", "get"],
)
def test_everyone_else_keeps_the_json_error(request_):
    error = _error()
    assert for_pages(request_, error) is error


def test_answers_that_are_not_json_errors_are_left_alone():
    ok = json_response(200, {"digit": 3})
    page = Response(422, b"<p class=digit>not a digit</p>", "text/html; charset=utf-8")
    odd = Response(500, json.dumps(["not", "an", "error"]).encode())
    assert all(for_pages(_request(), answer) is answer for answer in (ok, page, odd))


@pytest.mark.parametrize(
    ("path", "base"), [("/", ""), ("/predictions", ""), ("/predictions/", "../"), ("/predictions/x/label", "../../")]
)
def test_the_pages_links_are_relative_to_where_the_form_was_posted(path, base):
    assert base_of(_request(path=path)) == base
    page = for_pages(_request(path=path), _error()).body.decode()
    assert f'href="{base}assets/app.css"' in page

"""The request plumbing that replaced werkzeug on the request path: routing, Accept, multipart."""

from __future__ import annotations

import pytest

from service.errors import HTTPError
from service.http.messages import Request, json_response
from service.http.params import media_ranges, quality_of, wants_html
from service.http.routes import Route, Router
from service.http.uploads import extract_uploads


def _route(method: str, path: str) -> tuple[Route, str]:
    return Route(method, path, path, "", {}), f"{method} {path}"  # the handler stands for itself


ROUTER = Router(
    [
        _route("GET", "/"),
        _route("POST", "/"),
        _route("GET", "/predictions/<prediction_id>"),
        _route("POST", "/predictions/<prediction_id>/label"),
    ],
    None,
    "try POST /",
)


def test_routes_match_templates_head_and_trailing_slashes():
    assert ROUTER.match("post", "/")[1:] == ("POST /", {})
    assert ROUTER.match("GET", "/predictions/abc-1/")[1:] == (
        "GET /predictions/<prediction_id>",
        {"prediction_id": "abc-1"},
    )
    assert ROUTER.match("HEAD", "/predictions/x")[1] == "GET /predictions/<prediction_id>"
    assert ROUTER.route_of("GET", "/predictions/a/b") == "other"  # a segment never spans a '/'
    assert ROUTER.match("POST", "/predictions/x/label")[0].openapi_path == "/predictions/{prediction_id}/label"


def test_routes_refuse_with_404_or_405_and_allow():
    with pytest.raises(HTTPError) as wrong_method:
        ROUTER.match("DELETE", "/")
    assert wrong_method.value.status == 405 and wrong_method.value.headers == {"Allow": "GET, POST"}
    with pytest.raises(HTTPError) as missing:
        ROUTER.match("GET", "/nowhere")
    assert missing.value.status == 404 and "try POST /" in missing.value.message


@pytest.mark.parametrize(
    "accept, html",
    [
        ("text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8", True),  # a browser navigating
        ("*/*", False),  # curl: a tie goes to JSON
        ("", False),
        ("application/json", False),
        ("text/*;q=0.5, application/json;q=0.4", True),
        ("text/html;q=0, */*", False),  # q=0: not acceptable at all
        ("text/html;q=nan, application/json;q=0.1", False),  # a malformed q counts as 0
    ],
)
def test_accept_header_picks_html_only_when_preferred(accept, html):
    assert wants_html(Request("GET", "/", {"accept": accept}, {}, b"")) is html


def test_media_ranges_keep_the_most_specific_quality():
    ranges = media_ranges("text/*;q=0.3, text/html;q=0.7, */*;q=0.1")
    assert quality_of(ranges, "text/html") == 0.7 and quality_of(ranges, "text/plain") == 0.3
    assert quality_of(ranges, "image/png") == 0.1 and quality_of([], "text/html") == 0.0


def _multipart(body: bytes, boundary: str = "b") -> Request:
    return Request("POST", "/", {"content-type": f"multipart/form-data; boundary={boundary}"}, {}, body)


def _part(name: str, data: bytes, filename: str | None = "d.png", extra: str = "") -> bytes:
    disposition = f'form-data; name="{name}"' + (f'; filename="{filename}"' if filename is not None else "")
    return f"--b\r\nContent-Disposition: {disposition}{extra}\r\n\r\n".encode() + data + b"\r\n"


def test_multipart_keeps_file_parts_of_the_field_in_order():
    body = (
        _part("note", b"hello", None)
        + _part("file", b"AAA", "ä.png")
        + _part("file", b"B" * 5000, "2.png")
        + b"--b--\r\n"
    )
    uploads = extract_uploads(_multipart(body), 10**6, 4)
    assert extract_uploads(_multipart(_part("file", b"x") + b"--b--"), 10**6, 4)[0].data == b"x"  # no final CRLF
    assert [(u.filename, u.data[:3], len(u.data)) for u in uploads] == [("ä.png", b"AAA", 3), ("2.png", b"BBB", 5000)]


@pytest.mark.parametrize(
    "body, status, code",
    [
        (_part("file", b"x") + b"--b", 400, "invalid_multipart"),  # a delimiter, not the closing one
        (_part("file", b"x"), 400, "invalid_multipart"),  # no closing boundary at all
        (b"garbage", 400, "invalid_multipart"),
        (_part("picture", b"x") + b"--b--\r\n", 400, "missing_file"),
        (_part("file", b"") + b"--b--\r\n", 400, "empty_file"),
        (_part("file", b"x") * 30 + b"--b--\r\n", 413, "too_many_parts"),
        (_part("file", b"x", "a" * 20_000) + b"--b--\r\n", 400, "invalid_multipart"),  # one header line of 20 KB
    ],
)
def test_multipart_refusals_name_the_problem(body, status, code):
    with pytest.raises(HTTPError) as refused:
        extract_uploads(_multipart(body), 10**6, 4)
    assert (refused.value.status, refused.value.code) == (status, code)


@pytest.mark.parametrize(
    "content_type, status, code",
    [
        ("multipart/form-data; boundary=" + "b" * 300, 400, "invalid_multipart"),  # RFC 2046: at most 70
        ("image/png; note=\u20ac", 415, "unsupported_content_type"),  # not ISO-8859-1: a Lambda event can carry it
        ('multipart/form-data; boundary="\u20ac"', 415, "unsupported_content_type"),
    ],
)
def test_odd_content_types_are_refused_not_crashed_on(content_type, status, code):
    with pytest.raises(HTTPError) as refused:
        extract_uploads(Request("POST", "/", {"content-type": content_type}, {}, b"--b\r\n"), 10**6, 4)
    assert (refused.value.status, refused.value.code) == (status, code)


def test_a_json_answer_is_compact_utf8_with_string_keys_and_null_for_what_json_cannot_hold():
    response = json_response(200, {"digit": 7, 3: "three", "name": "día", "nan": float("nan"), "inf": float("inf")})
    assert response.content_type == "application/json"
    assert response.body == '{"digit":7,"3":"three","name":"día","nan":null,"inf":null}'.encode()

"""service/http/params.py, the parsing that decides what a client gets: Accept (HTML or JSON), the JSON-only endpoints'
Content-Type, the query string and the label body, with the text of every 400 and 415 a client reads. Each test
here failed on a mutant of params.py that every other test let through (`make mutate`)."""

from __future__ import annotations

import pytest

from ml.parameters import Parameter, Parameters
from service.errors import HTTPError
from service.http.messages import Request
from service.http.params import (
    media_ranges,
    parse_json,
    parse_label,
    quality_of,
    query_values,
    require_json,
    wants_html,
)

HINT = 'send a JSON body such as {"label": 7}'


def _request(**headers: str) -> Request:
    return Request("POST", "/", {name.replace("_", "-"): value for name, value in headers.items()}, {}, b"")


def _refusal(call, *args) -> HTTPError:
    with pytest.raises(HTTPError) as refused:
        call(*args)
    return refused.value


# -- Accept --------------------------------------------------------------------------------------------------------
def test_media_ranges_read_case_spaces_and_parameters_as_rfc_9110_says():
    assert media_ranges(" Text/HTML ; Q=0.5 ;level=1, application/json,, image/*;level") == [
        ("text/html", 0.5),
        ("application/json", 1.0),
        ("image/*", 1.0),
    ]


@pytest.mark.parametrize(
    "q, quality",
    [("1", 1.0), ("1.000", 1.0), ("0.125", 0.125), (" 0.5 ", 0.5), ("0", 0.0)]
    + [(bad, 0.0) for bad in ("abc", "", "0.1234", "1.5", "2", "-0.5", "1.001", "nan", "inf", ".5", "0.5=1")],
)
def test_a_quality_value_is_read_only_in_rfc_9110s_form_and_any_other_is_zero(q, quality):
    assert media_ranges(f"text/html;q={q}") == [("text/html", quality)]


def test_the_most_specific_matching_range_decides_even_when_a_broader_one_is_higher():
    ranges = media_ranges("text/*;q=0.9, text/html;q=0.1, text/html;q=0.2, */*;q=0.3")
    assert quality_of(ranges, "text/html") == 0.2  # the highest of the exact ranges, not text/*'s 0.9
    assert quality_of(ranges, "text/plain") == 0.9 and quality_of(ranges, "image/png") == 0.3
    assert quality_of(media_ranges("image/png"), "text/html") == 0.0


@pytest.mark.parametrize(
    "accept, html",
    [
        ("text/html, application/json", False),  # a tie: JSON
        ("application/json;q=0.5, text/html", True),
        ("text/html;q=abc, application/json;q=0.1", False),  # a quality that is not a number counts as 0
        ("text/html;q=0.5", True),  # JSON not acceptable at all
    ],
)
def test_html_only_when_the_client_prefers_it_to_json(accept, html):
    assert wants_html(_request(accept=accept)) is html


# -- Content-Type of the JSON-only endpoints ---------------------------------------------------------------------
@pytest.mark.parametrize("content_type", ["application/json", "application/json; charset=utf-8", " Application/JSON "])
def test_json_with_parameters_or_in_any_case_is_json(content_type):
    assert require_json(_request(content_type=content_type), HINT) is None


@pytest.mark.parametrize(
    "headers, got",
    [({"content_type": "text/plain; charset=utf-8"}, "'text/plain'"), ({}, "'none'"), ({"content_type": ""}, "'none'")],
)
def test_anything_else_is_a_415_saying_what_to_send_and_what_came(headers, got):
    refused = _refusal(require_json, _request(**headers), HINT)
    assert (refused.status, refused.code) == (415, "unsupported_content_type")
    assert refused.message == f"send Content-Type: application/json (got {got}); {HINT}"


# -- bodies and queries ---------------------------------------------------------------------------------------------
def test_json_of_any_nesting_or_encoding_is_parsed_or_a_400_naming_the_problem():
    assert parse_json(b'{"label": 7}', HINT) == {"label": 7}
    for body in (b"{", b"\xff\xfe", b"[" * 100_000 + b"]" * 100_000):
        refused = _refusal(parse_json, body, HINT)
        assert (refused.status, refused.code) == (400, "invalid_json")
        assert refused.message.startswith("the body is not valid JSON (") and refused.message.endswith(f"); {HINT}")
    assert "Expecting" in _refusal(parse_json, b"{", HINT).message  # the parser's own words say where


def test_a_query_parameter_out_of_range_is_a_400_named_after_it():
    parameters = Parameters(Parameter("limit", int, 20, "how many", 1, 100))
    assert query_values(parameters, {"limit": "7"}) == {"limit": 7}
    assert query_values(parameters, {}) == {"limit": 20}
    refused = _refusal(query_values, parameters, {"limit": "500"})
    assert (refused.status, refused.code) == (400, "invalid_limit")
    assert refused.message == "limit must be a whole number from 1 to 100, not 500"


@pytest.mark.parametrize(
    "body, label",
    [(b'{"label": 7}', 7), (b'{"label": 0}', 0), (b'{"label": 9.0}', 9), (b'{"label": "not_a_digit"}', 10)],
)
def test_a_label_is_a_digit_or_not_a_digit(body, label):
    assert parse_label(body) == label


HINT_LABEL = 'send {"label": 0-9} or {"label": "not_a_digit"}'


@pytest.mark.parametrize(
    "body, message",
    [
        (b"[7]", f"{HINT_LABEL}: a JSON object, not an array"),
        (b'"7"', f"{HINT_LABEL}: a JSON object, not a string"),
        (b"7", f"{HINT_LABEL}: a JSON object, not a number"),
        (b"null", f"{HINT_LABEL}: a JSON object, not null"),
        (b'{"label": 7, "note": "x", "by": 1}', f"unknown field(s) by, note; {HINT_LABEL} only"),
        (b'{"label": 10}', f'label must be a whole number from 0 to 9 or "not_a_digit", not 10; {HINT_LABEL}'),
        (b'{"label": "7"}', f'label must be a whole number from 0 to 9 or "not_a_digit", not "7"; {HINT_LABEL}'),
        (b'{"label": null}', f'label must be a whole number from 0 to 9 or "not_a_digit", not null; {HINT_LABEL}'),
        (b'{"label": true}', f'label must be a whole number from 0 to 9 or "not_a_digit", not true; {HINT_LABEL}'),
        (
            b'{"label": "Not_A_Digit"}',
            f'label must be a whole number from 0 to 9 or "not_a_digit", not "Not_A_Digit"; {HINT_LABEL}',
        ),
        (b"{}", f"the label is missing; {HINT_LABEL}"),
        # what came is shown as JSON, as written (not escaped), and cut short: a label can be a long string
        (
            '{"label": "七"}'.encode(),
            f'label must be a whole number from 0 to 9 or "not_a_digit", not "七"; {HINT_LABEL}',
        ),
        (
            b'{"label": "' + b"x" * 60 + b'"}',
            f'label must be a whole number from 0 to 9 or "not_a_digit", not "{"x" * 39}; {HINT_LABEL}',
        ),
    ],
)
def test_a_wrong_label_body_is_a_400_saying_what_to_send_in_json_words(body, message):
    refused = _refusal(parse_label, body)
    assert (refused.status, refused.code, refused.message) == (400, "invalid_label", message)


def test_a_label_body_that_is_not_json_says_what_to_send():
    refused = _refusal(parse_label, b"seven")
    assert (refused.status, refused.code) == (400, "invalid_json") and refused.message.endswith(f"; {HINT_LABEL}")

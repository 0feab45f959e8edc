"""Query parameters and small bodies, validated into values or a 400 naming the parameter."""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from typing import Any

from ml.labels import NOT_A_DIGIT, NOT_A_DIGIT_LABEL
from ml.parameters import Parameter, ParameterError, Parameters
from service.errors import HTTPError
from service.http.messages import Request

_QUALITY = re.compile(r"\s*(?:0(?:\.\d{0,3})?|1(?:\.0{0,3})?)\s*")  # RFC 9110's qvalue


def media_ranges(accept: str) -> list[tuple[str, float]]:
    """An Accept header's media ranges with their quality (1 unless ``q`` says otherwise; a malformed
    ``q`` counts as 0: that range is not acceptable)."""
    ranges = []
    for item in accept.split(","):
        media, *options = item.split(";")
        quality = 1.0
        for option in options:
            name, _, value = option.partition("=")
            if name.strip().lower() == "q":
                quality = float(value) if _QUALITY.fullmatch(value) else 0.0
        if media.strip():
            ranges.append((media.strip().lower(), quality))
    return ranges


def quality_of(ranges: list[tuple[str, float]], media: str) -> float:
    """The quality a client gives ``media``: that of the most specific range matching it (RFC 9110 12.5.1)."""
    for candidate in (media, media.split("/")[0] + "/*", "*/*"):
        qualities = [quality for pattern, quality in ranges if pattern == candidate]
        if qualities:
            return max(qualities)
    return 0.0


def wants_html(request: Request) -> bool:
    """A browser navigating here (Accept prefers text/html); curl and fetch() get JSON, and so does a tie."""
    ranges = media_ranges(request.header("accept"))
    return quality_of(ranges, "text/html") > quality_of(ranges, "application/json")


def query_values(parameters: Parameters, query: Mapping[str, str]) -> dict[str, Any]:
    """The declared parameters of a query string, or a 400 ``invalid_<name>`` saying what is accepted."""
    try:
        return parameters.from_query(query)
    except ParameterError as exc:
        raise HTTPError(400, f"invalid_{exc.name}", str(exc)) from None


def parse_json(body: bytes, hint: str) -> object:
    """JSON of any size or nesting, or a 400 ``invalid_json``: never a RecursionError (a 500).

    The C parser stops at the interpreter's recursion limit, so deep nesting costs a few microseconds."""
    try:
        return json.loads(body)
    except (ValueError, UnicodeDecodeError, RecursionError) as exc:
        raise HTTPError(400, "invalid_json", f"the body is not valid JSON ({exc}); {hint}") from None


def require_json(request: Request, hint: str) -> None:
    """A JSON-only endpoint refuses other types: a plain HTML form from any web site cannot post to it."""
    mimetype = request.header("content-type").split(";")[0].strip().lower()
    if mimetype != "application/json":
        raise HTTPError(
            415, "unsupported_content_type", f"send Content-Type: application/json (got {mimetype or 'none'!r}); {hint}"
        )


LABEL = Parameter("label", int, None, "the digit the picture really shows", 0, 9)
LABEL_HINT = f'send {{"label": 0-9}} or {{"label": "{NOT_A_DIGIT_LABEL}"}}'
_JSON_TYPES = {dict: "an object", list: "an array", str: "a string", bool: "a boolean", type(None): "null"}


def parse_label(body: bytes) -> int:
    """The body of a correction: exactly {"label": 0-9} or {"label": "not_a_digit"} (NOT_A_DIGIT). Refusals
    name JSON's words for what came (null, an array), never Python's."""
    payload = parse_json(body, LABEL_HINT)
    if not isinstance(payload, dict):
        raise HTTPError(
            400, "invalid_label", f"{LABEL_HINT}: a JSON object, not {_JSON_TYPES.get(type(payload), 'a number')}"
        )
    unknown = sorted(set(payload) - {"label"})
    if unknown:
        raise HTTPError(400, "invalid_label", f"unknown field(s) {', '.join(unknown)}; {LABEL_HINT} only")
    if "label" not in payload:
        raise HTTPError(400, "invalid_label", f"the label is missing; {LABEL_HINT}")
    value = payload["label"]
    if value == NOT_A_DIGIT_LABEL:
        return NOT_A_DIGIT
    try:  # 7.0 is the integer 7, as JSON Schema says (schemathesis found it): Parameter.validate takes it
        return LABEL.validate(value)
    except ParameterError:
        shown = json.dumps(value, ensure_ascii=False)
        raise HTTPError(
            400,
            "invalid_label",
            f'label must be a whole number from 0 to 9 or "{NOT_A_DIGIT_LABEL}", not {shown[:40]}; {LABEL_HINT}',
        ) from None

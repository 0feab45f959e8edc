"""Query parameters and small bodies, validated into values or a 400 naming the parameter."""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from werkzeug.datastructures import MIMEAccept
from werkzeug.http import parse_accept_header

from ml.parameters import Parameter, ParameterError, Parameters
from service.http import HTTPError, Request


def wants_html(request: Request) -> bool:
    """A browser navigating here (Accept prefers text/html); curl and fetch() get JSON."""
    accept = parse_accept_header(request.header("accept"), MIMEAccept)
    return accept.best_match(["application/json", "text/html"]) == "text/html"


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


def parse_label(body: bytes) -> int:
    """The body of a correction: exactly {"label": 0-9}."""
    payload = parse_json(body, 'send a JSON body such as {"label": 7}')
    if not isinstance(payload, dict):
        raise HTTPError(
            400, "invalid_label", f'send a JSON object such as {{"label": 7}}, not {type(payload).__name__}'
        )
    unknown = sorted(set(payload) - {"label"})
    if unknown:
        raise HTTPError(400, "invalid_label", f'unknown field(s) {", ".join(unknown)}; send only {{"label": 0-9}}')
    try:  # 7.0 is the integer 7, as JSON Schema says (schemathesis found it): Parameter.validate takes it
        return LABEL.validate(payload.get("label"))
    except ParameterError as exc:
        raise HTTPError(400, "invalid_label", f'{exc}; e.g. {{"label": 7}}') from None

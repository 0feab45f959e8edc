"""A framework-neutral request/response pair and the one place errors become HTTP.

Both entry points (functions-framework's Flask request and a Lambda
function-URL event) are converted to ``Request``, handled by the same code,
and the ``Response`` converted back, so the two can never drift apart.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import orjson

from service.errors import HTTPError, status_of


@dataclass(frozen=True)
class Request:
    method: str
    path: str
    headers: dict[str, str]  # keys lower-case
    query: dict[str, str]
    body: bytes
    # what is derived from the body, by its own key: parsed once however many ask (service.http.uploads)
    derived: dict[Any, Any] = field(default_factory=dict, init=False, repr=False, compare=False)

    def header(self, name: str, default: str = "") -> str:
        return self.headers.get(name.lower(), default)


@dataclass
class Response:
    status: int
    body: bytes
    content_type: str = "application/json"
    headers: dict[str, str] = field(default_factory=dict)
    # the prediction records this answer reports, and the originals they name (service.predict.recognise):
    # the entry point stores the originals, then writes the records, before the answer leaves, and answers
    # with the store's or the log's error instead when they cannot be written
    records: list[Any] = field(default_factory=list)
    originals: list[Any] = field(default_factory=list)

    def with_records(self, records: list[Any], originals: list[Any] | None = None) -> Response:
        self.records, self.originals = records, list(originals or [])
        return self


def payload_too_large(limit: int) -> HTTPError:
    """The one 413 for a body over the limit, wherever it is detected."""
    return HTTPError(
        413, "payload_too_large", f"the request body is over the {limit:,}-byte limit; send a smaller image"
    )


def json_response(status: int, payload: Any, headers: dict[str, str] | None = None) -> Response:
    """``payload`` as compact UTF-8 JSON (orjson: the standard encoder was a visible share of a small upload's
    cost). Keys that are not strings are written as strings, as the standard encoder does; a NaN or infinity,
    which JSON cannot hold, is written as null (the standard encoder, set as it was, raised: a 500)."""
    body = orjson.dumps(payload, option=orjson.OPT_NON_STR_KEYS)
    return Response(status, body, "application/json", dict(headers or {}))


RETRY_AFTER_SECONDS = "5"


def error_response(exc: Exception) -> Response:
    """Map an exception to a JSON error response; unknown ones are 500s."""
    if isinstance(exc, HTTPError):
        return json_response(exc.status, {"error": exc.code, "message": exc.message}, exc.headers)
    status = status_of(exc)
    if status is not None:
        headers = {"Retry-After": RETRY_AFTER_SECONDS} if status == 503 else {}
        body = {"error": exc.code, "message": str(exc), **getattr(exc, "details", {})}  # type: ignore[attr-defined]
        return json_response(status, body, headers)
    return json_response(500, {"error": "internal", "message": "internal error; it has been logged"})

"""A framework-neutral request/response pair and the one place errors become HTTP.

Both entry points (functions-framework's Flask request and a Lambda
function-URL event) are converted to ``Request``, handled by the same code,
and the ``Response`` converted back, so the two can never drift apart.
"""

from __future__ import annotations

import hmac
import json
from dataclasses import dataclass, field
from typing import Any

from service.errors import HTTPError, status_of


@dataclass(frozen=True)
class Request:
    method: str
    path: str
    headers: dict[str, str]  # keys lower-case
    query: dict[str, str]
    body: bytes

    def header(self, name: str, default: str = "") -> str:
        return self.headers.get(name.lower(), default)


@dataclass
class Response:
    status: int
    body: bytes
    content_type: str = "application/json"
    headers: dict[str, str] = field(default_factory=dict)


def payload_too_large(limit: int) -> HTTPError:
    """The one 413 for a body over the limit, wherever it is detected."""
    return HTTPError(
        413, "payload_too_large", f"the request body is over the {limit:,}-byte limit; send a smaller image"
    )


def bearer_token(request: Request) -> str | None:
    """The token of an ``Authorization: Bearer`` header; None for any other scheme."""
    scheme, _, token = request.header("authorization").partition(" ")
    return token.strip() if scheme.lower() == "bearer" else None


def token_matches(given: str | None, expected: str) -> bool:
    """Constant-time comparison; an empty token never matches."""
    return given is not None and given != "" and hmac.compare_digest(given.encode(), expected.encode())


def authorise_read(settings, request: Request) -> None:
    """Who may read the log (history, stats, metrics) and correct it. PREDICTIONS_READ: public, token or off."""
    mode = settings.predictions_read
    if mode == "off":
        raise HTTPError(403, "forbidden", "reading predictions is turned off on this server (PREDICTIONS_READ=off)")
    if mode == "token" and not token_matches(bearer_token(request), settings.predictions_token or ""):
        raise HTTPError(
            401,
            "unauthorized",
            "send Authorization: Bearer <PREDICTIONS_TOKEN>",
            {"WWW-Authenticate": 'Bearer realm="predictions"'},
        )


def authorise_correction(settings, request: Request) -> None:
    """Corrections feed the next training, so production gives them their own token (CORRECTIONS_TOKEN);
    without one (a local run) whoever may read the log may correct it."""
    if not settings.corrections_token:
        authorise_read(settings, request)
    elif not token_matches(bearer_token(request), settings.corrections_token):
        raise HTTPError(
            401,
            "unauthorized",
            "corrections need Authorization: Bearer <CORRECTIONS_TOKEN>",
            {"WWW-Authenticate": 'Bearer realm="corrections"'},
        )


_JSON = json.JSONEncoder(separators=(",", ":"), allow_nan=False)  # made once: json.dumps with options makes one a call


def json_response(status: int, payload: Any, headers: dict[str, str] | None = None) -> Response:
    body = _JSON.encode(payload).encode()
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

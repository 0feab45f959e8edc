"""Refusals in the Open Inference Protocol's shape on every ``/v2`` path: ``{"error": "<message>"}``, which
protocol clients show as the reason (tritonclient's InferenceServerException), led by the stable code the rest
of the API answers, also given alone as ``code``. The status and the code stay those of the upload API, so
one table of codes holds for both."""

from __future__ import annotations

import json

from service.http.messages import Request, Response, json_response
from service.http.routes import ErrorShape

PREFIX = "/v2"


def protocol_error(code: str, message: str) -> dict:
    return {"error": f"{code}: {message}", "code": code}


PROTOCOL_ERRORS = ErrorShape("InferenceError", protocol_error)


def for_protocol(request: Request, response: Response) -> Response:
    """``response``, its JSON error rewritten in the protocol's shape where the request was for a /v2 path
    (refusals made before any route ran included: a body too large, a method, no such path)."""
    path = "/" + request.path.strip("/")
    if response.status < 400 or response.content_type != "application/json":
        return response
    if path != PREFIX and not path.startswith(PREFIX + "/"):
        return response
    try:
        error = json.loads(response.body)
        code, message = str(error["error"]), str(error["message"])
    except (ValueError, KeyError, TypeError):
        return response
    rewritten = json_response(response.status, protocol_error(code, message), response.headers)
    return rewritten.with_records(response.records, response.originals)

"""Entry-point adapters: functions-framework (Flask) and Lambda function URLs."""
from __future__ import annotations

import base64
from typing import Any, Callable

from service.http import HTTPError, Request, Response, error_response, payload_too_large

Handler = Callable[[Request], Response]

_TEXT_TYPES = ("application/json", "text/")


def _read_limited(stream, limit: int) -> bytes:
    data = stream.read(limit + 1)
    if len(data) > limit:
        raise payload_too_large(limit)
    return data


def from_flask(request, max_body: int) -> Request:
    """Refuse an oversized body by its Content-Length, before reading it."""
    if request.content_length is not None and request.content_length > max_body:
        raise payload_too_large(max_body)
    return Request(
        method=request.method,
        path=request.path,
        headers={k.lower(): v for k, v in request.headers.items()},
        query={k: v for k, v in request.args.items()},
        body=_read_limited(request.stream, max_body),
    )


def to_flask(response: Response):
    import flask

    out = flask.Response(response.body, status=response.status, content_type=response.content_type)
    for name, value in response.headers.items():
        out.headers[name] = value
    return out


def serve_flask(handler: Handler, request, max_body: int):
    try:
        req = from_flask(request, max_body)
    except HTTPError as exc:
        return to_flask(error_response(exc))
    return to_flask(handler(req))


def from_lambda(event: dict[str, Any], max_body: int) -> Request:
    """A function-URL (payload format 2.0) event; binary bodies arrive base64-encoded."""
    http = event.get("requestContext", {}).get("http", {})
    raw = event.get("body") or ""
    if event.get("isBase64Encoded"):
        try:
            body = base64.b64decode(raw)
        except ValueError as exc:
            raise HTTPError(400, "invalid_body", f"the event body is not valid base64: {exc}") from exc
    else:
        body = raw.encode("utf-8")
    if len(body) > max_body:
        raise payload_too_large(max_body)
    headers = {k.lower(): v for k, v in (event.get("headers") or {}).items()}
    return Request(
        method=http.get("method", "GET"),
        path=event.get("rawPath") or http.get("path") or "/",
        headers=headers,
        query=dict(event.get("queryStringParameters") or {}),
        body=body,
    )


def to_lambda(response: Response) -> dict[str, Any]:
    headers = {"content-type": response.content_type, **{k.lower(): v for k, v in response.headers.items()}}
    if response.content_type.startswith(_TEXT_TYPES):
        return {"statusCode": response.status, "headers": headers, "body": response.body.decode("utf-8"),
                "isBase64Encoded": False}
    return {"statusCode": response.status, "headers": headers, "body": base64.b64encode(response.body).decode(),
            "isBase64Encoded": True}


def serve_lambda(handler: Handler, event: dict[str, Any], max_body: int) -> dict[str, Any]:
    try:
        req = from_lambda(event, max_body)
    except HTTPError as exc:
        return to_lambda(error_response(exc))
    return to_lambda(handler(req))

"""Entry-point adapters: functions-framework (Flask) and Lambda function URLs."""
from __future__ import annotations

import base64
from typing import Any

from service.http import HTTPError, Request, Response, payload_too_large

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


def refused_flask(request) -> Request:
    """The request line and headers of a Flask request whose body was refused (for logs and metrics)."""
    return Request(request.method, request.path, {k.lower(): v for k, v in request.headers.items()}, {}, b"")


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
    """Text answers as text; anything else, or "text" whose bytes are not UTF-8, base64-encoded."""
    headers = {"content-type": response.content_type, **{k.lower(): v for k, v in response.headers.items()}}
    if response.content_type.startswith(_TEXT_TYPES):
        try:
            return {"statusCode": response.status, "headers": headers, "body": response.body.decode("utf-8"),
                    "isBase64Encoded": False}
        except UnicodeDecodeError:
            pass
    return {"statusCode": response.status, "headers": headers, "body": base64.b64encode(response.body).decode(),
            "isBase64Encoded": True}


def refused_lambda(event: dict[str, Any]) -> Request:
    """The request line and headers of an event whose body was refused (for logs and metrics)."""
    http = event.get("requestContext", {}).get("http", {})
    headers = {k.lower(): v for k, v in (event.get("headers") or {}).items()}
    return Request(http.get("method", "GET"), event.get("rawPath") or http.get("path") or "/", headers, {}, b"")

"""Entry-point adapters: ASGI (scripts/serve.sh), functions-framework (Flask) and Lambda function URLs."""

from __future__ import annotations

import base64
import time
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qsl

from service.errors import HTTPError
from service.http.messages import Request, Response, payload_too_large
from service.telemetry import request_id_from

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


@dataclass(frozen=True)
class Invocation:
    """What the Lambda runtime says of one invocation: its request id (the one in Lambda's own START, END and
    REPORT lines, and the function URL's ``requestContext.requestId``) and when its time limit falls."""

    request_id: str
    deadline: float  # time.monotonic()

    @classmethod
    def of(cls, context: Any) -> Invocation:
        remaining = context.get_remaining_time_in_millis() / 1000
        return cls(request_id_from(str(context.aws_request_id)), time.monotonic() + remaining)


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
    """Text answers as text; anything else (a gzipped page included), or "text" whose bytes are not UTF-8,
    base64-encoded."""
    headers = {"content-type": response.content_type, **{k.lower(): v for k, v in response.headers.items()}}
    if response.content_type.startswith(_TEXT_TYPES) and "content-encoding" not in headers:
        try:
            return {
                "statusCode": response.status,
                "headers": headers,
                "body": response.body.decode("utf-8"),
                "isBase64Encoded": False,
            }
        except UnicodeDecodeError:
            pass
    return {
        "statusCode": response.status,
        "headers": headers,
        "body": base64.b64encode(response.body).decode(),
        "isBase64Encoded": True,
    }


def refused_lambda(event: dict[str, Any]) -> Request:
    """The request line and headers of an event whose body was refused (for logs and metrics)."""
    http = event.get("requestContext", {}).get("http", {})
    headers = {k.lower(): v for k, v in (event.get("headers") or {}).items()}
    return Request(http.get("method", "GET"), event.get("rawPath") or http.get("path") or "/", headers, {}, b"")


# -- ASGI (scripts/serve.sh: gunicorn + uvicorn workers) ---------------------------------------------
MAX_HEAD_BYTES = 16 * 1024  # request line + headers; uvicorn's own limit only covers a head split across reads


class ClientGone(Exception):
    """The client closed the connection before its request was complete: nobody to answer."""


def asgi_request(scope: dict[str, Any], body: bytes) -> Request:
    headers: dict[str, str] = {}
    for raw_name, raw_value in scope["headers"]:
        name, value = raw_name.decode("latin-1").lower(), raw_value.decode("latin-1")
        headers[name] = f"{headers[name]}, {value}" if name in headers else value
    query: dict[str, str] = {}
    raw_query = scope.get("query_string", b"")
    for name, value in parse_qsl(raw_query.decode("latin-1"), keep_blank_values=True) if raw_query else ():
        query.setdefault(name, value)  # the first of repeated names, as Flask's request.args.get does
    return Request(scope["method"], scope["path"], headers, query, body)


async def read_asgi_body(scope: dict[str, Any], receive, max_body: int, seconds: float) -> bytes:
    """The whole body within ``seconds`` of the headers (408 after that) and at most ``max_body`` bytes
    (413, refused by Content-Length before reading). A slow upload waits here without holding a worker."""
    head = (
        len(scope.get("raw_path") or b"")
        + len(scope.get("query_string") or b"")
        + sum(len(k) + len(v) + 4 for k, v in scope["headers"])
    )
    if head > MAX_HEAD_BYTES:
        raise HTTPError(431, "headers_too_large", f"the request line and headers are over {MAX_HEAD_BYTES:,} bytes")
    declared = next((v for k, v in scope["headers"] if k == b"content-length"), None)
    if declared is not None and declared.isdigit() and int(declared) > max_body:
        raise payload_too_large(max_body)
    import asyncio  # here, not at the top: the Lambda path never needs it

    chunks, size = [], 0
    try:
        async with asyncio.timeout(seconds):
            while True:
                message = await receive()
                if message["type"] == "http.disconnect":
                    raise ClientGone()
                chunk = message.get("body", b"")
                size += len(chunk)
                if size > max_body:
                    raise payload_too_large(max_body)
                chunks.append(chunk)
                if not message.get("more_body"):
                    return b"".join(chunks)
    except TimeoutError:
        raise HTTPError(
            408, "request_timeout", f"the request body did not arrive within {seconds:g} s; send it faster or smaller"
        ) from None


async def send_asgi(send, response: Response, close: bool = False) -> None:
    """``close``: the request was refused before its body was read, so the connection cannot be reused."""
    headers = [
        (b"content-type", response.content_type.encode("latin-1")),
        (b"content-length", str(len(response.body)).encode()),
    ]
    if close:
        headers.append((b"connection", b"close"))
    headers += [(k.lower().encode("latin-1"), v.encode("latin-1")) for k, v in response.headers.items()]
    await send({"type": "http.response.start", "status": response.status, "headers": headers})
    await send({"type": "http.response.body", "body": response.body})

"""A local Lambda function URL in front of AWS's Runtime Interface Emulator (`make lambda`).

Each HTTP request becomes a payload-format-2.0 event as function URLs build it (headers lower-cased and
repeated ones joined with commas, cookies apart, the query string raw and parsed, a body that is not text
base64-encoded, ``requestContext.http``), is invoked on RIE, and the function's result goes back as a function
URL returns it: ``statusCode``/``headers``/``cookies``/``body``/``isBase64Encoded``, or any other result as a
200 JSON body. Lambda's synchronous payload limit holds both ways: a request event over it is refused with 413
before the function runs, a response over it is a 502, as is a function that fails or times out.

RIE serves one invocation at a time and crashes on two that overlap, so each front sends the next request
only once the previous one is answered (a queue, like one warm execution environment).
"""

from __future__ import annotations

import base64
import json
import sys
import threading
import time
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Protocol
from urllib.parse import parse_qsl, urlsplit

import requests

PAYLOAD_LIMIT = 6 * 1024 * 1024  # Lambda's synchronous invocation payload, request and response alike
TEXT_TYPES = (
    "text/",
    "application/json",
    "application/xml",
    "application/javascript",
    "application/x-www-form-urlencoded",
)
INVOKE_PATH = "/2015-03-31/functions/function/invocations"


def event_for(method: str, target: str, headers: list[tuple[str, str]], body: bytes, client: str) -> dict:
    """The payload-format-2.0 event a function URL builds for this request."""
    url = urlsplit(target)
    joined: dict[str, str] = {}
    cookies: list[str] = []
    for name, value in headers:
        name = name.lower()
        if name == "cookie":
            cookies += [c.strip() for c in value.split(";") if c.strip()]
        else:
            joined[name] = f"{joined[name]},{value}" if name in joined else value
    query: dict[str, str] = {}
    for name, value in parse_qsl(url.query, keep_blank_values=True):
        query[name] = f"{query[name]},{value}" if name in query else value
    text = joined.get("content-type", "").startswith(TEXT_TYPES)
    request_id = str(uuid.uuid4())
    now = time.time()
    event = {
        "version": "2.0",
        "routeKey": "$default",
        "rawPath": url.path or "/",
        "rawQueryString": url.query,
        "headers": joined,
        "requestContext": {
            "accountId": "anonymous",
            "apiId": "local",
            "domainName": joined.get("host", "localhost"),
            "domainPrefix": "local",
            "http": {
                "method": method,
                "path": url.path or "/",
                "protocol": "HTTP/1.1",
                "sourceIp": client,
                "userAgent": joined.get("user-agent", ""),
            },
            "requestId": request_id,
            "routeKey": "$default",
            "stage": "$default",
            "time": time.strftime("%d/%b/%Y:%H:%M:%S +0000", time.gmtime(now)),
            "timeEpoch": int(now * 1000),
        },
        "isBase64Encoded": not text and bool(body),
        "body": body.decode("utf-8", "replace") if text else base64.b64encode(body).decode(),
    }
    if cookies:
        event["cookies"] = cookies
    if query:
        event["queryStringParameters"] = query
    return event


def http_answer(result: bytes) -> tuple[int, list[tuple[str, str]], bytes]:
    """(status, headers, body) from the function's result, as a function URL turns it into HTTP."""
    if len(result) > PAYLOAD_LIMIT:
        return _message(502, f"Response payload size exceeded maximum allowed payload size ({PAYLOAD_LIMIT} bytes).")
    try:
        answer = json.loads(result)
    except ValueError:
        return _message(502, "Internal Server Error")
    if isinstance(answer, dict) and ("errorType" in answer or "errorMessage" in answer) and "statusCode" not in answer:
        return _message(502, "Internal Server Error")  # the function raised: its error stays in its log
    if not isinstance(answer, dict) or "statusCode" not in answer:
        return 200, [("Content-Type", "application/json")], json.dumps(answer).encode()
    headers = [(name, str(value)) for name, value in (answer.get("headers") or {}).items()]
    headers += [("Set-Cookie", cookie) for cookie in answer.get("cookies") or []]
    body = answer.get("body") or ""
    raw = base64.b64decode(body) if answer.get("isBase64Encoded") else str(body).encode()
    return int(answer["statusCode"]), headers, raw


def _refused(exc: requests.ConnectionError) -> bool:
    """The emulator refused the connection: the request never reached a function."""
    from urllib3.exceptions import NewConnectionError

    return isinstance(getattr(exc.args[0] if exc.args else None, "reason", None), NewConnectionError)


def _failed(why: str) -> tuple[int, list[tuple[str, str]], bytes]:
    """What a function URL answers when the invocation itself failed; why, on this front's own output."""
    print(f"function URL: 502, {why}", file=sys.stderr, flush=True)
    return _message(502, "Internal Server Error")


def _message(status: int, text: str) -> tuple[int, list[tuple[str, str]], bytes]:
    return status, [("Content-Type", "application/json")], json.dumps({"Message": text}).encode()


class Environment(Protocol):
    """An execution environment of the function: the emulator's URL, and a fresh one when it has died."""

    url: str

    def alive(self) -> bool: ...

    def start(self) -> None: ...


class FunctionUrl(ThreadingHTTPServer):
    """An HTTP server on ``port`` whose every request invokes the function in ``environment``; one that died
    (killed, crashed) is replaced by a fresh one at the next request, as Lambda starts a new one."""

    daemon_threads = True

    def __init__(self, port: int, environment: Environment, timeout_s: float) -> None:
        super().__init__(("127.0.0.1", port), _Handler)
        self.environment, self.timeout_s = environment, timeout_s
        self.one_at_a_time = threading.Lock()

    def invoke(self, event: dict) -> tuple[int, list[tuple[str, str]], bytes]:
        payload = json.dumps(event).encode()
        if len(payload) > PAYLOAD_LIMIT:
            return _message(413, f"Request must be smaller than {PAYLOAD_LIMIT} bytes for the InvokeFunction operation")
        with self.one_at_a_time:
            try:
                done = self._post(payload, event["requestContext"]["requestId"])
            except requests.ConnectionError as exc:
                if not _refused(exc):  # delivered, and the environment ended while it ran: as Lambda answers that
                    return _failed(f"the execution environment ended during the invocation: {exc}")
                # nothing was delivered: the environment had died, and a new one takes the request
                time.sleep(0.2)  # a killed emulator may still look alive for a moment
                try:
                    done = self._post(payload, event["requestContext"]["requestId"], fresh=True)
                except requests.RequestException as again:
                    return _failed(f"a fresh execution environment did not answer either: {again}")
            except requests.RequestException as exc:
                return _failed(f"the invocation failed: {exc}")
        if done.status_code != 200 or done.content.startswith(b"Task timed out"):
            return _failed(f"the emulator answered {done.status_code}: {done.content[:200]!r}")
        return http_answer(done.content)

    def _post(self, payload: bytes, request_id: str, fresh: bool = False) -> requests.Response:
        if fresh or not self.environment.alive():
            self.environment.start()
        return requests.post(
            self.environment.url + INVOKE_PATH,
            data=payload,
            headers={"X-Amzn-RequestId": request_id},
            timeout=self.timeout_s + 5,
        )


class _Handler(BaseHTTPRequestHandler):
    server: FunctionUrl
    protocol_version = "HTTP/1.1"

    def _serve(self) -> None:
        size = int(self.headers.get("Content-Length") or 0)
        if size > PAYLOAD_LIMIT:  # refused before reading it, as the real front does
            self._send(
                *_message(413, f"Request must be smaller than {PAYLOAD_LIMIT} bytes for the InvokeFunction operation"),
                close=True,
            )
            return
        body = self.rfile.read(size) if size else b""
        event = event_for(self.command, self.path, list(self.headers.items()), body, self.client_address[0])
        self._send(*self.server.invoke(event))

    do_GET = do_POST = do_PUT = do_DELETE = do_PATCH = do_HEAD = do_OPTIONS = _serve

    def _send(self, status: int, headers: list[tuple[str, str]], body: bytes, close: bool = False) -> None:
        self.send_response(status)
        for name, value in headers:
            if name.lower() not in ("content-length", "connection", "transfer-encoding"):
                self.send_header(name, value)
        self.send_header("Content-Length", str(len(body)))
        if close:
            self.send_header("Connection", "close")
            self.close_connection = True
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    def log_message(self, format: str, *args) -> None:  # noqa: A002 (the base class's name)
        pass  # the function logs every request itself, with its request id

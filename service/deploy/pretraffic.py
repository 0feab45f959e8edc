"""The pre-traffic gate: before CodeDeploy shifts any traffic to a new version, that version is sent
function-URL events and must answer every one right, or the deployment fails and the alias stays put.

Pure logic over ``send(event) -> response``, so the same checks run against a deployed version (through
``lambda.invoke``: functions/pretraffic/main.py) and, in tests, against the app in this process.
"""

from __future__ import annotations

import base64
import json
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

Send = Callable[[dict[str, Any]], dict[str, Any]]
Report = Callable[[str], None]
GOLDEN_SUFFIXES = {".png": "image/png", ".jpg": "image/jpeg", ".jpeg": "image/jpeg"}
# each upload's filename starts so: the gate's records are told apart from people's in the prediction log
FILENAME_PREFIX = "pretraffic-"


def golden(folder: Path) -> list[tuple[str, int, bytes]]:
    """(name, the digit it shows, its bytes) for each image in ``folder``, named ``<digit>_<anything>``."""
    images = [
        (path.name, int(path.name[0]), path.read_bytes())
        for path in sorted(folder.iterdir())
        if path.suffix.lower() in GOLDEN_SUFFIXES and path.name[:1].isdigit()
    ]
    if not images:
        raise ValueError(f"no golden images in {folder}")
    return images


def url_event(method: str, path: str, headers: dict[str, str] | None = None, body: bytes = b"") -> dict[str, Any]:
    """A function URL's event (payload format 2.0) as Lambda builds it: lower-cased headers, the body
    base64-encoded, ``requestContext.http``."""
    request_id = str(uuid.uuid4())
    event: dict[str, Any] = {
        "version": "2.0",
        "routeKey": "$default",
        "rawPath": path,
        "rawQueryString": "",
        "headers": {"user-agent": "digits-pretraffic", **{k.lower(): v for k, v in (headers or {}).items()}},
        "requestContext": {
            "accountId": "anonymous",
            "domainName": "pretraffic.lambda-url.invalid",
            "http": {"method": method, "path": path, "protocol": "HTTP/1.1", "sourceIp": "127.0.0.1"},
            "requestId": request_id,
            "routeKey": "$default",
            "stage": "$default",
        },
        "isBase64Encoded": bool(body),
    }
    if body:
        event["body"] = base64.b64encode(body).decode()
        event["headers"]["content-length"] = str(len(body))
    return event


def upload_event(name: str, data: bytes) -> dict[str, Any]:
    """``curl -F file=@name`` to the function URL, as an event."""
    boundary = uuid.uuid4().hex
    kind = GOLDEN_SUFFIXES.get(Path(name).suffix.lower(), "application/octet-stream")
    body = (
        (
            f'--{boundary}\r\nContent-Disposition: form-data; name="file"; filename="{FILENAME_PREFIX}{name}"\r\n'
            f"Content-Type: {kind}\r\n\r\n"
        ).encode()
        + data
        + f"\r\n--{boundary}--\r\n".encode()
    )
    return url_event("POST", "/", {"content-type": f"multipart/form-data; boundary={boundary}"}, body)


def answer_of(response: dict[str, Any]) -> tuple[int, Any]:
    """(status, the JSON body or its text) of a function's result, as a function URL would read it."""
    status = int(response.get("statusCode", 200))
    raw = response.get("body") or ""
    text = base64.b64decode(raw).decode("utf-8", "replace") if response.get("isBase64Encoded") else raw
    try:
        return status, json.loads(text)
    except ValueError:
        return status, text


def check_predict(send: Send, images: list[tuple[str, int, bytes]]) -> list[str]:
    """What is wrong with a predict version: each golden image must be answered 200 with its digit."""
    problems = []
    for name, digit, data in images:
        status, body = answer_of(send(upload_event(name, data)))
        if status != 200 or not isinstance(body, dict):
            problems.append(f"{name}: expected {digit}, got HTTP {status} {str(body)[:200]}")
        elif body.get("digit") != digit:
            problems.append(f"{name}: expected {digit}, answered {body.get('digit')} by {body.get('model_version')}")
    return problems


def check_train(send: Send) -> list[str]:
    """What is wrong with a train version, without training: it starts and describes itself, and it refuses
    a training without the token (its token was read, and its auth is on)."""
    problems = []
    status, body = answer_of(send(url_event("GET", "/openapi.json")))
    if status != 200 or not isinstance(body, dict) or "paths" not in body:
        problems.append(f"GET /openapi.json: expected 200 and the API document, got HTTP {status} {str(body)[:200]}")
    status, body = answer_of(send(url_event("POST", "/", {"content-type": "application/json"}, b"{}")))
    if status != 401:
        problems.append(f"POST / without the token: expected 401, got HTTP {status} {str(body)[:200]}")
    return problems


def gate(problems_of: Callable[[], list[str]], report: Report) -> list[str]:
    """Run the checks and report ``Succeeded`` or ``Failed``; a check that raises fails the deployment too
    (CodeDeploy would otherwise wait for a report until its own timeout)."""
    try:
        problems = problems_of()
    except Exception as exc:  # noqa: BLE001 (any failure to check is a failed gate, reported, not a hang)
        problems = [f"the checks could not run: {type(exc).__name__}: {exc}"]
    report("Failed" if problems else "Succeeded")
    return problems

"""Lambda function-URL events (payload format 2.0) as AWS sends them, and the predict handler to send them to."""
from __future__ import annotations

import base64
import importlib.util

from tests.conftest import MODEL_STORE, ROOT


def url_event(method: str, path: str, body: bytes = b"", headers: dict | None = None, query: dict | None = None) -> dict:
    return {
        "version": "2.0",
        "routeKey": "$default",
        "rawPath": path,
        "rawQueryString": "&".join(f"{k}={v}" for k, v in (query or {}).items()),
        "queryStringParameters": query,
        "headers": {"host": "abc.lambda-url.us-east-1.on.aws", **(headers or {})},
        "requestContext": {
            "accountId": "anonymous", "apiId": "abc", "domainName": "abc.lambda-url.us-east-1.on.aws",
            "http": {"method": method, "path": path, "protocol": "HTTP/1.1", "sourceIp": "127.0.0.1", "userAgent": "curl/8"},
            "requestId": "id", "routeKey": "$default", "stage": "$default", "time": "29/Nov/2026:17:00:00 +0000",
            "timeEpoch": 1795971600000,
        },
        "body": base64.b64encode(body).decode() if body else None,
        "isBase64Encoded": bool(body),
    }


def load_predict_handler(monkeypatch, tmp_path):
    monkeypatch.setenv("MODEL_STORE", f"file://{MODEL_STORE}")
    monkeypatch.setenv("PREDICTION_LOG", f"sqlite://{tmp_path / 'p.db'}")
    spec = importlib.util.spec_from_file_location("predict_main", ROOT / "functions" / "predict" / "main.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.lambda_handler

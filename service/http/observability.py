"""The two routes every function shares: ``/metrics`` and ``/openapi.json``."""

from __future__ import annotations

import json
from functools import cache
from pathlib import Path

from service.errors import HTTPError
from service.http.messages import Response

OPENAPI_DIR = Path(__file__).resolve().parent.parent / "openapi"


@cache
def openapi_document(function: str) -> bytes:
    """The function's OpenAPI 3.1 document as kept in the repository (service/openapi/<function>.json)."""
    return (OPENAPI_DIR / f"{function}.json").read_bytes()


def openapi_response(function: str) -> Response:
    return Response(200, openapi_document(function), "application/json")


def openapi(function: str) -> dict:
    return json.loads(openapi_document(function))


def metrics_response(settings) -> Response:
    if not settings.metrics:
        raise HTTPError(404, "not_found", "metrics are turned off on this server (METRICS=off)")
    from service import metrics

    if metrics.prometheus() is None:
        raise HTTPError(
            404, "not_found", "a Lambda function's metrics are its CloudWatch embedded-metric-format log lines"
        )
    return Response(200, *metrics.render())

"""The answers of the two routes every function has: ``/metrics`` and ``/openapi.json``."""

from __future__ import annotations

from service.errors import HTTPError
from service.http.messages import Response


def document_response(document: bytes) -> Response:
    return Response(200, document, "application/json")


def metrics_response(settings) -> Response:
    if not settings.metrics:
        raise HTTPError(404, "not_found", "metrics are turned off on this server (METRICS=off)")
    from service import monitoring

    if monitoring.prometheus() is None:
        raise HTTPError(
            404, "not_found", "a Lambda function's metrics are its CloudWatch embedded-metric-format log lines"
        )
    return Response(200, *monitoring.render())

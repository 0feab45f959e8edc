"""The two routes every function has: ``/metrics`` and ``/openapi.json``."""

from __future__ import annotations

import logging
from collections.abc import Callable

from service.errors import HTTPError
from service.http.auth import READ
from service.http.messages import Request, Response
from service.http.routes import Answer, route
from service.telemetry import RequestTelemetry

logger = logging.getLogger("digits.observability")


class Operations:
    def __init__(self, settings, document: bytes, refresh: Callable[[], None] = lambda: None):
        """``document``: the function's OpenAPI document; ``refresh``: brings the function's gauges up to date
        before a scrape reads them."""
        self.settings = settings
        self.document = document
        self.refresh = refresh

    @route(
        "GET",
        "/metrics",
        "metrics",
        "Prometheus metrics of every worker (readable as PREDICTIONS_READ says)",
        access=READ,
        answers={200: Answer("Prometheus text format", {"text/plain": {"type": "string"}})},
        errors={404: "Metrics are turned off (METRICS=off), or this is Lambda (its metrics are EMF log lines)"},
    )
    def metrics(self, request: Request, t: RequestTelemetry) -> Response:
        if not self.settings.metrics:
            raise HTTPError(404, "not_found", "metrics are turned off on this server (METRICS=off)")
        from service import monitoring

        if monitoring.prometheus() is None:
            raise HTTPError(
                404, "not_found", "a Lambda function's metrics are its CloudWatch embedded-metric-format log lines"
            )
        try:
            self.refresh()
        except Exception:  # noqa: BLE001 (the scrape still answers, with the gauges as they were last set)
            logger.exception("could not bring the gauges up to date for a scrape")
        return Response(200, *monitoring.render())

    @route(
        "GET",
        "/openapi.json",
        "openapi",
        "This document",
        answers={200: Answer("OpenAPI 3.1", {"application/json": {"type": "object"}})},
    )
    def openapi(self, request: Request, t: RequestTelemetry) -> Response:
        return Response(200, self.document, "application/json")

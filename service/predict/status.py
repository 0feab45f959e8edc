"""How the function is doing: health, the log's per-day figures, and Prometheus metrics."""

from __future__ import annotations

from datetime import timedelta

from ml.errors import MLError
from ml.parameters import Parameter, Parameters
from ml.registry import LATEST
from ml.storage.base import NotFound, StoreUnavailable
from service import monitoring
from service.analytics import summarise
from service.http.auth import READ
from service.http.messages import Request, Response, json_response
from service.http.routes import Answer, route
from service.predict.resources import Resources
from service.telemetry import RequestTelemetry

MAX_STATS_DAYS = 90
STATS_QUERY = Parameters(Parameter("days", int, 7, "the last N UTC days, today included", 1, MAX_STATS_DAYS))
_HEALTH = {"application/json": {"$ref": "#/components/schemas/Health"}}


class Status:
    def __init__(self, resources: Resources):
        self.resources = resources

    def health(self) -> tuple[bool, dict]:
        """(whether a model can be served, the health document)."""
        r = self.resources
        try:
            r.models.get()
        except MLError:
            pass
        try:  # one small read: /healthz never walks the store
            r.store.get(LATEST)
            store_ok = True
        except NotFound:
            store_ok = True
        except StoreUnavailable:
            store_ok = False
        log = r.prediction_log
        log_ok = log.available()  # the breaker's state, or a one-row write probe
        public = r.settings.without_secrets()
        body = {
            "status": "ok" if r.models.version and store_ok and log_ok else "degraded",
            "model_version": r.models.version,
            "model_error": r.models.last_error,
            "model_store": {"url": public["model_store"], "reachable": store_ok},
            "prediction_log": {
                "url": public["prediction_log"],
                "reachable": log_ok,
                "spooled": log.pending(),
                "quarantined": log.quarantined(),
                **({} if log_ok else {"error": log.last_error()}),
            },
        }
        return r.models.version is not None, body

    @route(
        "GET",
        "/healthz",
        "health",
        "Model loaded, stores reachable",
        answers={200: Answer("serving", _HEALTH), 503: Answer("no model can be served yet", _HEALTH)},
    )
    def healthz(self, request: Request, t: RequestTelemetry) -> Response:
        ready, body = self.health()
        return json_response(200 if ready else 503, body)

    @route(
        "GET",
        "/stats",
        "stats",
        "Per-day analytics of the log (a browser gets the stats page)",
        access=READ,
        query=STATS_QUERY,
        page="stats.html",
        answers={
            200: Answer(
                "the figures",
                {"application/json": {"$ref": "#/components/schemas/Stats"}, "text/html": {"type": "string"}},
            )
        },
        errors={503: None},
    )
    def stats(self, request: Request, t: RequestTelemetry, days: int) -> Response:
        return json_response(200, self.figures(days))

    def figures(self, days: int) -> dict:
        last = self.resources.now().date()
        first = last - timedelta(days=days - 1)
        low = self.resources.settings.low_confidence
        return summarise(self.resources.prediction_log.stats(first, last, low), first, last, low)

    def refresh_gauges(self) -> None:
        """The gauges a scrape reads (model, log and store reachable, spool depth), from a health check now."""
        _, body = self.health()
        monitoring.set_state(
            model_version=self.resources.models.version,
            log_up=body["prediction_log"]["reachable"],
            store_up=body["model_store"]["reachable"],
            spooled=body["prediction_log"]["spooled"],
        )

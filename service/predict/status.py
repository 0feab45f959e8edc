"""How the function is doing: health, the log's per-day figures, and Prometheus metrics."""

from __future__ import annotations

from datetime import timedelta

from ml.parameters import Parameter, Parameters
from ml.registry import LATEST
from ml.storage.base import NotFound
from service import monitoring
from service.analytics import summarise
from service.http.auth import READ
from service.http.messages import Request, Response, json_response
from service.http.routes import Answer, route
from service.predict.resources import Resources
from service.predlog.spool_files import SpoolFiles
from service.telemetry import RequestTelemetry

MAX_STATS_DAYS = 90
STATS_QUERY = Parameters(Parameter("days", int, 7, "the last N UTC days, today included", 1, MAX_STATS_DAYS))
_HEALTH = {"application/json": {"$ref": "#/components/schemas/Health"}}


class Status:
    def __init__(self, resources: Resources):
        self.resources = resources

    def health(self) -> tuple[bool, dict]:
        """(whether a model can be served, the health document). Every component is checked on its own and
        reported with what is wrong with it: one that fails (no model, a store or log that cannot be
        opened) never hides the others, which an operator needs most during that very outage."""
        public = self.resources.settings.without_secrets()
        version, model_error = self._model()
        store = {"url": public["model_store"], **self._store()}
        log = {"url": public["prediction_log"], **self._log()}
        body = {
            "status": "ok" if version and store["reachable"] and log["reachable"] else "degraded",
            "model_version": version,
            "model_error": model_error,
            "model_store": store,
            "prediction_log": log,
        }
        return version is not None, body

    def _model(self) -> tuple[str | None, str | None]:
        """(the version served, why none or why the latest could not be loaded)."""
        try:
            models = self.resources.models
        except Exception as exc:  # noqa: BLE001 (the store cannot even be opened: that is the model's error too)
            return None, str(exc)
        try:
            models.get()
        except Exception as exc:  # noqa: BLE001 (ModelUnavailable: the cache keeps the reason; anything else, its own)
            return models.version, models.last_error or f"{type(exc).__name__}: {exc}"
        return models.version, models.last_error

    def _store(self) -> dict:
        try:  # one small read: /healthz never walks the store
            self.resources.store.get(LATEST)
        except NotFound:
            pass  # reachable, nothing promoted yet
        except Exception as exc:  # noqa: BLE001 (unreachable or cannot be opened: said, not raised)
            return {"reachable": False, "error": str(exc)}
        return {"reachable": True}

    def _log(self) -> dict:
        try:
            log = self.resources.prediction_log
        except Exception as exc:  # noqa: BLE001 (the log cannot be opened: its spool is still counted)
            files = SpoolFiles(self.resources.settings.spool_dir, self.resources.settings.spool_max_bytes)
            spooled, quarantined = files.pending(), files.quarantined()
            return {"reachable": False, "spooled": spooled, "quarantined": quarantined, "error": str(exc)}
        error: str | None = None
        try:
            reachable = log.available()  # the breaker's state, or a one-row write probe
        except Exception as exc:  # noqa: BLE001 (a probe that raises is a log that does not answer)
            reachable, error = False, str(exc)
        else:
            error = None if reachable else log.last_error()
        return {
            "reachable": reachable,
            "spooled": log.pending(),
            "quarantined": log.quarantined(),
            **({} if reachable else {"error": error}),
        }

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
        """The gauges a scrape reads (model, log and store reachable, spool depth), from a health check now;
        whatever is down is a gauge's value, never a failed scrape."""
        _, body = self.health()
        monitoring.set_state(
            model_version=body["model_version"],
            model_loaded=body["model_version"] is not None,
            log_up=body["prediction_log"]["reachable"],
            store_up=body["model_store"]["reachable"],
            spooled=body["prediction_log"]["spooled"],
        )

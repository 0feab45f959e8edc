"""The predict function: routes, and the core call each route makes."""

from __future__ import annotations

import io
import logging
import time
import uuid
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

import numpy as np

from ml.decode import FORMATS as IMAGE_FORMATS
from ml.decode import DecodeBudget
from ml.errors import MLError, NotADigit, RequestTooCostly
from ml.parameters import Parameter, Parameters
from ml.preprocess import preprocess
from ml.registry import LATEST, ModelRegistry
from ml.storage import open_object_store
from ml.storage.base import NotFound, StoreUnavailable
from service import memory, metrics, telemetry
from service.analytics import summarise
from service.config import Settings
from service.errors import HTTPError, ServiceError
from service.http import pages
from service.http.auth import authorise_correction, authorise_read
from service.http.messages import Request, Response, error_response, json_response
from service.http.observability import metrics_response, openapi_response
from service.http.params import parse_label, query_values, require_json, wants_html
from service.http.routes import Router
from service.model_cache import ModelCache
from service.predlog import PredictionRecord, group, new_prediction_id, open_prediction_log
from service.predlog.base import NOT_A_DIGIT, created_at_of
from service.predlog.spool import SpooledPredictionLog
from service.uploads import Upload, extract_uploads

logger = logging.getLogger("digits.predict")

ROUTES = Router(
    [
        ("GET", "/", "page"),
        ("POST", "/", "predict"),
        ("GET", "/assets/<name>", "asset"),
        ("GET", "/healthz", "health"),
        ("GET", "/predictions", "list"),
        ("GET", "/predictions/<prediction_id>", "record"),
        ("GET", "/predictions/<prediction_id>/image", "image"),
        ("GET", "/predictions/<prediction_id>/normalised.png", "normalised"),
        ("POST", "/predictions/<prediction_id>/label", "label"),
        ("GET", "/stats", "stats"),
        ("GET", "/metrics", "metrics"),
        ("GET", "/openapi.json", "openapi"),
    ],
    "try POST / or GET /predictions",
)

MAX_LIST = 500
MAX_STATS_DAYS = 90
# Query parameters, declared once: validation, defaults and the 400's message come from here.
LIST_QUERY = Parameters(
    Parameter("limit", int, 20, "newest first, at most this many", 1, MAX_LIST),
    Parameter("low_confidence", bool, False, "only answers below LOW_CONFIDENCE"),
)
STATS_QUERY = Parameters(Parameter("days", int, 7, "the last N UTC days, today included", 1, MAX_STATS_DAYS))
_NOT_A_DIGIT_MESSAGE = (
    "not a digit: the model is {:.0%} sure this picture is not one handwritten digit "
    "(send a single digit; if it is one, correct the answer)"
)
DECODE_SECONDS = 5.0  # one request's decoding, checked before each image (a photo takes ~0.05 s)


def _normalised_png(record: PredictionRecord) -> bytes:
    from PIL import Image

    out = io.BytesIO()
    Image.frombytes("L", (28, 28), record.normalised).save(out, "PNG")
    return out.getvalue()


def _valid_id(prediction_id: str) -> str:
    try:
        uuid.UUID(prediction_id)
    except ValueError:
        raise HTTPError(404, "not_found", f"{prediction_id!r} is not a prediction id") from None
    return prediction_id


def stored_image_response(data: bytes) -> Response:
    """An original is served as the image type its bytes are (never the type its uploader declared:
    a "picture" declared text/html must not become a page on our origin); anything else is a download."""
    from PIL import Image, UnidentifiedImageError

    try:
        with Image.open(io.BytesIO(data), formats=IMAGE_FORMATS) as image:  # reads the header only
            content_type = Image.MIME.get(image.format or "", "")
    except (UnidentifiedImageError, OSError, ValueError, SyntaxError):
        content_type = ""
    if not content_type.startswith("image/"):
        return Response(200, data, "application/octet-stream", {"Content-Disposition": "attachment"})
    return Response(200, data, content_type)


def _found(prediction_id: str, record: PredictionRecord | None) -> PredictionRecord:
    if record is None:
        raise HTTPError(404, "not_found", f"no prediction with id {prediction_id}")
    return record


class PredictApp:
    """Holds the per-process resources, all created lazily (after a fork)."""

    def __init__(self, settings: Settings, clock: Callable[[], datetime] | None = None):
        """``clock``: tests inject the time (record ids and times, /stats' days); None is the real UTC time."""
        self.settings = settings
        self._clock = clock
        self._store = None
        self._models: ModelCache | None = None
        self._prediction_log: SpooledPredictionLog | None = None

    def now(self) -> datetime:
        return self._clock() if self._clock else datetime.now(UTC)

    # -- resources ---------------------------------------------------------
    @property
    def store(self):
        if self._store is None:
            self._store = open_object_store(self.settings.model_store)
        return self._store

    @property
    def models(self) -> ModelCache:
        if self._models is None:
            self._models = ModelCache(ModelRegistry(self.store), self.settings.model_refresh_seconds)
        return self._models

    @property
    def prediction_log(self) -> SpooledPredictionLog:
        """The configured log behind a durable local spool (nothing accepted is lost)."""
        if self._prediction_log is None:
            prediction_log = SpooledPredictionLog(
                open_prediction_log(self.settings), self.settings.spool_dir, self.settings.spool_max_bytes
            )
            prediction_log.ensure_schema()
            self._prediction_log = prediction_log
        return self._prediction_log

    def warm(self) -> None:
        """Load the model and open the prediction log now (scripts/serve.sh: in each worker, right after the
        fork) instead of in the first request that worker gets. A failure is logged and left for that
        request to report (503), as when the model store is down later."""
        try:
            self.models.get()
            self.prediction_log  # noqa: B018 (opens the log and its spool)
        except Exception as exc:  # noqa: BLE001 (whatever it was, the first request meets it again)
            logger.warning("warm-up failed; the first request will retry: %s", exc)

    # -- core --------------------------------------------------------------
    def predict(self, uploads: list[Upload]) -> list[dict]:
        predictor = self.models.get()
        budget = DecodeBudget(self.settings.max_request_pixels, DECODE_SECONDS)
        try:
            return self._predict(uploads, predictor, budget)
        finally:
            memory.release_after(budget.spent)

    def _predict(self, uploads: list[Upload], predictor, budget: DecodeBudget) -> list[dict]:
        request = telemetry.current()
        outcomes: list[dict | None] = [None] * len(uploads)
        ready: list[tuple[int, np.ndarray, float]] = []
        for index, upload in enumerate(uploads):
            started = time.perf_counter()
            try:
                with request.stage("preprocess"):
                    ready.append((index, preprocess(upload.data, self.settings.max_image_pixels, budget), started))
            except RequestTooCostly:
                raise  # the whole request is over its budget: one clear 413, nothing half-answered
            except MLError as exc:
                outcomes[index] = {"filename": upload.filename, "error": exc.code, "message": str(exc)}
                if len(uploads) == 1:
                    raise
        if ready:
            with request.stage("inference"):
                predictions = predictor.predict(np.stack([a for _, a, _ in ready]))
            for (index, array, started), p in zip(ready, predictions, strict=True):
                record = self._record(uploads[index], array, p, predictor.version, started)
                with request.stage("log_write"):  # refusals too: /stats counts them, a person may correct one
                    group.write(self.prediction_log, record)  # now, or committed with the loop's turn (ASGI)
                request.prediction(record.id, record.digit, record.confidence, record.model_version)
                answer = record.as_json()
                if p.refused:
                    refusal = NotADigit(_NOT_A_DIGIT_MESSAGE.format(p.not_a_digit), answer)
                    if len(uploads) == 1:
                        raise refusal
                    answer = {"error": refusal.code, "message": str(refusal), **answer}
                outcomes[index] = answer
        return [o for o in outcomes if o is not None]

    def _record(self, upload: Upload, array: np.ndarray, p, version: str, started: float) -> PredictionRecord:
        pid = new_prediction_id(self._clock() if self._clock else None)
        created_at = created_at_of(pid)
        inline = len(upload.data) <= self.settings.inline_image_bytes
        key = None
        if not inline:
            key = f"uploads/{created_at:%Y-%m-%d}/{pid}"
            self.store.put(key, upload.data, upload.content_type)
        return PredictionRecord(
            id=pid,
            created_at=created_at,
            filename=upload.filename,
            content_type=upload.content_type,
            digit=NOT_A_DIGIT if p.refused else p.digit,
            confidence=p.not_a_digit if p.refused else p.confidence,
            probabilities=[*p.probabilities, p.not_a_digit],
            model_version=version,
            latency_ms=(time.perf_counter() - started) * 1000,
            normalised=np.round(array * 255).astype(np.uint8).tobytes(),
            image=upload.data if inline else None,
            image_key=key,
            image_size=len(upload.data),
            request_id=telemetry.current_request_id(),
        )

    def health(self) -> tuple[bool, dict]:
        try:
            self.models.get()
        except MLError:
            pass
        try:  # one small read: /healthz never walks the store
            self.store.get(LATEST)
            store_ok = True
        except NotFound:
            store_ok = True
        except StoreUnavailable:
            store_ok = False
        log_ok = self.prediction_log.available()  # the breaker's state, or a one-row write probe
        public = self.settings.without_secrets()
        body = {
            "status": "ok" if self.models.version and store_ok and log_ok else "degraded",
            "model_version": self.models.version,
            "model_error": self.models.last_error,
            "model_store": {"url": public["model_store"], "reachable": store_ok},
            "prediction_log": {
                "url": public["prediction_log"],
                "reachable": log_ok,
                "spooled": self.prediction_log.pending(),
                "quarantined": self.prediction_log.quarantined(),
                **({} if log_ok else {"error": self.prediction_log.last_error()}),
            },
        }
        return self.models.version is not None, body

    def find(self, prediction_id: str) -> PredictionRecord:
        return _found(prediction_id, self.prediction_log.get(_valid_id(prediction_id)))

    # -- routes ------------------------------------------------------------
    def handle(self, request: Request) -> Response:
        try:
            return self._route(request)
        except (HTTPError, MLError, ServiceError) as exc:
            return error_response(exc)
        except Exception as exc:  # a bug: log it, answer a clean 500
            logger.exception("unhandled error on %s %s", request.method, request.path)
            return error_response(exc)

    def _route(self, request: Request) -> Response:
        endpoint, route, arguments = ROUTES.match(request.method, request.path)
        telemetry.current().route = route
        return getattr(self, f"_on_{endpoint}")(request, **arguments)

    def _on_page(self, request: Request) -> Response:
        return pages.asset_response("index.html", request)

    def _on_predict(self, request: Request) -> Response:
        return self._post_predict(request)

    def _on_asset(self, request: Request, name: str) -> Response:
        return pages.asset_response(name, request)

    def _on_health(self, request: Request) -> Response:
        ready, body = self.health()
        return json_response(200 if ready else 503, body)

    def _on_stats(self, request: Request) -> Response:
        if wants_html(request):
            return pages.asset_response("stats.html", request)  # the page holds no data: its fetch is authorised
        authorise_read(self.settings, request)
        return json_response(200, self.stats(query_values(STATS_QUERY, request.query)["days"]))

    def _on_list(self, request: Request) -> Response:
        authorise_read(self.settings, request)
        query = query_values(LIST_QUERY, request.query)
        records = self.prediction_log.recent(
            query["limit"], self.settings.low_confidence if query["low_confidence"] else None
        )
        return json_response(
            200, {"predictions": [r.as_json() for r in records], "low_confidence_below": self.settings.low_confidence}
        )

    def _on_record(self, request: Request, prediction_id: str) -> Response:
        authorise_read(self.settings, request)
        return json_response(200, self.find(prediction_id).as_json())

    def _on_image(self, request: Request, prediction_id: str) -> Response:
        authorise_read(self.settings, request)
        return self._image(self.find(prediction_id))

    def _on_normalised(self, request: Request, prediction_id: str) -> Response:
        authorise_read(self.settings, request)
        record = self.find(prediction_id)
        return Response(200, _normalised_png(record), "image/png", {"Cache-Control": "max-age=86400"})

    def _on_label(self, request: Request, prediction_id: str) -> Response:
        authorise_correction(self.settings, request)
        require_json(request, 'send {"label": 7} as application/json')
        return self._post_label(prediction_id, request)

    def _on_metrics(self, request: Request) -> Response:
        authorise_read(self.settings, request)
        _, body = self.health()
        metrics.set_state(
            model_version=self.models.version,
            log_up=body["prediction_log"]["reachable"],
            store_up=body["model_store"]["reachable"],
            spooled=body["prediction_log"]["spooled"],
        )
        return metrics_response(self.settings)

    def _on_openapi(self, request: Request) -> Response:
        return openapi_response("predict")

    def stats(self, days: int) -> dict:
        last = self.now().date()
        first = last - timedelta(days=days - 1)
        low = self.settings.low_confidence
        return summarise(self.prediction_log.stats(first, last, low), first, last, low)

    def _post_label(self, prediction_id: str, request: Request) -> Response:
        label = parse_label(request.body)
        # set_label reads the record first and writes nothing for an unknown id
        record = self.prediction_log.set_label(_valid_id(prediction_id), label, self.now())
        return json_response(200, _found(prediction_id, record).as_json())

    def _image(self, record: PredictionRecord) -> Response:
        data = record.image
        if data is None and record.image_key:
            try:
                data = self.store.get(record.image_key)
            except NotFound:
                data = None
        if data is None:
            raise HTTPError(404, "not_found", f"the original image of {record.id} is not stored")
        return stored_image_response(data)

    def _post_predict(self, request: Request) -> Response:
        uploads = extract_uploads(request, self.settings.max_upload_bytes, self.settings.max_files_per_request)
        html = wants_html(request)
        try:
            results = self.predict(uploads)
        except NotADigit as exc:
            if not html:
                raise
            return Response(422, pages.result_page([exc.details]), "text/html; charset=utf-8")  # the page, not JSON
        if html:
            return Response(200, pages.result_page([r for r in results if "digit" in r]), "text/html; charset=utf-8")
        return json_response(200, results[0] if len(uploads) == 1 else results)

"""The predict function: routes, and the core call each route makes."""
from __future__ import annotations

import io
import logging
import time
import uuid
from datetime import datetime, timedelta, timezone

import numpy as np
from ml.config import Settings
from ml.errors import MLError
from ml.preprocess import preprocess
from ml.registry import ModelRegistry
from ml.storage import open_object_store
from ml.storage.base import NotFound, StoreUnavailable
from service import pages
from service.analytics import summarise
from service.http import HTTPError, Request, Response, bearer_token, error_response, json_response, token_matches
from service.models import ModelCache
from service.params import parse_label, query_flag, query_int, wants_html
from service.predlog import PredictionRecord, new_prediction_id, open_prediction_log
from service.predlog.base import created_at_of
from service.predlog.spool import SpooledPredictionLog
from service.uploads import Upload, extract_uploads

log = logging.getLogger("digits.predict")

MAX_LIST = 500
MAX_STATS_DAYS = 90


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


def _found(prediction_id: str, record: PredictionRecord | None) -> PredictionRecord:
    if record is None:
        raise HTTPError(404, "not_found", f"no prediction with id {prediction_id}")
    return record


class PredictApp:
    """Holds the per-process resources, all created lazily (after a fork)."""

    def __init__(self, settings: Settings):
        self.settings = settings
        self._store = None
        self._models: ModelCache | None = None
        self._log: SpooledPredictionLog | None = None

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
        if self._log is None:
            log = SpooledPredictionLog(
                open_prediction_log(self.settings), self.settings.spool_dir, self.settings.spool_max_bytes
            )
            log.ensure_schema()
            self._log = log
        return self._log

    # -- core --------------------------------------------------------------
    def predict(self, uploads: list[Upload]) -> list[dict]:
        predictor = self.models.get()
        outcomes: list[dict | None] = [None] * len(uploads)
        ready: list[tuple[int, np.ndarray, float]] = []
        for index, upload in enumerate(uploads):
            started = time.perf_counter()
            try:
                ready.append((index, preprocess(upload.data, self.settings.max_image_pixels), started))
            except MLError as exc:
                outcomes[index] = {"filename": upload.filename, "error": exc.code, "message": str(exc)}
                if len(uploads) == 1:
                    raise
        if ready:
            predictions = predictor.predict(np.stack([a for _, a, _ in ready]))
            for (index, array, started), p in zip(ready, predictions):
                record = self._record(uploads[index], array, p, predictor.version, started)
                self.prediction_log.write(record)
                outcomes[index] = record.public()
        return [o for o in outcomes if o is not None]

    def _record(self, upload: Upload, array: np.ndarray, p, version: str, started: float) -> PredictionRecord:
        pid = new_prediction_id()
        inline = len(upload.data) <= self.settings.inline_image_bytes
        key = None
        if not inline:
            key = f"uploads/{created_at_of(pid):%Y-%m-%d}/{pid}"
            self.store.put(key, upload.data, upload.content_type)
        return PredictionRecord(
            id=pid,
            created_at=created_at_of(pid),
            filename=upload.filename,
            content_type=upload.content_type,
            digit=p.digit,
            confidence=p.confidence,
            probabilities=p.probabilities,
            model_version=version,
            latency_ms=(time.perf_counter() - started) * 1000,
            normalised=np.round(array * 255).astype(np.uint8).tobytes(),
            image=upload.data if inline else None,
            image_key=key,
            image_size=len(upload.data),
        )

    def health(self) -> tuple[bool, dict]:
        try:
            self.models.get()
        except MLError:
            pass
        try:
            self.store.list("models/LATEST")
            store_ok = True
        except (StoreUnavailable, OSError):
            store_ok = False
        try:
            log_ok = self.prediction_log.ping()
        except StoreUnavailable:
            log_ok = False
        public = self.settings.public()
        body = {
            "status": "ok" if self.models.version and store_ok and log_ok else "degraded",
            "model_version": self.models.version,
            "model_error": self.models.last_error,
            "model_store": {"url": public["model_store"], "reachable": store_ok},
            "prediction_log": {"url": public["prediction_log"], "reachable": log_ok,
                               "spooled": self.prediction_log.pending(),
                               **({} if log_ok else {"error": self.prediction_log.last_error()})},
        }
        return self.models.version is not None, body

    def find(self, prediction_id: str) -> PredictionRecord:
        return _found(prediction_id, self.prediction_log.get(_valid_id(prediction_id)))

    # -- routes ------------------------------------------------------------
    def handle(self, request: Request) -> Response:
        try:
            return self._route(request)
        except (HTTPError, MLError) as exc:
            return error_response(exc)
        except Exception as exc:  # a bug: log it, answer a clean 500
            log.exception("unhandled error on %s %s", request.method, request.path)
            return error_response(exc)

    def _route(self, request: Request) -> Response:
        path = "/" + request.path.strip("/")
        method = request.method.upper()
        if path == "/":
            if method == "POST":
                return self._post_predict(request)
            if method in ("GET", "HEAD"):
                return pages.asset_response("index.html", request)
            raise HTTPError(405, "method_not_allowed", "use GET for the form or POST an image", {"Allow": "GET, POST"})
        parts = path.split("/")
        if len(parts) == 4 and parts[1] == "predictions" and parts[3] == "label":
            if method != "POST":
                raise HTTPError(405, "method_not_allowed", "POST {\"label\": 0-9} to correct a prediction", {"Allow": "POST"})
            self._authorise_read(request)
            return self._post_label(parts[2], request)
        if method not in ("GET", "HEAD"):
            raise HTTPError(405, "method_not_allowed", f"{path} only answers GET", {"Allow": "GET"})
        if path == "/healthz":
            ready, body = self.health()
            return json_response(200 if ready else 503, body)
        if len(parts) == 3 and parts[1] == "assets":
            return pages.asset_response(parts[2], request)
        if path == "/stats" and wants_html(request):
            return pages.asset_response("stats.html", request)  # the page holds no data: its fetch is authorised
        if path.startswith("/predictions") or path == "/stats":
            self._authorise_read(request)
        if path == "/stats":
            return json_response(200, self.stats(query_int(request.query, "days", 7, 1, MAX_STATS_DAYS)))
        if path == "/predictions":
            limit = query_int(request.query, "limit", 20, 1, MAX_LIST)
            low = query_flag(request.query, "low_confidence")
            records = self.prediction_log.recent(limit, self.settings.low_confidence if low else None)
            return json_response(200, {"predictions": [r.public() for r in records],
                                       "low_confidence_below": self.settings.low_confidence})
        if len(parts) >= 3 and parts[1] == "predictions":
            record = self.find(parts[2])
            if len(parts) == 3:
                return json_response(200, record.public())
            if len(parts) == 4 and parts[3] == "image":
                return self._image(record)
            if len(parts) == 4 and parts[3] == "normalised.png":
                return Response(200, _normalised_png(record), "image/png", {"Cache-Control": "max-age=86400"})
        raise HTTPError(404, "not_found", f"no route {path}; try POST / or GET /predictions")

    def stats(self, days: int) -> dict:
        last = datetime.now(timezone.utc).date()
        first = last - timedelta(days=days - 1)
        low = self.settings.low_confidence
        return summarise(self.prediction_log.stats(first, last, low), first, last, low)

    def _post_label(self, prediction_id: str, request: Request) -> Response:
        label = parse_label(request.body)
        # set_label reads the record first and writes nothing for an unknown id
        record = self.prediction_log.set_label(_valid_id(prediction_id), label, datetime.now(timezone.utc))
        return json_response(200, _found(prediction_id, record).public())

    def _authorise_read(self, request: Request) -> None:
        """Who may read the log (history, stats) and correct it. PREDICTIONS_READ: public, token or off."""
        mode = self.settings.predictions_read
        if mode == "off":
            raise HTTPError(403, "forbidden", "reading predictions is turned off on this server (PREDICTIONS_READ=off)")
        if mode == "token":
            if not token_matches(bearer_token(request), self.settings.predictions_token or ""):
                raise HTTPError(401, "unauthorized", "send Authorization: Bearer <PREDICTIONS_TOKEN>",
                                {"WWW-Authenticate": 'Bearer realm="predictions"'})

    def _image(self, record: PredictionRecord) -> Response:
        data = record.image
        if data is None and record.image_key:
            try:
                data = self.store.get(record.image_key)
            except NotFound:
                data = None
        if data is None:
            raise HTTPError(404, "not_found", f"the original image of {record.id} is not stored")
        return Response(200, data, record.content_type or "application/octet-stream")

    def _post_predict(self, request: Request) -> Response:
        uploads = extract_uploads(request, self.settings.max_upload_bytes, self.settings.max_files_per_request)
        results = self.predict(uploads)
        if wants_html(request):
            return Response(200, pages.result_page([r for r in results if "digit" in r]), "text/html; charset=utf-8")
        return json_response(200, results[0] if len(uploads) == 1 else results)

"""What the predict function's routes share: settings, the clock, the model store, the model cache and the
prediction log, each opened on first use (after a fork, in the worker that uses it)."""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import UTC, datetime

from ml.registry import ModelRegistry
from ml.storage import open_object_store
from service.model_cache import ModelCache
from service.predlog import open_prediction_log
from service.predlog.object_spool import ObjectSpool
from service.predlog.spool import SpooledPredictionLog
from service.settings import Settings

logger = logging.getLogger("digits.predict")


class Resources:
    def __init__(self, settings: Settings, clock: Callable[[], datetime] | None = None):
        """``clock``: tests inject the time (record ids and times, /stats' days); None is the real UTC time."""
        self.settings = settings
        self.clock = clock
        self._store = None
        self._models: ModelCache | None = None
        self._prediction_log: SpooledPredictionLog | None = None

    def now(self) -> datetime:
        return self.clock() if self.clock else datetime.now(UTC)

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
            settings = self.settings
            spool = ObjectSpool(open_object_store(settings.spool_store)) if settings.spool_store else None
            prediction_log = SpooledPredictionLog(
                open_prediction_log(settings), settings.spool_dir, settings.spool_max_bytes, spool=spool
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

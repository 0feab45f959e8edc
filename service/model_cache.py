"""The model a predict process serves: loaded once, refreshed when LATEST moves.

Loading happens on first use (scripts/serve.sh: the worker's warm-up right after gunicorn's fork;
Lambda and functions-framework: the first request) and is guarded by a lock, so concurrent first
requests load once. A process that has a model keeps
serving it while the store is unreachable; one that has none answers 503.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

from ml.errors import ArtifactError
from ml.predictor import Predictor
from ml.registry import ModelRegistry
from ml.storage.base import StoreUnavailable
from service import monitoring
from service.errors import ModelUnavailable


class ModelCache:
    def __init__(self, registry: ModelRegistry, refresh_seconds: float, clock: Callable[[], float] = time.monotonic):
        self._registry = registry
        self._refresh = refresh_seconds
        self._clock = clock
        self._predictor: Predictor | None = None
        self._checked_at = float("-inf")
        self._lock = threading.Lock()
        self.last_error: str | None = None

    @property
    def version(self) -> str | None:
        return self._predictor.version if self._predictor else None

    def get(self) -> Predictor:
        predictor = self._predictor
        if predictor is not None and self._clock() - self._checked_at < self._refresh:
            return predictor
        with self._lock:
            if self._predictor is None or self._clock() - self._checked_at >= self._refresh:
                self._refresh_now()
            if self._predictor is None:
                raise ModelUnavailable(
                    f"no model can be served yet: {self.last_error}; train one (POST to the train function)"
                )
            return self._predictor

    def _refresh_now(self) -> None:
        try:
            latest = self._registry.latest_version()
            if latest is None:
                self.last_error = f"the model store {self._registry.store.describe()} has no promoted model"
            elif self._predictor is None or latest != self._predictor.version:
                previous = self.version
                try:  # verified (sha256 of every file) before it replaces the serving model
                    self._predictor = Predictor(self._registry.load(latest, files=("model.tflite",)))
                except ArtifactError:
                    monitoring.model_refused()
                    raise
                monitoring.model_loaded(latest, previous)
                self.last_error = None
            else:
                self.last_error = None
        except (StoreUnavailable, ArtifactError) as exc:
            self.last_error = str(exc)
        self._checked_at = self._clock()

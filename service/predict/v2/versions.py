"""The model versions a v2 path may name: the promoted one (the predict function's own model cache), and any
other published version, loaded on first use and kept in a small cache of the most recently used, so a client
walking through old versions holds a few models in memory, never all of them."""

from __future__ import annotations

import re
import threading
from collections import OrderedDict

from ml.errors import ArtifactError
from ml.predictor import Predictor
from ml.registry import ModelRegistry
from service.errors import HTTPError
from service.model_cache import ModelCache

KEPT = 2  # versions other than the promoted one held loaded at once
_VERSION = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,127}")  # what a store key may hold of a version id


class Versions:
    def __init__(self, models: ModelCache, registry: ModelRegistry, kept: int = KEPT):
        self.models, self.registry, self.kept = models, registry, kept
        self._loaded: OrderedDict[str, Predictor] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, version: str | None) -> Predictor:
        """The predictor of ``version`` (None: the promoted one); a 404 for a version never published."""
        promoted = self.models.get()
        if version is None or version == promoted.version:
            return promoted
        with self._lock:
            if version in self._loaded:
                self._loaded.move_to_end(version)
                return self._loaded[version]
        predictor = self._load(version)  # outside the lock: a slow store holds up no other version
        with self._lock:
            self._loaded[version] = predictor
            while len(self._loaded) > self.kept:
                self._loaded.popitem(last=False)
        return predictor

    def _load(self, version: str) -> Predictor:
        if not _VERSION.fullmatch(version):
            raise unknown_version(version)
        try:
            return Predictor(self.registry.load(version, files=("model.tflite",)))
        except ArtifactError as exc:
            raise unknown_version(version, str(exc)) from None

    def published(self) -> list[str]:
        return self.registry.versions()


def unknown_version(version: str, why: str = "") -> HTTPError:
    detail = f" ({why})" if why else ""
    return HTTPError(
        404,
        "unknown_version",
        f"model digits has no servable version {version!r}{detail}; GET /v2/models/digits lists its versions",
    )

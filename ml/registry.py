"""Versioned models in an object store.

Layout: ``models/<version>/<file>`` (payload files first, ``metadata.json``
after them), then the pointer ``models/LATEST`` written last: a reader that
follows the pointer never sees a half-written version.
"""
from __future__ import annotations

import json

from ml.artifacts import METADATA_FILE, Artifact
from ml.errors import ArtifactError
from ml.storage.base import NotFound, ObjectStore

PREFIX = "models/"
LATEST = PREFIX + "LATEST"
HISTORY = PREFIX + "HISTORY"  # JSON list of promoted versions, oldest first (for rollback)

_CONTENT_TYPES = {".json": "application/json", ".png": "image/png"}


def _content_type(name: str) -> str:
    return next((t for ext, t in _CONTENT_TYPES.items() if name.endswith(ext)), "application/octet-stream")


class ModelRegistry:
    def __init__(self, store: ObjectStore):
        self.store = store

    def publish(self, artifact: Artifact) -> None:
        """Write every file of ``artifact``; metadata last. Does not promote."""
        for name, data in artifact.files.items():
            if name != METADATA_FILE:
                self.store.put(f"{PREFIX}{artifact.version}/{name}", data, _content_type(name))
        self.store.put(f"{PREFIX}{artifact.version}/{METADATA_FILE}", artifact.files[METADATA_FILE], "application/json")

    def promote(self, version: str) -> None:
        """Point LATEST at ``version`` (written last) and remember it for rollback."""
        self._point_at(version, [v for v in self.history() if v != version] + [version])

    def _point_at(self, version: str, history: list[str]) -> None:
        """HISTORY first, LATEST last: a reader only ever follows a complete pointer."""
        self.store.put(HISTORY, json.dumps(history).encode(), "application/json")
        self.store.put(LATEST, version.encode(), "text/plain")

    def history(self) -> list[str]:
        try:
            return list(json.loads(self.store.get(HISTORY)))
        except NotFound:
            return []

    def rollback(self) -> tuple[str, str]:
        """Re-point LATEST to the previously promoted version that is still complete.

        Returns (from, to). Raises ArtifactError when there is nothing to go back to.
        """
        current = self.latest_version()
        history = [v for v in self.history() if v != current]
        while history:
            candidate = history[-1]
            try:
                self.load(candidate).verify()
            except ArtifactError:
                history.pop()
                continue
            self._point_at(candidate, history)
            return current or "", candidate
        raise ArtifactError("there is no earlier complete promoted version to roll back to")

    def latest_version(self) -> str | None:
        try:
            return self.store.get(LATEST).decode().strip() or None
        except NotFound:
            return None

    def metadata(self, version: str) -> dict:
        return self.load(version, files=(METADATA_FILE,)).metadata

    def load(self, version: str, files: tuple[str, ...] | None = None) -> Artifact:
        """Read a version's files (all listed in its metadata, or only ``files``)."""
        try:
            meta_bytes = self.store.get(f"{PREFIX}{version}/{METADATA_FILE}")
        except NotFound as exc:
            raise ArtifactError(f"model version {version!r} has no {METADATA_FILE} (missing or incomplete)") from exc
        stub = Artifact(version, {METADATA_FILE: meta_bytes})
        wanted = list(stub.metadata.get("files", {})) if files is None else [f for f in files if f != METADATA_FILE]
        contents = {METADATA_FILE: meta_bytes}
        for name in wanted:
            try:
                contents[name] = self.store.get(f"{PREFIX}{version}/{name}")
            except NotFound as exc:
                raise ArtifactError(f"model version {version!r} is incomplete: {name} is missing") from exc
        return Artifact(version, contents)

    def versions(self) -> list[str]:
        """Every version with a metadata file, oldest first (ids sort by time)."""
        suffix = "/" + METADATA_FILE
        return sorted(
            key[len(PREFIX) : -len(suffix)] for key in self.store.list(PREFIX) if key.endswith(suffix)
        )

"""Versioned models in an object store.

Layout: ``models/<version>/<file>`` (payload files first, ``metadata.json``
after them), then the pointer ``models/LATEST`` written last: a reader that
follows the pointer never sees a half-written version.

Promotion and rollback are compare-and-swap writes of ``models/LATEST`` against
what the writer read (S3 If-Match / If-None-Match), so of two trainers that race
only one promotes; ``models/HISTORY`` is appended to with the same kind of write,
retried on conflict, so no promoted version is ever dropped from it.
"""

from __future__ import annotations

import json
from dataclasses import dataclass

from ml.artifacts import METADATA_FILE, Artifact
from ml.errors import ArtifactError
from ml.storage.base import NotFound, ObjectStore, PreconditionFailed

PREFIX = "models/"
LATEST = PREFIX + "LATEST"
HISTORY = PREFIX + "HISTORY"  # JSON list of promoted versions, oldest first (for rollback)

HISTORY_RETRIES = 20


class PromotionConflict(PreconditionFailed):
    """Another writer moved models/LATEST after this one read it: this promotion did not happen."""


@dataclass(frozen=True)
class Pointer:
    """What models/LATEST held when read: the version (None when there is none) and its token."""

    version: str | None
    token: str | None


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

    def pointer(self) -> Pointer:
        """Read LATEST once: the version and the token a later promotion must still find."""
        try:
            data, token = self.store.get_with_token(LATEST)
        except NotFound:
            return Pointer(None, None)
        return Pointer(data.decode().strip() or None, token)

    def promote(self, version: str, expected: Pointer | None = None) -> None:
        """Point LATEST at ``version`` if it still is what the caller saw (``expected``; now, if None)
        and remember it for rollback. PromotionConflict when another writer moved it meanwhile."""
        self._point_at(version, expected or self.pointer())
        self._edit_history(lambda history: [v for v in history if v != version] + [version])

    def _point_at(self, version: str, expected: Pointer) -> None:
        try:
            self.store.put_if(LATEST, version.encode(), expected.token, "text/plain")
        except PreconditionFailed as exc:
            now = self.pointer().version
            raise PromotionConflict(
                f"models/LATEST moved from {expected.version} to {now} while this "
                f"writer worked; {version} was not promoted"
            ) from exc

    def _edit_history(self, change) -> None:
        """Read-modify-write of HISTORY that never loses a concurrent writer's entry."""
        for _ in range(HISTORY_RETRIES):
            try:
                data, token = self.store.get_with_token(HISTORY)
                history = list(json.loads(data))
            except NotFound:
                history, token = [], None
            try:
                self.store.put_if(HISTORY, json.dumps(change(history)).encode(), token, "application/json")
                return
            except PreconditionFailed:
                continue
        raise PreconditionFailed(f"models/HISTORY kept changing; gave up after {HISTORY_RETRIES} tries")

    def history(self) -> list[str]:
        try:
            return list(json.loads(self.store.get(HISTORY)))
        except NotFound:
            return []

    def rollback(self) -> tuple[str, str]:
        """Re-point LATEST to the previously promoted version that is still complete.

        Returns (from, to). Raises ArtifactError when there is nothing to go back to.
        """
        pointer = self.pointer()
        current = pointer.version
        history = [v for v in self.history() if v != current]
        while history:
            candidate = history[-1]
            try:
                self.load(candidate).verify()
            except ArtifactError:
                history.pop()
                continue
            self._point_at(candidate, pointer)
            skipped = set(self.history()) - set(history)  # the current one, and incomplete ones passed over
            self._edit_history(
                lambda h, skipped=skipped, candidate=candidate: [v for v in h if v not in skipped or v == candidate]
            )
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
        return sorted(key[len(PREFIX) : -len(suffix)] for key in self.store.list(PREFIX) if key.endswith(suffix))

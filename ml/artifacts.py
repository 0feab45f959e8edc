"""Versioned model artifacts as plain bytes, so any store can hold them.

An artifact is a handful of named files; ``metadata.json`` lists the sha256 of
every other file, so a reader can tell a complete artifact from a partial one.
Nothing here imports TensorFlow.
"""

from __future__ import annotations

import hashlib
import json
import secrets
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from ml.errors import ArtifactError

KERAS_FILE = "model.keras"
TFLITE_FILE = "model.tflite"
METADATA_FILE = "metadata.json"
CONFUSION_FILE = "confusion.png"
RELIABILITY_FILE = "reliability.png"
FORMAT = 1


def new_version(now: datetime | None = None) -> str:
    """A version id that sorts by creation time: ``20261129T170539Z-3f9a1c``."""
    now = now or datetime.now(UTC)
    return now.strftime("%Y%m%dT%H%M%SZ") + "-" + secrets.token_hex(3)


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


@dataclass(frozen=True)
class Artifact:
    version: str
    files: dict[str, bytes]  # every file, metadata.json included

    @property
    def metadata(self) -> dict[str, Any]:
        return json.loads(self.files[METADATA_FILE])

    @classmethod
    def create(cls, version: str, payload: dict[str, bytes], metadata: dict[str, Any]) -> Artifact:
        """Seal ``payload`` files with a metadata.json that records their checksums."""
        meta = {
            **metadata,
            "format": FORMAT,
            "version": version,
            "files": {name: {"sha256": sha256(data), "bytes": len(data)} for name, data in payload.items()},
        }
        body = json.dumps(meta, indent=2, sort_keys=True).encode()
        return cls(version=version, files={**payload, METADATA_FILE: body})

    def verify(self, required: tuple[str, ...] = (TFLITE_FILE,)) -> None:
        """Raise ArtifactError unless metadata and every listed file check out."""
        if METADATA_FILE not in self.files:
            raise ArtifactError(f"artifact {self.version}: {METADATA_FILE} is missing")
        try:
            meta = self.metadata
        except ValueError as exc:
            raise ArtifactError(f"artifact {self.version}: {METADATA_FILE} is not JSON: {exc}") from exc
        if meta.get("format") != FORMAT or meta.get("version") != self.version:
            raise ArtifactError(f"artifact {self.version}: unknown format or version mismatch in metadata")
        listed = meta.get("files", {})
        for name in required:
            if name not in listed:
                raise ArtifactError(f"artifact {self.version}: metadata does not list {name}")
        for name, info in listed.items():
            if name not in self.files and name not in required:
                continue
            data = self.files.get(name)
            if data is None or sha256(data) != info["sha256"]:
                raise ArtifactError(f"artifact {self.version}: {name} is missing or fails its sha256 check")

"""Object stores: one small interface, an embedded default and S3 side by side."""

from __future__ import annotations

from ml.storage.base import NotFound, ObjectStore, PreconditionFailed, StoreUnavailable
from ml.storage.factory import open_object_store

__all__ = ["NotFound", "ObjectStore", "PreconditionFailed", "StoreUnavailable", "open_object_store"]

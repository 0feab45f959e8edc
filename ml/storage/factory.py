"""Pick the object-store backend from its URL."""

from __future__ import annotations

from pathlib import Path
from urllib.parse import urlparse

from ml.storage.base import ObjectStore


def open_object_store(url: str) -> ObjectStore:
    """``file:///abs/dir``, a plain path, or ``s3://bucket/prefix``."""
    parsed = urlparse(url)
    if parsed.scheme == "s3":
        from ml.storage.s3store import S3ObjectStore

        if not parsed.netloc:
            raise ValueError(f"{url!r}: an s3:// URL needs a bucket, e.g. s3://models/prefix")
        return S3ObjectStore(parsed.netloc, parsed.path)
    from ml.storage.filestore import FileObjectStore

    if parsed.scheme == "file":
        return FileObjectStore(Path(parsed.netloc + parsed.path))
    if parsed.scheme == "":
        return FileObjectStore(Path(url))
    raise ValueError(f"{url!r}: unsupported store; use file:///abs/dir or s3://bucket/prefix")

"""The object-store interface everything else is written against."""

from __future__ import annotations

from typing import Protocol

from ml.errors import MLError


class NotFound(MLError):
    """The key does not exist in the store."""

    code = "not_found"


class StoreUnavailable(MLError):
    """The store could not be reached or refused the request (retry later)."""

    code = "store_unavailable"


class PreconditionFailed(MLError):
    """A conditional write found the object changed since it was read (another writer won)."""

    code = "conflict"


class ObjectStore(Protocol):
    """Flat key -> bytes storage (keys use '/' as separator)."""

    def get(self, key: str) -> bytes: ...

    def put(self, key: str, data: bytes, content_type: str = "application/octet-stream") -> None: ...

    def get_with_token(self, key: str) -> tuple[bytes, str]:
        """The object and a token of its current content (S3: its ETag); NotFound if absent."""

    def put_if(self, key: str, data: bytes, token: str | None, content_type: str = "application/octet-stream") -> None:
        """Write only if the object still has ``token`` (None: only if it does not exist); else PreconditionFailed."""

    def list(self, prefix: str) -> list[str]: ...

    def delete(self, key: str) -> None: ...

    def describe(self) -> str: ...

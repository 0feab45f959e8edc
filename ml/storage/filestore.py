"""Object store on a local folder: the embedded default, no server needed."""

from __future__ import annotations

import fcntl
import hashlib
import os
import tempfile
from pathlib import Path

from ml.storage.base import NotFound, PreconditionFailed, StoreUnavailable


class FileObjectStore:
    """Keys map to files under ``root``; writes are atomic (temp file + rename)."""

    def __init__(self, root: Path):
        self.root = root.resolve()

    def _path(self, key: str) -> Path:
        path = (self.root / key).resolve()
        if self.root not in path.parents:
            raise ValueError(f"key {key!r} escapes the store root")
        return path

    def get(self, key: str) -> bytes:
        try:
            return self._path(key).read_bytes()
        except (FileNotFoundError, IsADirectoryError, NotADirectoryError) as exc:
            raise NotFound(f"no object {key!r} in {self.describe()}") from exc
        except OSError as exc:
            raise StoreUnavailable(f"cannot read {key!r} from {self.describe()}: {exc.strerror}") from exc

    def put(self, key: str, data: bytes, content_type: str = "application/octet-stream") -> None:
        path = self._path(key)
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".partial-")
            with os.fdopen(fd, "wb") as out:
                out.write(data)
                out.flush()
                os.fsync(out.fileno())
            os.replace(tmp, path)
        except OSError as exc:
            raise StoreUnavailable(f"cannot write {key!r} to {self.describe()}: {exc.strerror}") from exc

    def get_with_token(self, key: str) -> tuple[bytes, str]:
        data = self.get(key)
        return data, hashlib.sha256(data).hexdigest()

    def put_if(self, key: str, data: bytes, token: str | None, content_type: str = "application/octet-stream") -> None:
        """Compare-and-swap under an exclusive lock on the store (every writer on this machine takes it)."""
        try:
            self.root.mkdir(parents=True, exist_ok=True)
            lock = os.open(self.root / ".cas.lock", os.O_RDWR | os.O_CREAT, 0o600)
        except OSError as exc:
            raise StoreUnavailable(f"cannot lock {self.describe()}: {exc.strerror}") from exc
        try:
            fcntl.flock(lock, fcntl.LOCK_EX)
            try:
                current: str | None = self.get_with_token(key)[1]
            except NotFound:
                current = None
            if current != token:
                raise PreconditionFailed(f"{key!r} in {self.describe()} changed since it was read")
            self.put(key, data, content_type)
        finally:
            os.close(lock)

    def list(self, prefix: str) -> list[str]:
        """Walks only the folder the prefix names (listing models/ never reads uploads/)."""
        base = self.root
        folder = self._path(prefix.rsplit("/", 1)[0]) if "/" in prefix else base
        if not folder.is_dir():
            return []
        keys = []
        for path in folder.rglob("*"):
            if path.is_file() and not path.name.startswith(".partial-"):
                key = path.relative_to(base).as_posix()
                if key.startswith(prefix):
                    keys.append(key)
        return sorted(keys)

    def delete(self, key: str) -> None:
        try:
            self._path(key).unlink()
        except FileNotFoundError:
            pass

    def describe(self) -> str:
        return f"file://{self.root}"

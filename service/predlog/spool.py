"""Nothing accepted is lost: a durable local spool in front of any prediction log.

A record the store refuses (StoreUnavailable) is appended to a per-process
spool file and fsync'd before the request is answered. While the spool holds
records, new ones join it behind them, so the store receives them in order;
the spool is replayed at most every ``retry_seconds`` on later writes, with
the store's idempotent writes making a replay that is cut short harmless.
When the spool reaches ``max_bytes`` a write raises SpoolFull (a clear 503).
Spool files of processes that died are adopted by the next one that writes.
"""
from __future__ import annotations

import base64
import fcntl
import json
import logging
import os
import threading
import time
from dataclasses import asdict, fields
from datetime import date, datetime
from pathlib import Path
from typing import Callable, Iterator

from ml.errors import MLError
from ml.storage.base import StoreUnavailable
from service.predlog.base import Correction, PredictionLog, PredictionRecord, StatsRow

log = logging.getLogger(__name__)


class SpoolFull(MLError):
    """The store is down and the local spool is full: refuse rather than lose."""

    code = "log_unavailable"


def _encode(record: PredictionRecord) -> bytes:
    data = asdict(record)
    for name, value in data.items():
        if isinstance(value, bytes):
            data[name] = {"b64": base64.b64encode(value).decode()}
        elif isinstance(value, datetime):
            data[name] = {"iso": value.isoformat()}
    return json.dumps(data, separators=(",", ":")).encode() + b"\n"


def _decode(line: bytes) -> PredictionRecord:
    data = json.loads(line)
    for name, value in data.items():
        if isinstance(value, dict) and "b64" in value:
            data[name] = base64.b64decode(value["b64"])
        elif isinstance(value, dict) and "iso" in value:
            data[name] = datetime.fromisoformat(value["iso"])
    known = {f.name for f in fields(PredictionRecord)}
    return PredictionRecord(**{k: v for k, v in data.items() if k in known})


class SpooledPredictionLog:
    def __init__(self, inner: PredictionLog, directory: Path, max_bytes: int, retry_seconds: float = 2.0,
                 clock: Callable[[], float] = time.monotonic):
        self.inner = inner
        self.directory = directory
        self.max_bytes = max_bytes
        self.retry_seconds = retry_seconds
        self._clock = clock
        self._lock = threading.Lock()
        self._own: Path | None = None
        self._own_fd: int | None = None
        self._own_pid: int | None = None
        self._adopted = False
        self._last_attempt = float("-inf")
        self._schema_ready = False

    # -- the spool files ---------------------------------------------------
    def _own_file(self) -> Path:
        if self._own is None or self._own_pid != os.getpid():  # a fork gets its own file
            self.directory.mkdir(parents=True, exist_ok=True)
            self._own_pid = os.getpid()
            self._own = self.directory / f"spool-{self._own_pid}.jsonl"
            self._own_fd = os.open(self._own, os.O_RDWR | os.O_CREAT | os.O_APPEND, 0o600)
            fcntl.flock(self._own_fd, fcntl.LOCK_EX)  # held for the process lifetime
        return self._own

    def _spooled_bytes(self) -> int:
        if not self.directory.is_dir():
            return 0
        return sum(p.stat().st_size for p in self.directory.glob("spool-*.jsonl"))

    def _own_bytes(self) -> int:
        return os.fstat(self._own_fd).st_size if self._own_fd is not None and self._own_pid == os.getpid() else 0

    def pending(self) -> int:
        """Records waiting in every spool file here (for /healthz)."""
        if not self.directory.is_dir():
            return 0
        return sum(p.read_bytes().count(b"\n") for p in self.directory.glob("spool-*.jsonl"))

    def _append(self, record: PredictionRecord) -> None:
        line = _encode(record)
        if self._spooled_bytes() + len(line) > self.max_bytes:
            raise SpoolFull(
                f"the prediction log is unreachable and the local spool is full ({self.max_bytes:,} bytes); retry later"
            )
        self._own_file()
        os.write(self._own_fd, line)
        os.fsync(self._own_fd)

    def _replay_file(self, path: Path, fd: int) -> bool:
        """Write every record of ``path`` in order; True when the file was emptied."""
        with open(path, "rb") as source:
            lines = source.read().splitlines()
        done = 0
        try:
            for line in lines:
                if line.strip():
                    self.inner.write(_decode(line))
                done += 1
        finally:
            if done:
                rest = b"".join(line + b"\n" for line in lines[done:])
                os.ftruncate(fd, 0)
                if rest:
                    os.write(fd, rest)
                os.fsync(fd)
        return done == len(lines)

    def _replay(self) -> bool:
        """Replay every spool file we can lock (ours, and those of dead processes)."""
        if not self.directory.is_dir():
            return True
        if not self._schema_ready:
            self.inner.ensure_schema()
            self._schema_ready = True
        clean = True
        for path in sorted(self.directory.glob("spool-*.jsonl")):
            if path == self._own:
                clean = self._replay_file(path, self._own_fd) and clean
                continue
            fd = os.open(path, os.O_RDWR)
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                os.close(fd)
                continue  # a live process owns it and will replay it
            try:
                if self._replay_file(path, fd):
                    path.unlink()
                else:
                    clean = False
            finally:
                os.close(fd)
        return clean

    def _maybe_replay(self) -> bool:
        now = self._clock()
        if now - self._last_attempt < self.retry_seconds:
            return False
        self._last_attempt = now
        try:
            return self._replay()
        except StoreUnavailable:
            return False

    # -- the PredictionLog interface ----------------------------------------
    def ensure_schema(self) -> None:
        try:
            self.inner.ensure_schema()
            self._schema_ready = True
        except StoreUnavailable as exc:  # records spool until the store answers; schema is applied before replay
            log.warning("prediction log unavailable at start-up (uploads are spooled until it answers): %s", exc)

    def write(self, record: PredictionRecord) -> None:
        with self._lock:
            if not self._adopted:  # the first write adopts spools left by dead processes
                self._adopted = True
                self._maybe_replay()
            if self._own_bytes() and (not self._maybe_replay() or self._own_bytes()):
                self._append(record)  # behind the records already waiting: order is kept
                return
            try:
                if not self._schema_ready:
                    self.inner.ensure_schema()
                    self._schema_ready = True
                self.inner.write(record)
            except StoreUnavailable:
                self._append(record)

    def flush(self) -> bool:
        """Try to replay now (ignores the retry interval). True when nothing is left."""
        with self._lock:
            self._last_attempt = float("-inf")
            return self._maybe_replay() and not self._own_bytes()

    def get(self, prediction_id: str) -> PredictionRecord | None:
        return self.inner.get(prediction_id)

    def recent(self, limit: int, max_confidence: float | None = None) -> list[PredictionRecord]:
        return self.inner.recent(limit, max_confidence)

    def set_label(self, prediction_id: str, label: int, at: datetime) -> PredictionRecord | None:
        """Not spooled: the caller is told (503) and may retry; a label is not an accepted upload."""
        return self.inner.set_label(prediction_id, label, at)

    def corrections(self) -> Iterator[Correction]:
        return self.inner.corrections()

    def stats(self, first: date, last: date, low_below: float) -> list[StatsRow]:
        return self.inner.stats(first, last, low_below)

    def export(self, first: date, last: date) -> Iterator[PredictionRecord]:
        return self.inner.export(first, last)

    def ping(self) -> bool:
        return self.inner.ping()

    def describe(self) -> str:
        return self.inner.describe()

    def last_error(self) -> str | None:
        """Why the log last refused us, where the backend keeps that (Cassandra does)."""
        return getattr(self.inner, "last_error", None)

    def close(self) -> None:
        self.inner.close()

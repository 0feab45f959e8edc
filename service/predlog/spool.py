"""Nothing answered 200 is lost: a durable local spool in front of any prediction log.

A record the log refuses for want of availability (LogUnavailable) is appended
to this process's spool file and fsync'd before the request is answered; a write
that cannot be completed (short write, ENOSPC, EIO) is undone and refused with a
503, so a record is accepted only when it is in the log or whole in the spool.

A breaker keeps a slow or dead log off the request path: after one refused
write, records go straight to the spool until a background thread, every
``retry_seconds``, has replayed every spool file it can lock (its own, and those
of processes that died) and the log accepts writes again. Records carry their
own id and time, and the log's writes are idempotent, so a replay cut short is
harmless and arrival order does not matter.

A damaged spool line (torn by a crash, or failing its checksum) or a record the
log rejects for good is moved to ``quarantine.jsonl`` (counted in /healthz,
logged once) and never blocks the records behind it.
"""

from __future__ import annotations

import fcntl
import json
import logging
import os
import threading
import time
from collections.abc import Callable, Iterator
from datetime import date, datetime
from pathlib import Path

from service.errors import LogUnavailable, SpoolFull
from service.predlog.base import Correction, PredictionLog, PredictionRecord, StatsRow
from service.predlog.object_spool import ObjectSpool
from service.predlog.spool_files import (
    QUARANTINE,
    DamagedRecord,
    SpoolFiles,
    _LineCounter,
    decode,
    encode,
    linked_at,
    place,
)

__all__ = ["QUARANTINE", "REPLAY_GROUP", "SpooledPredictionLog", "SpoolFull", "_LineCounter", "encode", "requeue"]

logger = logging.getLogger(__name__)

REPLAY_GROUP = 200  # spooled records written together on replay: one round of the log's writes, not one each


class _Breaker:
    """Open while the log is known to refuse writes: records go straight to the spool until a replay gets
    through."""

    def __init__(self, clock: Callable[[], float]):
        self.clock = clock
        self.down_since: float | None = None
        self.error: str | None = None

    @property
    def is_open(self) -> bool:
        return self.down_since is not None

    def trip(self, exc: Exception) -> None:
        self.error = str(exc)
        if self.down_since is None:
            self.down_since = self.clock()
            logger.warning("prediction log unavailable; records go to the local spool until it recovers: %s", exc)

    def close(self) -> None:
        if self.down_since is not None:
            logger.info("prediction log available again after %.1f s", self.clock() - self.down_since)
        self.down_since, self.error = None, None


class _Replayer:
    """The background thread that calls ``replay`` every ``retry_seconds`` until it succeeds: one per process,
    started when the log refuses, a daemon (a worker stopped during an outage exits; its records wait)."""

    def __init__(self, replay: Callable[[], bool], retry_seconds: float, background: bool):
        self.replay, self.retry_seconds, self.background = replay, retry_seconds, background
        self.thread: threading.Thread | None = None
        self.stop = threading.Event()

    def after_fork(self) -> None:
        self.thread = None

    def start(self) -> None:
        if not self.background or (self.thread is not None and self.thread.is_alive()):
            return
        self.thread = threading.Thread(target=self._loop, name="spool-replay", daemon=True)
        self.thread.start()

    def _loop(self) -> None:
        while not self.stop.wait(self.retry_seconds):
            try:
                if self.replay():
                    return  # back to normal: the next refusal starts a new thread
            except Exception:  # never let the replayer die silently: a bug here must be seen, and retried
                logger.exception("spool replay failed")


class SpooledPredictionLog:
    def __init__(
        self,
        inner: PredictionLog,
        directory: Path,
        max_bytes: int,
        retry_seconds: float = 2.0,
        clock: Callable[[], float] = time.monotonic,
        background: bool = True,
        spool: ObjectSpool | None = None,
    ):
        """``spool``: where refused records wait, when not in files under ``directory`` (service.predlog.object_spool)."""
        self.inner = inner
        self.files: SpoolFiles | ObjectSpool = spool if spool is not None else SpoolFiles(directory, max_bytes)
        self.replayer = _Replayer(self.replay, retry_seconds, background)
        self._pid: int | None = None  # this process's own replayer and its lock: _fork_check sets them
        self._fork_check()
        self.breaker = _Breaker(clock)
        self._schema_ready = False

    def _fork_check(self) -> None:
        """A forked worker gets its own spool file, breaker and replay thread."""
        self.files.fork_check()
        if self._pid != os.getpid():
            self._pid = os.getpid()
            self.replayer.after_fork()
            self._replay_lock = threading.Lock()  # one replay at a time in this process

    def replay(self) -> bool:
        """Replay every spool file we can lock. True when nothing is left and the log took writes."""
        self._fork_check()
        with self._replay_lock:
            try:
                if self.breaker.is_open and not self.inner.ping():  # still down: touch nothing
                    raise LogUnavailable(self.last_error() or f"{self.inner.describe()} does not accept writes")
                self.files.rotate()
                if not self._schema_ready:
                    self.inner.ensure_schema()
                    self._schema_ready = True
                _replay(self.inner, self.files)
            except LogUnavailable as exc:
                self._trip(exc)
                return False
            self.breaker.close()  # the log took every record: new ones go to it again
            return not self.files.own_bytes()  # records spooled while we replayed wait for the next round

    def _trip(self, exc: Exception) -> None:
        self.breaker.trip(exc)
        self.replayer.start()

    def ensure_schema(self) -> None:
        self._fork_check()
        try:
            self.inner.ensure_schema()
            self._schema_ready = True
        except LogUnavailable as exc:  # records spool until the log answers; the schema is applied before replay
            logger.warning("prediction log unavailable at start-up (uploads are spooled until it answers): %s", exc)
            self._trip(exc)
        if self.files.paths():  # records left by processes that died: replay them in the background
            self.replayer.start()

    def write(self, record: PredictionRecord) -> None:
        """Accepted = in the log, or whole in the spool; LogUnavailable (503) otherwise."""
        self.write_many([record])

    def write_many(self, records: list[PredictionRecord]) -> None:
        """Accepted = all in the log (one transaction of it: group commit), or, the log refusing, whole in the
        spool (a log that took some before failing gets them again from the replay: writes are idempotent);
        LogUnavailable (503) when the spool cannot take them either."""
        self._fork_check()
        if not self.breaker.is_open:
            try:
                if not self._schema_ready:
                    self.inner.ensure_schema()
                    self._schema_ready = True
                self.inner.write_many(records)
                return
            except LogUnavailable as exc:
                self._trip(exc)
        for record in records:
            self.files.append(record)
        self.replayer.start()

    def flush(self) -> bool:
        """Replay now (tests, shutdown). True when nothing is left."""
        return self.replay()

    def pending(self) -> int:
        """Records waiting in the spool files here; cheap (only newly appended bytes are read)."""
        return self.files.pending()

    def quarantined(self) -> int:
        return self.files.quarantined()

    def available(self) -> bool:
        """Would a write reach the log now? (The breaker's state, confirmed by a probe when closed.)

        A failed probe is reported but does not open the breaker: only a refused write does. A probe that
        lands on a node the driver has not yet seen die (one of three, where writes still succeed) must
        not send every upload to the spool."""
        self._fork_check()
        return not self.breaker.is_open and self.inner.ping()

    def get(self, prediction_id: str) -> PredictionRecord | None:
        """From the log, or from the spool while the record waits there: an upload answered 200 is readable."""
        try:
            found = self.inner.get(prediction_id)
        except LogUnavailable:
            found = self.files.find(prediction_id)
            if found is None:  # it may be in the log: that cannot be read now
                raise
        return found if found is not None else self.files.find(prediction_id)

    def recent(self, limit: int, max_confidence: float | None = None) -> list[PredictionRecord]:
        return self.inner.recent(limit, max_confidence)

    def set_label(self, prediction_id: str, label: int, at: datetime) -> PredictionRecord | None:
        """Not spooled: a label is not an accepted upload. The log refusing, or the record still waiting in
        the spool, the caller is told so (LogUnavailable: a 503 to retry), never that the record is unknown."""
        labelled = self.inner.set_label(prediction_id, label, at)
        if labelled is None and (self.files.find(prediction_id) or self.inner.get(prediction_id)):
            raise LogUnavailable(
                "this prediction is waiting in the local spool for the prediction log to come back; "
                "retry the correction after Retry-After"
            )
        return labelled

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
        """Why the log last refused us."""
        return getattr(self.inner, "last_error", None) or self.breaker.error

    def close(self) -> None:
        self.replayer.stop.set()
        self.inner.close()


def _replay(inner: PredictionLog, files: SpoolFiles | ObjectSpool) -> None:
    """The spool's records into ``inner``: file by file under their locks, or, each record its own object, by
    the object spool itself."""
    if isinstance(files, ObjectSpool):
        files.replay_into(inner)
    else:
        _replay_files(inner, files)


def _replay_files(inner: PredictionLog, files: SpoolFiles) -> None:
    """Every spool file nobody else holds (a dead process's, this one's rotated ones), written and removed."""
    for path in files.paths():
        try:
            fd = os.open(path, os.O_RDWR)
        except FileNotFoundError:
            continue
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            continue  # a live process appends to it (or another replayer has it)
        try:
            if linked_at(path, fd):  # not finished or shortened into a new file by another replayer
                _replay_file(inner, files, path)
                path.unlink()
        finally:
            os.close(fd)


def _replay_file(inner: PredictionLog, files: SpoolFiles, path: Path) -> None:
    """Write every record of ``path`` (its replayer holds the file's lock), REPLAY_GROUP at a time; damaged
    or rejected ones are quarantined. LogUnavailable mid-way leaves only the records not yet written."""
    with open(path, "rb") as source:
        lines = source.read().split(b"\n")
        inode = os.fstat(source.fileno()).st_ino
    group: list[tuple[int, bytes, PredictionRecord]] = []
    for index, line in enumerate(lines):
        if not line.strip():
            continue
        try:
            group.append((index, line, decode(line)))
        except DamagedRecord as exc:
            files.quarantine(line, str(exc), place(path, inode, index, line))
        if len(group) >= REPLAY_GROUP:
            _replay_group(inner, files, (path, inode), lines, group, index + 1)
            group = []
    if group:
        _replay_group(inner, files, (path, inode), lines, group, len(lines))


def _replay_group(
    inner: PredictionLog,
    files: SpoolFiles,
    file: tuple[Path, int],
    lines: list[bytes],
    group: list[tuple[int, bytes, PredictionRecord]],
    read: int,
) -> None:
    """The group in one ``write_many``; refused for a reason of the log's own, record by record, so that
    only the record it refuses is set aside. ``lines[:read]`` have been read (the damaged ones among them
    quarantined). ``file``: the file's path and inode."""
    path = file[0]
    try:
        inner.write_many([record for _, _, record in group])
        return
    except LogUnavailable:
        _keep_rest(path, lines, [line for _, line, _ in group] + lines[read:])
        raise
    except Exception:  # one of them is refused for good (or a bug): find which
        pass
    for position, (index, line, record) in enumerate(group):
        try:
            inner.write(record)
        except LogUnavailable:
            _keep_rest(path, lines, [line for _, line, _ in group[position:]] + lines[read:])
            raise
        except Exception as exc:  # the log rejects this record for good (or a bug): keep it aside, go on
            logger.exception("the prediction log rejected a spooled record; it is quarantined")
            files.quarantine(line, f"rejected by the log: {type(exc).__name__}: {exc}", place(*file, index, line))


def _keep_rest(path: Path, lines: list[bytes], rest: list[bytes]) -> None:
    """After a partial replay, leave only ``rest``: the records not yet written and the lines not yet read
    (never a line already quarantined: a damaged line is set aside once, however often the log fails). A new
    file renamed over the old: never a moment with neither. If that cannot be written, the whole file stays:
    its records are written again, harmlessly (its damaged lines are not set aside twice: their
    place is in their quarantine entry)."""
    if sum(1 for line in rest if line.strip()) == sum(1 for line in lines if line.strip()):
        return  # nothing written or set aside: the file is the rest already
    tmp = path.with_name(f".rest-{os.getpid()}.tmp")
    try:
        # replaces a spool file: as private as the spool files it replaces, whatever the umask
        with os.fdopen(os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600), "wb") as out:
            out.write(b"\n".join(rest).rstrip(b"\n") + b"\n")
            out.flush()
            os.fsync(out.fileno())
        os.replace(tmp, path)
    except OSError as exc:
        logger.warning("could not shorten %s after a partial replay (%s); it will be replayed whole", path, exc)
        tmp.unlink(missing_ok=True)


def requeue(directory: Path, log: PredictionLog, group: int = REPLAY_GROUP) -> tuple[int, int]:
    """Write the quarantined records that are whole to ``log`` (after the fault that made it refuse them is
    fixed); the damaged ones, and any the log refuses again, stay. Idempotent: writes are upserts.
    (requeued, kept). LogUnavailable leaves the file as it was."""
    path = directory / QUARANTINE
    if not path.exists():
        return 0, 0
    with open(path, "r+b") as file:
        fcntl.flock(file, fcntl.LOCK_EX)
        entries = [line for line in file.read().split(b"\n") if line.strip()]
        whole: list[tuple[bytes, PredictionRecord]] = []
        kept = []
        for entry in entries:
            try:
                line = json.loads(entry)["line"]
                whole.append((entry, decode(line.encode().rstrip(b"\n"))))
            except (DamagedRecord, ValueError, KeyError, TypeError, AttributeError):
                kept.append(entry)
        written = 0
        for start in range(0, len(whole), group):
            chunk = whole[start : start + group]
            try:
                log.write_many([record for _, record in chunk])
                written += len(chunk)
            except LogUnavailable:
                raise
            except Exception:  # one of them is refused again: each on its own
                for entry, record in chunk:
                    try:
                        log.write(record)
                        written += 1
                    except LogUnavailable:
                        raise
                    except Exception:
                        kept.append(entry)
        file.seek(0)
        file.truncate()
        file.write(b"".join(entry + b"\n" for entry in kept))
        file.flush()
        os.fsync(file.fileno())
    return written, len(kept)

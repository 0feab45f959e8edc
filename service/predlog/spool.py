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

import base64
import errno
import fcntl
import json
import logging
import os
import threading
import time
import zlib
from collections.abc import Callable, Iterator
from dataclasses import asdict, fields
from datetime import date, datetime
from pathlib import Path

from service.errors import LogUnavailable, SpoolFull
from service.predlog.base import Correction, PredictionLog, PredictionRecord, StatsRow

logger = logging.getLogger(__name__)

QUARANTINE = "quarantine.jsonl"
REPLAY_GROUP = 200  # spooled records written together on replay: one round of the log's writes, not one each


class DamagedRecord(ValueError):
    """A spool line that is torn or fails its checksum."""


def encode(record: PredictionRecord) -> bytes:
    """One spool line: ``<crc32 hex> <json>\\n`` (the checksum finds a torn or corrupted line)."""
    data = asdict(record)
    for name, value in data.items():
        if isinstance(value, bytes):
            data[name] = {"b64": base64.b64encode(value).decode()}
        elif isinstance(value, datetime):
            data[name] = {"iso": value.isoformat()}
    body = json.dumps(data, separators=(",", ":")).encode()
    return b"%08x " % zlib.crc32(body) + body + b"\n"


def decode(line: bytes) -> PredictionRecord:
    """The record of a spool line; DamagedRecord when it is torn, corrupt or not a record."""
    body = line
    if not line.startswith(b"{"):  # lines written before checksums were added start with "{"
        crc, _, body = line.partition(b" ")
        try:
            expected = int(crc, 16)
        except ValueError:
            raise DamagedRecord("no checksum") from None
        if expected != zlib.crc32(body):
            raise DamagedRecord("checksum mismatch")
    try:
        data = json.loads(body)
        for name, value in data.items():
            if isinstance(value, dict) and "b64" in value:
                data[name] = base64.b64decode(value["b64"])
            elif isinstance(value, dict) and "iso" in value:
                data[name] = datetime.fromisoformat(value["iso"])
        known = {f.name for f in fields(PredictionRecord)}
        return PredictionRecord(**{k: v for k, v in data.items() if k in known})
    except (ValueError, TypeError, AttributeError, RecursionError) as exc:
        raise DamagedRecord(f"not a record: {exc}") from None


class _LineCounter:
    """Records in spool files without rereading them: only bytes appended since the last look are read."""

    def __init__(self) -> None:
        self._seen: dict[Path, tuple[int, int, int]] = {}  # path -> (inode, offset, lines)

    def count(self, paths: list[Path]) -> int:
        total, seen = 0, {}
        for path in paths:
            try:
                st = path.stat()
                inode, offset, lines = self._seen.get(path, (st.st_ino, 0, 0))
                if inode != st.st_ino or st.st_size < offset:  # replaced or truncated by a replay
                    offset, lines = 0, 0
                if st.st_size > offset:
                    with open(path, "rb") as f:
                        f.seek(offset)
                        lines += f.read(st.st_size - offset).count(b"\n")
                seen[path] = (st.st_ino, st.st_size, lines)
                total += lines
            except FileNotFoundError:
                continue
        self._seen = seen
        return total


class SpooledPredictionLog:
    def __init__(
        self,
        inner: PredictionLog,
        directory: Path,
        max_bytes: int,
        retry_seconds: float = 2.0,
        clock: Callable[[], float] = time.monotonic,
        background: bool = True,
    ):
        self.inner = inner
        self.directory = directory
        self.max_bytes = max_bytes
        self.retry_seconds = retry_seconds
        self._clock = clock
        self._background = background
        self._pid: int | None = None  # this process's own state (its file, locks, replayer): _fork_check sets it
        self._fork_check()
        self._rotations = 0
        self._down_since: float | None = None  # the breaker: open while the log is known to refuse writes
        self._error: str | None = None
        self._schema_ready = False
        self._quarantined_logged = False
        self._counter = _LineCounter()
        self._quarantine_counter = _LineCounter()
        self._stop = threading.Event()

    # -- this process's spool file -------------------------------------------
    def _fork_check(self) -> None:
        """A forked worker gets its own spool file, breaker and replay thread."""
        if self._pid != os.getpid():
            self._pid = os.getpid()
            self._own_fd: int | None = None
            self._thread: threading.Thread | None = None
            self._append_lock = threading.Lock()  # guards this process's spool file
            self._replay_lock = threading.Lock()  # one replay at a time in this process

    def _own_file(self) -> int:
        if self._own_fd is None:
            self.directory.mkdir(parents=True, exist_ok=True)
            path = self.directory / f"spool-{self._pid}-{self._rotations}.jsonl"
            fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_APPEND, 0o600)
            fcntl.flock(fd, fcntl.LOCK_EX)  # held while this process appends to it
            self._own_fd = fd
        return self._own_fd

    def _spool_files(self) -> list[Path]:
        return sorted(self.directory.glob("spool-*.jsonl")) if self.directory.is_dir() else []

    def _spooled_bytes(self) -> int:
        total = 0
        for path in self._spool_files():
            try:
                total += path.stat().st_size
            except FileNotFoundError:
                continue
        return total

    def _append(self, record: PredictionRecord) -> None:
        """Whole and fsync'd, or undone and refused: never half a record counted as accepted."""
        line = encode(record)
        with self._append_lock:
            if self._spooled_bytes() + len(line) > self.max_bytes:
                raise SpoolFull(
                    f"the prediction log is unavailable and the local spool is full "
                    f"({self.max_bytes:,} bytes); retry later"
                )
            try:
                fd = self._own_file()
            except OSError as exc:
                raise LogUnavailable(
                    f"the prediction log is unavailable and the spool cannot be opened: {exc.strerror or exc}"
                ) from exc
            start = os.fstat(fd).st_size
            try:
                view = memoryview(line)
                while view:
                    written = os.write(fd, view)
                    if written <= 0:
                        raise OSError(errno.ENOSPC, "short write")
                    view = view[written:]
                os.fsync(fd)
            except OSError as exc:
                self._undo(fd, start)
                self._release_own()  # the next record starts a fresh file (the disk may be freed by then)
                raise LogUnavailable(
                    f"the prediction log is unavailable and the record could not be spooled: {exc.strerror or exc}"
                ) from exc

    def _undo(self, fd: int, start: int) -> None:
        try:
            os.ftruncate(fd, start)
            os.fsync(fd)
        except OSError as exc:  # the torn tail stays in that file; its replay quarantines it
            logger.error("could not undo a failed spool write (%s); the torn line will be quarantined", exc)

    def _release_own(self) -> None:
        """Close this process's file: that releases its lock, so it is replayable like a dead process's."""
        if self._own_fd is not None:
            os.close(self._own_fd)
            self._own_fd = None
            self._rotations += 1

    def _rotate(self) -> None:
        """Hand this process's file to the replayer: a fresh file takes new records meanwhile."""
        with self._append_lock:
            if self._own_fd is not None and os.fstat(self._own_fd).st_size:
                self._release_own()

    # -- replay -------------------------------------------------------------------
    def _quarantine(self, line: bytes, reason: str) -> None:
        """Beside the spool file the line came from (so the directory is there)."""
        entry = (
            json.dumps(
                {
                    "reason": reason,
                    "at": datetime.now().astimezone().isoformat(),
                    "line": line.decode("utf-8", "replace"),
                }
            ).encode()
            + b"\n"
        )
        with open(self.directory / QUARANTINE, "ab") as out:
            fcntl.flock(out, fcntl.LOCK_EX)  # ``requeue`` rewrites the file under the same lock
            out.write(entry)
            out.flush()
            os.fsync(out.fileno())
        if not self._quarantined_logged:  # once per process: a flood of damaged lines is one message
            self._quarantined_logged = True
            logger.error(
                "a spool record was moved to %s (%s); /healthz counts them", self.directory / QUARANTINE, reason
            )

    def _replay_file(self, path: Path) -> None:
        """Write every record of ``path`` (its replayer holds the file's lock), REPLAY_GROUP at a time; damaged
        or rejected ones are quarantined. LogUnavailable mid-way leaves only the records not yet written."""
        with open(path, "rb") as source:
            lines = source.read().split(b"\n")
        group: list[tuple[int, bytes, PredictionRecord]] = []
        for index, line in enumerate(lines):
            if not line.strip():
                continue
            try:
                group.append((index, line, decode(line)))
            except DamagedRecord as exc:
                self._quarantine(line, str(exc))
            if len(group) >= REPLAY_GROUP:
                self._replay_group(path, lines, group, index + 1)
                group = []
        if group:
            self._replay_group(path, lines, group, len(lines))

    def _replay_group(
        self, path: Path, lines: list[bytes], group: list[tuple[int, bytes, PredictionRecord]], read: int
    ) -> None:
        """The group in one ``write_many``; refused for a reason of the log's own, record by record, so that
        only the record it refuses is set aside. ``lines[:read]`` have been read (the damaged ones among them
        quarantined)."""
        try:
            self.inner.write_many([record for _, _, record in group])
            return
        except LogUnavailable:
            self._keep_rest(path, lines, [line for _, line, _ in group] + lines[read:])
            raise
        except Exception:  # one of them is refused for good (or a bug): find which
            pass
        for position, (_, line, record) in enumerate(group):
            try:
                self.inner.write(record)
            except LogUnavailable:
                self._keep_rest(path, lines, [line for _, line, _ in group[position:]] + lines[read:])
                raise
            except Exception as exc:  # the log rejects this record for good (or a bug): keep it aside, go on
                logger.exception("the prediction log rejected a spooled record; it is quarantined")
                self._quarantine(line, f"rejected by the log: {type(exc).__name__}: {exc}")

    def _keep_rest(self, path: Path, lines: list[bytes], rest: list[bytes]) -> None:
        """After a partial replay, leave only ``rest``: the records not yet written and the lines not yet read
        (never a line already quarantined: a damaged line is set aside once, however often the log fails). A new
        file renamed over the old: never a moment with neither. If that cannot be written, the whole file stays:
        its records are written again, harmlessly (and its damaged lines quarantined again)."""
        if sum(1 for line in rest if line.strip()) == sum(1 for line in lines if line.strip()):
            return  # nothing written or set aside: the file is the rest already
        tmp = path.with_name(f".rest-{os.getpid()}.tmp")
        try:
            with open(tmp, "wb") as out:
                out.write(b"\n".join(rest).rstrip(b"\n") + b"\n")
                out.flush()
                os.fsync(out.fileno())
            os.replace(tmp, path)
        except OSError as exc:
            logger.warning("could not shorten %s after a partial replay (%s); it will be replayed whole", path, exc)
            tmp.unlink(missing_ok=True)

    def replay(self) -> bool:
        """Replay every spool file we can lock. True when nothing is left and the log took writes."""
        self._fork_check()
        with self._replay_lock:
            try:
                if self._down_since is not None and not self.inner.ping():  # still down: touch nothing
                    raise LogUnavailable(self.last_error() or f"{self.inner.describe()} does not accept writes")
                self._rotate()
                if not self._schema_ready:
                    self.inner.ensure_schema()
                    self._schema_ready = True
                for path in self._spool_files():
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
                        if self._same_file(path, fd):
                            self._replay_file(path)
                            path.unlink()
                    finally:
                        os.close(fd)
            except LogUnavailable as exc:
                self._trip(exc)
                return False
            self._close_breaker()  # the log took every record: new ones go to it again
            return not self._own_bytes()  # records spooled while we replayed wait for the next round

    @staticmethod
    def _same_file(path: Path, fd: int) -> bool:
        """Still the file we locked (another replayer may have finished it, or shortened it into a new one)."""
        try:
            return path.stat().st_ino == os.fstat(fd).st_ino
        except FileNotFoundError:
            return False

    def _own_bytes(self) -> int:
        return os.fstat(self._own_fd).st_size if self._own_fd is not None else 0

    # -- the breaker --------------------------------------------------------------
    def _trip(self, exc: Exception) -> None:
        self._error = str(exc)
        if self._down_since is None:
            self._down_since = self._clock()
            logger.warning("prediction log unavailable; records go to the local spool until it recovers: %s", exc)
        self._start_replayer()

    def _close_breaker(self) -> None:
        if self._down_since is not None:
            logger.info("prediction log available again after %.1f s", self._clock() - self._down_since)
        self._down_since, self._error = None, None

    def _start_replayer(self) -> None:
        if not self._background or (self._thread is not None and self._thread.is_alive()):
            return
        self._thread = threading.Thread(target=self._replay_loop, name="spool-replay", daemon=True)
        self._thread.start()

    def _replay_loop(self) -> None:
        while not self._stop.wait(self.retry_seconds):
            try:
                if self.replay():
                    return  # back to normal: the next refusal starts a new thread
            except Exception:  # never let the replayer die silently: a bug here must be seen, and retried
                logger.exception("spool replay failed")

    # -- the PredictionLog interface ------------------------------------------------
    def ensure_schema(self) -> None:
        self._fork_check()
        try:
            self.inner.ensure_schema()
            self._schema_ready = True
        except LogUnavailable as exc:  # records spool until the log answers; the schema is applied before replay
            logger.warning("prediction log unavailable at start-up (uploads are spooled until it answers): %s", exc)
            self._trip(exc)
        if self._spool_files():  # records left by processes that died: replay them in the background
            self._start_replayer()

    def write(self, record: PredictionRecord) -> None:
        """Accepted = in the log, or whole in the spool; LogUnavailable (503) otherwise."""
        self.write_many([record])

    def write_many(self, records: list[PredictionRecord]) -> None:
        """Accepted = all in the log (one transaction of it: group commit), or, the log refusing, whole in the
        spool (a log that took some before failing gets them again from the replay: writes are idempotent);
        LogUnavailable (503) when the spool cannot take them either."""
        self._fork_check()
        if self._down_since is None:
            try:
                if not self._schema_ready:
                    self.inner.ensure_schema()
                    self._schema_ready = True
                self.inner.write_many(records)
                return
            except LogUnavailable as exc:
                self._trip(exc)
        for record in records:
            self._append(record)
        self._start_replayer()

    def flush(self) -> bool:
        """Replay now (tests, shutdown). True when nothing is left."""
        return self.replay()

    def pending(self) -> int:
        """Records waiting in the spool files here; cheap (only newly appended bytes are read)."""
        return self._counter.count(self._spool_files())

    def quarantined(self) -> int:
        return self._quarantine_counter.count([self.directory / QUARANTINE])

    def available(self) -> bool:
        """Would a write reach the log now? (The breaker's state, confirmed by a probe when closed.)

        A failed probe is reported but does not open the breaker: only a refused write does. A probe that
        lands on a node the driver has not yet seen die (one of three, where writes still succeed) must
        not send every upload to the spool."""
        self._fork_check()
        return self._down_since is None and self.inner.ping()

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
        """Why the log last refused us."""
        return getattr(self.inner, "last_error", None) or self._error

    def close(self) -> None:
        self._stop.set()
        self.inner.close()


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

"""The spool on disk: one file per process, appended whole and fsync'd under the file's lock; the lines that
carry records (checksummed); and the quarantine beside them for the lines that cannot be replayed."""

from __future__ import annotations

import base64
import errno
import fcntl
import json
import logging
import mmap
import os
import threading
import zlib
from dataclasses import asdict, fields
from datetime import datetime
from pathlib import Path

from service.errors import LogUnavailable, SpoolFull
from service.predlog.base import PredictionRecord

logger = logging.getLogger("service.predlog.spool")  # one logger for the whole spool, whichever module writes

QUARANTINE = "quarantine.jsonl"


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


def place(file: Path, inode: int, index: int, line: bytes) -> str:
    """Where a spool line was (``SpoolFiles.quarantine``'s ``source``): its file, the file's inode, the line's
    index and its checksum (a file of the same name and inode, made later, holds other lines)."""
    return f"{file.name}:{inode}:{index}:{zlib.crc32(line):08x}"


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


def linked_at(path: Path, fd: int) -> bool:
    """``fd`` is the file ``path`` names now (not one unlinked or replaced since it was opened)."""
    try:
        return path.stat().st_ino == os.fstat(fd).st_ino
    except FileNotFoundError:
        return False


def _find(paths: list[Path], prediction_id: str) -> PredictionRecord | None:
    """The record of that id in one of ``paths``: found by its bytes (mapped, not read into memory), decoded
    only where they occur."""
    needle = b'"id":' + json.dumps(prediction_id).encode()
    for path in paths:
        try:
            with open(path, "rb") as f, mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_READ) as view:
                at = view.find(needle)
                while at >= 0:
                    start = view.rfind(b"\n", 0, at) + 1
                    end = view.find(b"\n", at)
                    try:
                        record = decode(view[start : end if end >= 0 else len(view)])
                        if record.id == prediction_id:
                            return record
                    except DamagedRecord:
                        pass
                    at = view.find(needle, at + 1)
        except (FileNotFoundError, ValueError):  # replayed meanwhile, or empty (nothing to map)
            continue
    return None


class _Quarantine:
    """The file beside the spool files where the lines that cannot be replayed are set aside, with why."""

    def __init__(self, path: Path):
        self.path = path
        self._logged = False
        self._counter = _LineCounter()
        self._seen: tuple[str, int, set[str]] | None = None  # a spool file, the quarantine's size, its places there

    def add(self, line: bytes, reason: str, source: str | None = None) -> None:
        """Beside the spool file the line came from (so the directory is there). ``source`` names the line's
        place (its file, that file's inode, the line's index and checksum): a line already set aside from
        there is not set aside again, as it would be by the replay after one killed before removing the file."""
        fields = {"reason": reason, "at": datetime.now().astimezone().isoformat()}
        entry = json.dumps(
            {**fields, "line": line.decode("utf-8", "replace"), **({"source": source} if source else {})}
        )
        # it holds users' records, as the spool files do: its owner's only, whatever the umask
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT | os.O_APPEND, 0o600)
        with os.fdopen(fd, "a+b") as out:
            fcntl.flock(out, fcntl.LOCK_EX)  # ``requeue`` rewrites the file under the same lock
            if source is not None and source in self._quarantined_from(out, source):
                return
            out.write(entry.encode() + b"\n")
            out.flush()
            os.fsync(out.fileno())
            if source is not None and self._seen is not None:  # (_quarantined_from has just set it)
                file, _, places = self._seen
                places.add(source)
                self._seen = (file, os.fstat(out.fileno()).st_size, places)
        if not self._logged:  # once per process: a flood of damaged lines is one message
            self._logged = True
            logger.error("a spool record was moved to %s (%s); /healthz counts them", self.path, reason)

    def _quarantined_from(self, out, source: str) -> set[str]:
        """The places already quarantined from ``source``'s file (read again when the quarantine changed since:
        another process, ``requeue``); only that file's, so what is held is bounded by one spool file."""
        file = source.rsplit(":", 2)[0] + ":"
        size = os.fstat(out.fileno()).st_size
        if self._seen is None or self._seen[:2] != (file, size):
            out.seek(0)
            places = set()
            for raw in out.read().splitlines():
                try:
                    place = json.loads(raw).get("source")
                except (ValueError, AttributeError):  # a line not written here: it names no place
                    continue
                if isinstance(place, str) and place.startswith(file):
                    places.add(place)
            self._seen = (file, size, places)
        return self._seen[2]

    def count(self) -> int:
        return self._counter.count([self.path])


class SpoolFiles:
    """The spool directory as one process uses it: its own file to append to, every file to replay."""

    def __init__(self, directory: Path, max_bytes: int):
        self.directory = directory
        self.max_bytes = max_bytes
        self._pid: int | None = None  # this process's own file and its lock: fork_check sets them
        self.fork_check()
        self._rotations = 0
        self._counter = _LineCounter()
        self._quarantine = _Quarantine(directory / QUARANTINE)

    def fork_check(self) -> None:
        """A forked worker gets its own spool file (and the lock that guards it)."""
        if self._pid != os.getpid():
            self._pid = os.getpid()
            self._own_fd: int | None = None
            self._append_lock = threading.Lock()  # guards this process's spool file

    def _own_file(self) -> int:
        """This process's file, locked. A replayer may lock a file between its creation and our lock, find it
        empty and unlink it: appending to that file would lose the records, so a file no longer at its path
        once locked is left and another created. Locked and still linked, it stays ours: a replayer unlinks a
        file only under its lock."""
        while self._own_fd is None:
            self.directory.mkdir(parents=True, exist_ok=True)
            path = self.directory / f"spool-{self._pid}-{self._rotations}.jsonl"
            fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_APPEND | os.O_CLOEXEC, 0o600)
            fcntl.flock(fd, fcntl.LOCK_EX)  # held while this process appends to it
            if linked_at(path, fd):
                self._own_fd = fd
            else:
                os.close(fd)
                self._rotations += 1
        return self._own_fd

    def paths(self) -> list[Path]:
        return sorted(self.directory.glob("spool-*.jsonl")) if self.directory.is_dir() else []

    def _spooled_bytes(self) -> int:
        total = 0
        for path in self.paths():
            try:
                total += path.stat().st_size
            except FileNotFoundError:
                continue
        return total

    def append(self, record: PredictionRecord) -> None:
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

    def rotate(self) -> None:
        """Hand this process's file to the replayer: a fresh file takes new records meanwhile."""
        with self._append_lock:
            if self._own_fd is not None and os.fstat(self._own_fd).st_size:
                self._release_own()

    def own_bytes(self) -> int:
        """What this process has appended to its current file."""
        return os.fstat(self._own_fd).st_size if self._own_fd is not None else 0

    def find(self, prediction_id: str) -> PredictionRecord | None:
        """The record of that id waiting in a spool file here, if one is."""
        return _find(self.paths(), prediction_id)

    def pending(self) -> int:
        """Records waiting in the spool files here; cheap (only newly appended bytes are read)."""
        return self._counter.count(self.paths())

    def quarantine(self, line: bytes, reason: str, source: str | None = None) -> None:
        self._quarantine.add(line, reason, source)

    def quarantined(self) -> int:
        return self._quarantine.count()

"""SQLite prediction log: the embedded default (one file, WAL mode)."""

from __future__ import annotations

import json
import os
import sqlite3
import threading
from collections.abc import Iterator
from datetime import date, datetime
from pathlib import Path

from service.errors import LogUnavailable
from service.predlog.base import Correction, PredictionRecord, StatsRow

EXPORT_CHUNK = 1000

# a label is a digit, or 10: not a digit at all
_LABELS = """(
    id TEXT PRIMARY KEY REFERENCES predictions (id),
    label INTEGER NOT NULL CHECK (label BETWEEN 0 AND 10),
    labelled_at TEXT NOT NULL
)"""

SCHEMA = f"""
CREATE TABLE IF NOT EXISTS predictions (
    id TEXT PRIMARY KEY,
    day TEXT NOT NULL,
    created_at TEXT NOT NULL,
    filename TEXT NOT NULL,
    content_type TEXT NOT NULL,
    digit INTEGER NOT NULL,
    confidence REAL NOT NULL,
    probabilities TEXT NOT NULL,
    model_version TEXT NOT NULL,
    latency_ms REAL NOT NULL,
    normalised BLOB NOT NULL,
    image BLOB,
    image_key TEXT,
    image_size INTEGER NOT NULL,
    request_id TEXT
);
CREATE INDEX IF NOT EXISTS predictions_by_time ON predictions (created_at DESC);
-- per-day stats and the export's keyset pages (day, created_at, id) are range scans of this index
CREATE INDEX IF NOT EXISTS predictions_by_day_time ON predictions (day, created_at, id);
-- Corrections live in their own table, so a database from before they existed
-- needs no migration: this CREATE is all it takes.
CREATE TABLE IF NOT EXISTS labels {_LABELS};
"""

# SQLite alters no CHECK: the table is copied into one that takes label 10, in one transaction
_WIDER_LABELS = f"""
BEGIN;
CREATE TABLE labels_wider {_LABELS};
INSERT INTO labels_wider (id, label, labelled_at) SELECT id, label, labelled_at FROM labels;
DROP TABLE labels;
ALTER TABLE labels_wider RENAME TO labels;
COMMIT;
"""

# one row, rewritten by the health check: "reachable" means a write succeeds, not that a read does
_HEALTH_PROBE = """
CREATE TABLE IF NOT EXISTS health (id INTEGER PRIMARY KEY, checked_at TEXT NOT NULL);
INSERT OR REPLACE INTO health (id, checked_at) VALUES (1, strftime('%Y-%m-%dT%H:%M:%fZ', 'now'));
"""

_COLUMNS = (
    "id, day, created_at, filename, content_type, digit, confidence, probabilities, "
    "model_version, latency_ms, normalised, image, image_key, image_size, request_id"
)
_SELECT = (
    "SELECT " + ", ".join(f"p.{c.strip()}" for c in _COLUMNS.split(",")) + ", l.label, l.labelled_at "
    "FROM predictions p LEFT JOIN labels l ON l.id = p.id"
)
# lists never return originals: they are not read (a page of inline originals would be large)
_SELECT_LIST = _SELECT.replace("p.image,", "NULL,")


# a second write of an id is ignored (idempotent); any other constraint a record breaks is an error, never a
# silently skipped row (OR IGNORE would skip a NULL in a NOT NULL column too)
_INSERT = f"INSERT INTO predictions ({_COLUMNS}) VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?) ON CONFLICT (id) DO NOTHING"


def _row(record: PredictionRecord) -> tuple:
    return (
        record.id,
        record.day,
        record.created_at.isoformat(),
        record.filename,
        record.content_type,
        record.digit,
        record.confidence,
        json.dumps(record.probabilities),
        record.model_version,
        record.latency_ms,
        record.normalised,
        record.image,
        record.image_key,
        record.image_size,
        record.request_id,
    )


# Errors that mean "the database cannot be used right now" (locked, read-only, disk full, I/O error,
# cannot open): the record is spooled. Anything else (a wrong statement or value) is a bug: a 500.
_UNAVAILABLE = (sqlite3.OperationalError, sqlite3.DatabaseError)
_BUGS = (
    sqlite3.ProgrammingError,
    sqlite3.IntegrityError,
    sqlite3.InterfaceError,
    sqlite3.DataError,
    sqlite3.NotSupportedError,
)


def _record_of(row: tuple) -> PredictionRecord:
    (
        pid,
        _day,
        created,
        filename,
        ctype,
        digit,
        conf,
        probs,
        version,
        latency,
        norm,
        image,
        key,
        size,
        request_id,
        label,
        labelled_at,
    ) = row
    return PredictionRecord(
        id=pid,
        created_at=datetime.fromisoformat(created),
        filename=filename,
        content_type=ctype,
        digit=digit,
        confidence=conf,
        probabilities=json.loads(probs),
        model_version=version,
        latency_ms=latency,
        normalised=norm,
        image=image,
        image_key=key,
        image_size=size,
        label=label,
        labelled_at=datetime.fromisoformat(labelled_at) if labelled_at else None,
        request_id=request_id,
    )


def _create_private(path: Path) -> None:
    """The log holds users' uploads: a new database file is its owner's only, whatever the umask (SQLite
    would make it 0644 less the umask, and gives its -wal and -shm files the database's mode). An existing
    file keeps the mode its operator gave it."""
    try:
        os.close(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600))
    except FileExistsError:
        pass


class _Database:
    """One connection per process, guarded by a lock (SQLite serialises writes anyway); a connection that
    failed for a reason of the file's is opened afresh next time."""

    def __init__(self, path: Path, timeout: float):
        self.path = path
        self.timeout = timeout
        self._conn: sqlite3.Connection | None = None
        self._lock = threading.Lock()

    def describe(self) -> str:
        return f"sqlite://{self.path}"

    def _connection(self) -> sqlite3.Connection:
        if self._conn is None:
            try:
                self.path.parent.mkdir(parents=True, exist_ok=True)
                _create_private(self.path)
                conn = sqlite3.connect(self.path, check_same_thread=False, timeout=self.timeout, isolation_level=None)
                conn.execute("PRAGMA journal_mode=WAL")
                conn.execute("PRAGMA synchronous=NORMAL")
            except (OSError, sqlite3.Error) as exc:
                raise LogUnavailable(f"cannot open {self.describe()}: {exc}") from exc
            self._conn = conn
        return self._conn

    def run(self, sql: str, params: tuple = (), script: bool = False) -> list[tuple]:
        with self._lock:
            try:
                conn = self._connection()
                if script:
                    conn.executescript(sql)
                    return []
                return conn.execute(sql, params).fetchall()
            except _BUGS:
                raise
            except _UNAVAILABLE as exc:
                self._reset()  # a file that was read-only, missing or damaged is opened afresh next time
                raise LogUnavailable(f"{self.describe()}: {exc}") from exc

    def run_many(self, sql: str, rows: list[tuple]) -> None:
        """``sql`` once per row, in one transaction: all rows or none."""
        with self._lock:
            try:
                conn = self._connection()
                conn.execute("BEGIN IMMEDIATE")  # the write lock now (within ``timeout``), not at the first insert
                try:
                    conn.executemany(sql, rows)
                    conn.execute("COMMIT")
                except BaseException:
                    try:
                        conn.execute("ROLLBACK")
                    except sqlite3.Error:
                        pass  # no transaction left to roll back (SQLite ended it), or the file is gone
                    raise
            except _BUGS:
                raise
            except _UNAVAILABLE as exc:
                self._reset()
                raise LogUnavailable(f"{self.describe()}: {exc}") from exc

    def _reset(self) -> None:
        if self._conn is not None:
            try:
                self._conn.close()
            except sqlite3.Error:
                pass
            self._conn = None

    def close(self) -> None:
        with self._lock:
            if self._conn is not None:
                self._conn.close()
                self._conn = None


class SqlitePredictionLog:
    """The prediction log in one SQLite file.

    ``timeout`` bounds how long a write waits for another writer's lock: shorter than the spool's retry
    cadence, so a log held locked costs one request that long, then the breaker spools the rest."""

    def __init__(self, path: Path, timeout: float = 0.25):
        self.path = path
        self.db = _Database(path, timeout)

    def _connection(self) -> sqlite3.Connection:
        return self.db._connection()

    def ensure_schema(self) -> None:
        self.db.run(SCHEMA, script=True)
        columns = {row[1] for row in self.db.run("PRAGMA table_info(predictions)")}
        if "request_id" not in columns:  # a log from before request ids: one added column, nothing rewritten
            self.db.run("ALTER TABLE predictions ADD COLUMN request_id TEXT")
        (labels,) = self.db.run("SELECT sql FROM sqlite_master WHERE type = 'table' AND name = 'labels'")[0]
        if "BETWEEN 0 AND 9)" in labels:  # a log from before "not a digit" labels: its CHECK refuses them
            self.db.run(_WIDER_LABELS, script=True)

    def write(self, record: PredictionRecord) -> None:
        self.db.run(_INSERT, _row(record))

    def write_many(self, records: list[PredictionRecord]) -> None:
        if len(records) == 1:  # one statement is its own transaction: no BEGIN and COMMIT to run
            self.write(records[0])
        else:
            self.db.run_many(_INSERT, [_row(record) for record in records])

    def get(self, prediction_id: str) -> PredictionRecord | None:
        rows = self.db.run(f"{_SELECT} WHERE p.id = ?", (prediction_id,))
        return _record_of(rows[0]) if rows else None

    def recent(self, limit: int, max_confidence: float | None = None) -> list[PredictionRecord]:
        where, params = ("WHERE p.confidence < ?", (max_confidence,)) if max_confidence is not None else ("", ())
        rows = self.db.run(f"{_SELECT_LIST} {where} ORDER BY p.created_at DESC, p.id DESC LIMIT ?", (*params, limit))
        return [_record_of(r) for r in rows]

    def set_label(self, prediction_id: str, label: int, at: datetime) -> PredictionRecord | None:
        record = self.get(prediction_id)
        if record is None:
            return None
        self.db.run(
            "INSERT INTO labels (id, label, labelled_at) VALUES (?,?,?) "
            "ON CONFLICT (id) DO UPDATE SET label = excluded.label, labelled_at = excluded.labelled_at",
            (prediction_id, label, at.isoformat()),
        )
        return record.with_label(label, at)

    def corrections(self) -> Iterator[Correction]:
        rows = self.db.run(
            "SELECT p.id, p.normalised, l.label, p.digit, p.model_version "
            "FROM labels l JOIN predictions p ON p.id = l.id ORDER BY p.id"
        )
        for pid, normalised, label, digit, version in rows:
            yield Correction(pid, normalised, label, digit, version)

    def stats(self, first: date, last: date, low_below: float) -> list[StatsRow]:
        rows = self.db.run(
            "SELECT p.day, p.model_version, p.digit, COUNT(*), SUM(p.confidence), SUM(p.confidence < ?), "
            "COUNT(l.label), COALESCE(SUM(l.label = p.digit), 0) "
            "FROM predictions p LEFT JOIN labels l ON l.id = p.id "
            "WHERE p.day BETWEEN ? AND ? GROUP BY p.day, p.model_version, p.digit",
            (low_below, first.isoformat(), last.isoformat()),
        )
        return [StatsRow(*row) for row in rows]

    def export(self, first: date, last: date) -> Iterator[PredictionRecord]:
        """Keyset pagination: one short query per chunk, so no lock is held between chunks."""
        after = (first.isoformat(), "", "")  # sorts before every row of the first day
        while True:
            rows = self.db.run(  # the row value is the index seek: each page starts where the last ended
                f"{_SELECT} WHERE (p.day, p.created_at, p.id) > (?, ?, ?) AND p.day <= ? "
                "ORDER BY p.day, p.created_at, p.id LIMIT ?",
                (*after, last.isoformat(), EXPORT_CHUNK),
            )
            for row in rows:
                yield _record_of(row)
            if len(rows) < EXPORT_CHUNK:
                return
            after = (rows[-1][1], rows[-1][2], rows[-1][0])

    def ping(self) -> bool:
        """True when a write would succeed now: a real (one-row) write, not a read."""
        try:
            self.db.run(_HEALTH_PROBE, script=True)
            return True
        except LogUnavailable:
            return False

    def describe(self) -> str:
        return self.db.describe()

    def close(self) -> None:
        self.db.close()

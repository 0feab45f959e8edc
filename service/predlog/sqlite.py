"""SQLite prediction log: the embedded default (one file, WAL mode)."""
from __future__ import annotations

import json
import sqlite3
import threading
from datetime import datetime
from pathlib import Path

from ml.storage.base import StoreUnavailable
from service.predlog.base import PredictionRecord

SCHEMA = """
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
    image_size INTEGER NOT NULL
);
CREATE INDEX IF NOT EXISTS predictions_by_time ON predictions (created_at DESC);
"""

_COLUMNS = (
    "id, day, created_at, filename, content_type, digit, confidence, probabilities, "
    "model_version, latency_ms, normalised, image, image_key, image_size"
)


class SqlitePredictionLog:
    """One connection per process, guarded by a lock (SQLite serialises writes anyway)."""

    def __init__(self, path: Path, timeout: float = 5.0):
        self.path = path
        self.timeout = timeout
        self._conn: sqlite3.Connection | None = None
        self._lock = threading.Lock()

    def _connection(self) -> sqlite3.Connection:
        if self._conn is None:
            try:
                self.path.parent.mkdir(parents=True, exist_ok=True)
                conn = sqlite3.connect(self.path, check_same_thread=False, timeout=self.timeout, isolation_level=None)
                conn.execute("PRAGMA journal_mode=WAL")
                conn.execute("PRAGMA synchronous=NORMAL")
            except (OSError, sqlite3.Error) as exc:
                raise StoreUnavailable(f"cannot open {self.describe()}: {exc}") from exc
            self._conn = conn
        return self._conn

    def _run(self, sql: str, params: tuple = (), script: bool = False) -> list[tuple]:
        with self._lock:
            try:
                conn = self._connection()
                if script:
                    conn.executescript(sql)
                    return []
                return conn.execute(sql, params).fetchall()
            except sqlite3.Error as exc:
                raise StoreUnavailable(f"{self.describe()}: {exc}") from exc

    def ensure_schema(self) -> None:
        self._run(SCHEMA, script=True)

    def write(self, record: PredictionRecord) -> None:
        self._run(
            f"INSERT OR IGNORE INTO predictions ({_COLUMNS}) VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?)",
            (
                record.id, record.day, record.created_at.isoformat(), record.filename, record.content_type,
                record.digit, record.confidence, json.dumps(record.probabilities), record.model_version,
                record.latency_ms, record.normalised, record.image, record.image_key, record.image_size,
            ),
        )

    @staticmethod
    def _record(row: tuple) -> PredictionRecord:
        (pid, _day, created, filename, ctype, digit, conf, probs, version, latency, norm, image, key, size) = row
        return PredictionRecord(
            id=pid, created_at=datetime.fromisoformat(created), filename=filename, content_type=ctype,
            digit=digit, confidence=conf, probabilities=json.loads(probs), model_version=version,
            latency_ms=latency, normalised=norm, image=image, image_key=key, image_size=size,
        )

    def get(self, prediction_id: str) -> PredictionRecord | None:
        rows = self._run(f"SELECT {_COLUMNS} FROM predictions WHERE id = ?", (prediction_id,))
        return self._record(rows[0]) if rows else None

    def recent(self, limit: int) -> list[PredictionRecord]:
        rows = self._run(f"SELECT {_COLUMNS} FROM predictions ORDER BY created_at DESC, id DESC LIMIT ?", (limit,))
        return [self._record(r) for r in rows]

    def ping(self) -> bool:
        try:
            self._run("SELECT 1")
            return True
        except StoreUnavailable:
            return False

    def describe(self) -> str:
        return f"sqlite://{self.path}"

    def close(self) -> None:
        with self._lock:
            if self._conn is not None:
                self._conn.close()
                self._conn = None

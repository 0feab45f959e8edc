"""Cassandra prediction log (Apache Cassandra, ScyllaDB, Amazon Keyspaces).

One Cluster/Session per process, created lazily on first use, which is after
gunicorn has forked (a driver connection must not cross a fork). Every
statement is prepared once and marked idempotent, so the driver may retry.
"""
from __future__ import annotations

import re
import threading
from datetime import date, datetime, timedelta, timezone
from pathlib import Path
from urllib.parse import urlparse

from ml.storage.base import StoreUnavailable
from service.predlog.base import PredictionRecord, created_at_of

SCHEMA_FILE = Path(__file__).resolve().parent / "schema.cql"
MAX_DAYS_BACK = 31
_FIELDS = (
    "id, filename, content_type, digit, confidence, probabilities, model_version, "
    "latency_ms, normalised, image, image_key, image_size"
)


def schema_statements(keyspace: str, text: str | None = None) -> list[str]:
    """The statements of schema.cql, for ``keyspace``, comments removed."""
    text = SCHEMA_FILE.read_text() if text is None else text
    text = re.sub(r"--[^\n]*", "", text)
    text = re.sub(r"\bdigits\b", keyspace, text)
    return [" ".join(s.split()) for s in text.split(";") if s.strip()]


class CassandraPredictionLog:
    def __init__(self, url: str, username: str | None, password: str | None, consistency: str):
        parsed = urlparse(url)
        self.hosts = [h for h in (parsed.netloc.rsplit("@", 1)[-1].split(":")[0]).split(",") if h]
        self.port = parsed.port or 9042
        self.keyspace = parsed.path.strip("/") or "digits"
        self.username, self.password, self.consistency = username, password, consistency
        self._session = None
        self._cluster = None
        self._prepared: dict[str, object] = {}
        self._lock = threading.Lock()

    def _connect(self):
        if self._session is not None:
            return self._session
        with self._lock:
            if self._session is None:
                from cassandra import ConsistencyLevel
                from cassandra.auth import PlainTextAuthProvider
                from cassandra.cluster import EXEC_PROFILE_DEFAULT, Cluster, ExecutionProfile

                profile = ExecutionProfile(
                    consistency_level=ConsistencyLevel.name_to_value[self.consistency], request_timeout=5.0
                )
                auth = PlainTextAuthProvider(self.username, self.password) if self.username else None
                cluster = Cluster(
                    self.hosts, port=self.port, auth_provider=auth, connect_timeout=5.0,
                    execution_profiles={EXEC_PROFILE_DEFAULT: profile}, protocol_version=4,
                )
                try:
                    self._session = cluster.connect()
                except Exception as exc:  # the driver raises NoHostAvailable and friends
                    cluster.shutdown()
                    raise StoreUnavailable(f"cannot reach {self.describe()}: {type(exc).__name__}") from exc
                self._cluster = cluster
        return self._session

    def _statement(self, name: str, cql: str):
        if name not in self._prepared:
            statement = self._connect().prepare(cql)
            statement.is_idempotent = True
            self._prepared[name] = statement
        return self._prepared[name]

    def _execute(self, name: str, cql: str, params: tuple):
        try:
            return self._connect().execute(self._statement(name, cql), params)
        except StoreUnavailable:
            raise
        except Exception as exc:
            raise StoreUnavailable(f"{self.describe()}: {type(exc).__name__}: {exc}") from exc

    def ensure_schema(self) -> None:
        session = self._connect()
        try:
            for statement in schema_statements(self.keyspace):
                session.execute(statement, timeout=30)
        except Exception as exc:
            raise StoreUnavailable(f"cannot apply the schema on {self.describe()}: {exc}") from exc

    def write(self, record: PredictionRecord) -> None:
        import uuid

        self._execute(
            "insert",
            f"INSERT INTO {self.keyspace}.predictions_by_day (day, {_FIELDS}) VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?)",
            (
                date.fromisoformat(record.day), uuid.UUID(record.id), record.filename, record.content_type,
                record.digit, record.confidence, record.probabilities, record.model_version, record.latency_ms,
                record.normalised, record.image, record.image_key, record.image_size,
            ),
        )

    @staticmethod
    def _record(row) -> PredictionRecord:
        pid = str(row.id)
        return PredictionRecord(
            id=pid, created_at=created_at_of(pid), filename=row.filename, content_type=row.content_type,
            digit=row.digit, confidence=row.confidence, probabilities=list(row.probabilities or []),
            model_version=row.model_version, latency_ms=row.latency_ms, normalised=row.normalised or b"",
            image=row.image, image_key=row.image_key, image_size=row.image_size or 0,
        )

    def get(self, prediction_id: str) -> PredictionRecord | None:
        import uuid

        day = created_at_of(prediction_id).date()
        rows = self._execute(
            "get",
            f"SELECT {_FIELDS} FROM {self.keyspace}.predictions_by_day WHERE day = ? AND id = ?",
            (day, uuid.UUID(prediction_id)),
        )
        row = rows.one()
        return self._record(row) if row else None

    def recent(self, limit: int) -> list[PredictionRecord]:
        found: list[PredictionRecord] = []
        today = datetime.now(timezone.utc).date()
        for back in range(MAX_DAYS_BACK):
            rows = self._execute(
                "recent",
                f"SELECT {_FIELDS} FROM {self.keyspace}.predictions_by_day WHERE day = ? ORDER BY id DESC LIMIT ?",
                (today - timedelta(days=back), limit - len(found)),
            )
            found.extend(self._record(r) for r in rows)
            if len(found) >= limit:
                break
        return found

    def ping(self) -> bool:
        try:
            self._connect().execute("SELECT release_version FROM system.local", timeout=2.0)
            return True
        except Exception:
            return False

    def describe(self) -> str:
        return f"cassandra://{','.join(self.hosts)}:{self.port}/{self.keyspace}"

    def close(self) -> None:
        if self._cluster is not None:
            self._cluster.shutdown()
            self._cluster = self._session = None

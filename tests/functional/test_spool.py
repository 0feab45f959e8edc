"""The prediction log goes away mid-traffic and comes back: every accepted record
ends up in the store exactly once, in order. The outage is real: another SQLite
connection holds an exclusive lock, so the log's writes fail with 'database is locked'."""
from __future__ import annotations

import sqlite3
import subprocess
import sys

import pytest

from service.predlog import new_prediction_id
from service.predlog.spool import SpooledPredictionLog, SpoolFull
from service.predlog.sqlite import SqlitePredictionLog
from tests.functional.test_prediction_log import record


class Outage:
    """An exclusive transaction from another connection: the store refuses writes."""

    def __init__(self, path):
        self.conn = sqlite3.connect(path, isolation_level=None, timeout=0)

    def __enter__(self):
        self.conn.execute("BEGIN EXCLUSIVE")
        return self

    def __exit__(self, *exc):
        self.conn.execute("ROLLBACK")


def ids_in_store(path) -> list[str]:
    return [r[0] for r in sqlite3.connect(path).execute("SELECT id FROM predictions ORDER BY created_at, id")]


@pytest.fixture
def store(tmp_path):
    log = SqlitePredictionLog(tmp_path / "log.db", timeout=0.05)
    log.ensure_schema()
    return log


def test_outage_mid_traffic_loses_nothing_and_duplicates_nothing(store, tmp_path):
    spooled = SpooledPredictionLog(store, tmp_path / "spool", max_bytes=10_000_000, retry_seconds=0)
    accepted = []
    for phase in ("up", "down", "up"):
        if phase == "down":
            with Outage(tmp_path / "log.db"):
                for _ in range(30):
                    r = record(id=new_prediction_id())
                    spooled.write(r)  # answered: the record is in the spool, fsync'd
                    accepted.append(r.id)
                assert spooled.pending() == 30
        else:
            for _ in range(20):
                r = record(id=new_prediction_id())
                spooled.write(r)
                accepted.append(r.id)
    assert spooled.flush()
    stored = ids_in_store(tmp_path / "log.db")
    assert sorted(stored) == sorted(accepted) and len(stored) == len(set(stored)) == 70
    assert spooled.pending() == 0


def test_full_spool_refuses_clearly(store, tmp_path):
    spooled = SpooledPredictionLog(store, tmp_path / "spool", max_bytes=5_000, retry_seconds=3600)
    with Outage(tmp_path / "log.db"):
        spooled.write(record())
        with pytest.raises(SpoolFull, match="spool is full"):
            for _ in range(10):
                spooled.write(record())


def test_a_dead_process_spool_is_adopted(store, tmp_path):
    """A process spools during an outage and is killed; the next one replays its file."""
    with Outage(tmp_path / "log.db"):
        code = (
            "import sys; from pathlib import Path; sys.path.insert(0, '.');"
            "from service.predlog.spool import SpooledPredictionLog;"
            "from service.predlog.sqlite import SqlitePredictionLog;"
            "from tests.functional.test_prediction_log import record;"
            f"log = SpooledPredictionLog(SqlitePredictionLog(Path(r'{tmp_path / 'log.db'}'), timeout=0.05),"
            f" Path(r'{tmp_path / 'spool'}'), 10_000_000, 0);"
            "[log.write(record()) for _ in range(5)]"
        )
        subprocess.run([sys.executable, "-c", code], check=True, cwd=str(__import__("tests.conftest").conftest.ROOT))
    successor = SpooledPredictionLog(store, tmp_path / "spool", max_bytes=10_000_000, retry_seconds=0)
    successor.write(record())
    assert len(ids_in_store(tmp_path / "log.db")) == 6
    assert successor.pending() == 0

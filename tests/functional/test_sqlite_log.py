"""The SQLite log's own duties, beyond what every backend shares (test_prediction_log.py): the file and its
folders made on first use, the lock wait it was given, a connection that failed or was closed opened afresh,
an older file brought up to date, what a failed group write says, and the export's pages across days.

Everything runs on real SQLite files; the outage is another connection's exclusive lock."""

from __future__ import annotations

import sqlite3
import time
from datetime import UTC, datetime, timedelta

import pytest

import service.predlog.sqlite as sqlite_log
from service.errors import LogUnavailable
from service.predlog.base import Correction
from service.predlog.sqlite import SqlitePredictionLog
from tests.fixtures.records import record
from tests.fixtures.sqlite_log import Outage


def opened(path, **options) -> SqlitePredictionLog:
    log = SqlitePredictionLog(path, **options)
    log.ensure_schema()
    return log


def test_a_log_in_folders_that_do_not_exist_yet_makes_them(tmp_path):
    log = opened(tmp_path / "a" / "b" / "predictions.db")
    log.write(kept := record())
    assert log.get(kept.id) == kept


def test_the_request_id_is_read_back_by_every_read(tmp_path):
    log = opened(tmp_path / "p.db")
    log.write(kept := record(request_id="req-42"))
    assert log.get(kept.id).request_id == "req-42"
    assert [r.request_id for r in log.export(kept.created_at.date(), kept.created_at.date())] == ["req-42"]


def test_a_write_waits_for_a_lock_no_longer_than_it_was_told(tmp_path):
    log = opened(tmp_path / "p.db", timeout=0.05)
    with Outage(tmp_path / "p.db"):
        started = time.monotonic()
        with pytest.raises(LogUnavailable, match="database is locked"):
            log.write(record())
        assert time.monotonic() - started < 2.5  # SQLite's own default wait is far longer


def test_a_group_the_lock_keeps_out_names_the_file_and_the_reason(tmp_path):
    log = opened(tmp_path / "p.db", timeout=0.01)
    with Outage(tmp_path / "p.db"), pytest.raises(LogUnavailable) as caught:
        log.write_many([record(), record()])
    assert str(caught.value) == f"sqlite://{tmp_path / 'p.db'}: database is locked"


def test_a_connection_that_failed_is_opened_afresh_and_one_closed_is_opened_again(tmp_path):
    log = opened(tmp_path / "p.db", timeout=0.01)
    first = log._connection()
    with Outage(tmp_path / "p.db"), pytest.raises(LogUnavailable):
        log.write(record())
    assert log._connection() is not first  # the failed one was let go
    log.close()
    log.write(kept := record())  # closed is not broken: the next call opens it again
    assert log.get(kept.id) == kept


def test_a_log_from_before_request_ids_gains_the_column_and_keeps_its_rows(tmp_path):
    path = tmp_path / "old.db"
    opened(path).write(old := record())
    with sqlite3.connect(path) as conn:
        conn.execute("ALTER TABLE predictions DROP COLUMN request_id")
    log = opened(path)
    log.write(new := record(request_id="req-1"))
    assert log.get(old.id).request_id is None and log.get(new.id).request_id == "req-1"
    opened(path)  # a second start finds the column there and changes nothing
    assert log.get(new.id) == new


def test_corrections_carry_the_model_version_that_answered(tmp_path):
    log = opened(tmp_path / "p.db")
    log.write(answered := record(model_version="20260101T000000Z-abcdef", digit=7))
    log.set_label(answered.id, 1, datetime.now(UTC))
    assert list(log.corrections()) == [Correction(answered.id, answered.normalised, 1, 7, "20260101T000000Z-abcdef")]


def test_export_pages_that_span_two_days_hold_every_record_once(tmp_path, monkeypatch):
    monkeypatch.setattr(sqlite_log, "EXPORT_CHUNK", 3)  # pages of three: the first ends inside the second day
    log = opened(tmp_path / "p.db")
    start = datetime(2026, 3, 1, 23, 59, tzinfo=UTC)
    records = [record(created_at=start + timedelta(minutes=minutes)) for minutes in (0, 0.5, 2, 3, 4, 5)]
    log.write_many(records)
    exported = list(log.export(start.date(), start.date() + timedelta(days=1)))
    assert [r.id for r in exported] == [r.id for r in records]

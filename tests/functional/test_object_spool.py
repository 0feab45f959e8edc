"""The spool in an object store (SPOOL_STORE, for Lambda), on the embedded file store: what a spooled record's
object holds, reading it back, the counts /healthz reports, and the replay: records written to the log then
deleted, damaged objects and records the log refuses for good set aside with their reason, another environment
replaying at the same time, and the log failing part way, which leaves exactly the rest pending.

The store and the log are real (FileObjectStore, SQLite). Two stand-ins, each said where it is used: a store
that cannot be reached (the real S3 outage is tests/e2e/test_s3_store.py's), and another environment deleting
an object between this one's listing and its read (a race no test can time otherwise)."""

from __future__ import annotations

import logging
import sqlite3

import pytest

import service.predlog.object_spool as object_spool
from ml.storage.base import StoreUnavailable
from ml.storage.filestore import FileObjectStore
from service.errors import LogUnavailable, SpoolFull
from service.predlog import new_prediction_id
from service.predlog.object_spool import PENDING, QUARANTINED, ObjectSpool
from service.predlog.spool_files import DamagedRecord, decode, encode
from service.predlog.sqlite import SCHEMA, SqlitePredictionLog
from tests.fixtures.records import record
from tests.fixtures.sqlite_log import Outage, ids_in_store


class Unreachable(FileObjectStore):
    """Stand-in for an S3 endpoint that does not answer: every call fails as the S3 store's do then."""

    def _down(self, *_args, **_kwargs):
        raise StoreUnavailable("connection refused")

    get = put = list = delete = _down


def spooled(store, *records) -> ObjectSpool:
    spool = ObjectSpool(store)
    for r in records:
        spool.append(r)
    return spool


def log_at(path) -> SqlitePredictionLog:
    log = SqlitePredictionLog(path, timeout=0.01)
    log.ensure_schema()
    return log


def _with_a_bug_trigger(path) -> None:
    """A log whose inserts of bug.png fail the way a bug's bad value would: refused for good, not unavailable."""
    with sqlite3.connect(path) as conn:
        conn.executescript(SCHEMA)
        conn.execute(
            "CREATE TRIGGER bug BEFORE INSERT ON predictions WHEN NEW.filename = 'bug.png' "
            "BEGIN SELECT RAISE(ABORT, 'a wrong value'); END"
        )


def test_a_spooled_record_is_one_object_holding_its_spool_line(tmp_path):
    store = FileObjectStore(tmp_path)
    kept = record()
    spool = spooled(store, kept)
    assert store.get(PENDING + kept.id) == encode(kept)
    assert spool.find(kept.id) == kept and spool.find("no-such-id") is None
    store.put(PENDING + "torn", encode(record())[:-20])
    assert spool.find("torn") is None  # damaged: not a record


def test_counts_are_of_pending_and_quarantined_objects(tmp_path):
    store = FileObjectStore(tmp_path)
    records = [record(id=pid) for pid in sorted(new_prediction_id() for _ in range(3))]
    spool = spooled(store, *reversed(records))
    assert spool.paths() == [PENDING + r.id for r in records]  # sorted: oldest id first
    assert spool.pending() == spool.own_bytes() == 3 and spool.quarantined() == 0
    spool.quarantine(b"a line\n", "why", PENDING + records[0].id)
    assert spool.pending() == 2 and spool.quarantined() == 1
    spool.fork_check()  # nothing per process: the same objects seen
    spool.rotate()
    assert spool.pending() == 2


def test_a_quarantined_object_holds_the_line_and_why_and_leaves_pending(tmp_path):
    store = FileObjectStore(tmp_path)
    spool = spooled(store, kept := record())
    spool.quarantine(b"the line X\n", "rejected: why", PENDING + kept.id)
    assert store.get(QUARANTINED + kept.id) == b"the line X\n# rejected: why\n"  # the line as it was
    assert store.list(PENDING) == []
    spool.quarantine(b"no place  ", "found elsewhere")
    assert store.get(QUARANTINED + "unnamed") == b"no place  \n# found elsewhere\n"


def test_a_quarantine_is_logged_with_the_store_and_the_reason(tmp_path, caplog):
    with caplog.at_level(logging.WARNING, logger=object_spool.__name__):
        ObjectSpool(FileObjectStore(tmp_path)).quarantine(b"a line", "the reason")
    assert caplog.messages == [f"a spooled record was quarantined in file://{tmp_path}: the reason"]


def test_each_spooled_object_is_written_as_ndjson(tmp_path):
    types: list[str] = []

    class Watched(FileObjectStore):  # the file store keeps no content type: note the ones it is given
        def put(self, key, data, content_type="application/octet-stream"):
            types.append(content_type)
            super().put(key, data, content_type)

    spooled(Watched(tmp_path), record(), record())
    assert types == ["application/x-ndjson"] * 2


def test_an_unreachable_store_refuses_the_record_and_says_where(tmp_path):
    spool = ObjectSpool(Unreachable(tmp_path))
    with pytest.raises(SpoolFull) as refused:
        spool.append(record())
    assert str(refused.value) == (
        f"the log is down and the spool in file://{tmp_path} refused the record: connection refused"
    )
    with pytest.raises(LogUnavailable) as unread:
        spool.find("some-id")
    assert str(unread.value) == f"the spool in file://{tmp_path} cannot be read: connection refused"
    with pytest.raises(LogUnavailable) as unlisted:
        spool.pending()
    assert str(unlisted.value) == f"the spool in file://{tmp_path} cannot be listed: connection refused"


def test_replay_writes_every_record_deletes_it_and_sets_damaged_objects_aside(tmp_path, monkeypatch):
    monkeypatch.setattr(object_spool, "REPLAY_GROUP", 2)  # several groups from a few records
    store = FileObjectStore(tmp_path / "store")
    records = [record() for _ in range(5)]
    spool = spooled(store, *records)
    store.put(PENDING + "torn", b'0badc0de {"id": "x"')
    log = log_at(tmp_path / "log.db")
    spool.replay_into(log)
    assert [log.get(r.id) for r in records] == records
    assert spool.pending() == 0 and store.list(QUARANTINED) == [QUARANTINED + "torn"]
    with pytest.raises(DamagedRecord) as why:
        decode(b'0badc0de {"id": "x"')
    assert store.get(QUARANTINED + "torn") == b'0badc0de {"id": "x"\n# ' + str(why.value).encode() + b"\n"


def test_a_damaged_object_another_environment_set_aside_first_is_quarantined_empty(tmp_path):
    class Racing(FileObjectStore):  # stand-in: another environment takes the object after this one read it
        def get(self, key):
            data = super().get(key)
            if key == PENDING + "torn":
                self.delete(key)
            return data

    store = Racing(tmp_path / "store")
    store.put(PENDING + "torn", b"damaged")
    ObjectSpool(store).replay_into(log_at(tmp_path / "log.db"))
    assert store.get(QUARANTINED + "torn").startswith(b"\n# ") and store.list(PENDING) == []


def test_a_record_the_log_refuses_for_good_is_set_aside_and_the_others_are_written(tmp_path):
    _with_a_bug_trigger(tmp_path / "log.db")
    store = FileObjectStore(tmp_path / "store")
    fine, bad, also_fine = record(), record(filename="bug.png"), record()
    spool = spooled(store, fine, bad, also_fine)
    spool.replay_into(log := log_at(tmp_path / "log.db"))
    assert sorted(ids_in_store(tmp_path / "log.db")) == sorted([fine.id, also_fine.id])
    assert spool.pending() == 0 and store.list(QUARANTINED) == [QUARANTINED + bad.id]
    assert store.get(QUARANTINED + bad.id) == encode(bad) + b"# rejected by the log: IntegrityError: a wrong value\n"
    assert log.get(bad.id) is None


def test_the_log_failing_part_way_leaves_exactly_the_rest_pending(tmp_path, monkeypatch):
    monkeypatch.setattr(object_spool, "REPLAY_GROUP", 2)
    store = FileObjectStore(tmp_path / "store")
    records = [record(id=pid) for pid in sorted(new_prediction_id() for _ in range(5))]
    spool = spooled(store, *records)

    class GoesDown(SqlitePredictionLog):  # the real log, locked by another connection after its first group
        def write_many(self, group):
            super().write_many(group)
            self.outage = Outage(self.path).__enter__()

    log = GoesDown(tmp_path / "log.db", timeout=0.01)
    log.ensure_schema()
    with pytest.raises(LogUnavailable):
        spool.replay_into(log)
    log.outage.__exit__(None)
    assert sorted(ids_in_store(tmp_path / "log.db")) == [r.id for r in records[:2]]  # the first group
    assert spool.paths() == [PENDING + r.id for r in records[2:]]
    spool.replay_into(log_at(tmp_path / "log.db"))
    assert sorted(ids_in_store(tmp_path / "log.db")) == [r.id for r in records] and spool.pending() == 0


def test_the_log_failing_while_records_are_written_one_by_one_keeps_the_rest(tmp_path):
    _with_a_bug_trigger(tmp_path / "log.db")
    store = FileObjectStore(tmp_path / "store")
    first, second, third = sorted(new_prediction_id() for _ in range(3))  # the order the replay reads them in
    spool = spooled(store, record(id=first), record(id=second, filename="bug.png"), record(id=third))

    class GoesDown(SqlitePredictionLog):  # the group fails for the bad record; the log is locked after one alone
        def write(self, one):
            super().write(one)
            self.outage = Outage(self.path).__enter__()

    log = GoesDown(tmp_path / "log.db", timeout=0.01)
    with pytest.raises(LogUnavailable):
        spool.replay_into(log)
    log.outage.__exit__(None)
    assert ids_in_store(tmp_path / "log.db") == [first]
    assert spool.paths() == [PENDING + second, PENDING + third] and spool.quarantined() == 0


def test_an_object_another_environment_replayed_meanwhile_is_skipped(tmp_path):
    records = [record() for _ in range(3)]
    gone = records[1]

    class Racing(FileObjectStore):  # stand-in: another environment deletes one object after this one listed it
        def get(self, key):
            if key == PENDING + gone.id:
                self.delete(key)
            return super().get(key)

    store = Racing(tmp_path / "store")
    spool = spooled(store, *records)
    spool.replay_into(log := log_at(tmp_path / "log.db"))
    assert log.get(gone.id) is None and [log.get(r.id) for r in (records[0], records[2])] == [records[0], records[2]]
    assert spool.pending() == 0 and spool.quarantined() == 0

"""The prediction log goes away, is slow, or the spool's disk fails: nothing answered is lost,
nothing half-written is counted, a damaged record never blocks the others, and a bug is not an outage.

Every outage here is real: another SQLite connection holds an exclusive lock (writes fail with
'database is locked'), a file sits where the log's directory should be, or a process runs under
RLIMIT_FSIZE so its spool writes come up short and then fail with EFBIG."""

from __future__ import annotations

import json
import sqlite3
import subprocess
import sys

import pytest

from service.predlog import new_prediction_id
from service.predlog.spool import QUARANTINE, SpooledPredictionLog, SpoolFull, encode
from service.predlog.sqlite import SqlitePredictionLog
from tests.conftest import ROOT
from tests.fixtures.records import record
from tests.fixtures.sqlite_log import CountingLog, Outage, Refusing, ids_in_store, spool


@pytest.fixture
def store(tmp_path):
    log = CountingLog(tmp_path / "log.db", timeout=0.05)
    log.ensure_schema()
    return log


def test_outage_mid_traffic_loses_nothing_and_duplicates_nothing(store, tmp_path):
    spooled = spool(store, tmp_path)
    accepted = []
    for phase in ("up", "down", "up"):
        if phase == "down":
            with Outage(tmp_path / "log.db"):
                for _ in range(30):
                    r = record(id=new_prediction_id())
                    spooled.write(r)  # answered: the record is in the spool, fsync'd
                    accepted.append(r.id)
                assert spooled.pending() == 30
                assert not spooled.available()
                assert not spooled.flush()  # still down: nothing replayed, nothing lost
        else:
            assert spooled.flush()
            for _ in range(20):
                r = record(id=new_prediction_id())
                spooled.write(r)
                accepted.append(r.id)
    stored = ids_in_store(tmp_path / "log.db")
    assert sorted(stored) == sorted(accepted) and len(stored) == len(set(stored)) == 70
    assert spooled.pending() == 0 and spooled.available()


def test_the_breaker_keeps_a_locked_log_off_the_request_path(store, tmp_path):
    """One write waits for the lock (at most the log's timeout); the rest go straight to the spool."""
    spooled = spool(store, tmp_path)
    with Outage(tmp_path / "log.db"):
        for _ in range(25):
            spooled.write(record())
    assert store.attempts == 1
    assert spooled.flush() and len(ids_in_store(tmp_path / "log.db")) == 25


def test_full_spool_refuses_clearly(store, tmp_path):
    spooled = spool(store, tmp_path, max_bytes=5_000)
    with Outage(tmp_path / "log.db"):
        spooled.write(record())
        with pytest.raises(SpoolFull, match="spool is full"):
            for _ in range(10):
                spooled.write(record())


def test_a_dead_process_spool_is_adopted(store, tmp_path):
    """A process spools during an outage and dies; the next one to start replays its file."""
    with Outage(tmp_path / "log.db"):
        code = (
            "import sys; from pathlib import Path; sys.path.insert(0, '.');"
            "from service.predlog.spool import SpooledPredictionLog;"
            "from service.predlog.sqlite import SqlitePredictionLog;"
            "from tests.fixtures.records import record;"
            f"log = SpooledPredictionLog(SqlitePredictionLog(Path(r'{tmp_path / 'log.db'}'), timeout=0.05),"
            f" Path(r'{tmp_path / 'spool'}'), 10_000_000, background=False);"
            "[log.write(record()) for _ in range(5)]"
        )
        subprocess.run([sys.executable, "-c", code], check=True, cwd=ROOT)
    successor = spool(store, tmp_path)
    successor.ensure_schema()
    assert successor.pending() == 5
    assert successor.flush()
    assert len(ids_in_store(tmp_path / "log.db")) == 5 and successor.pending() == 0


def test_damaged_records_are_quarantined_and_never_block_the_rest(store, tmp_path):
    """A torn tail (a crash mid-write), a corrupted line and garbage, between good records."""
    (tmp_path / "spool").mkdir()
    good = [record() for _ in range(4)]
    corrupted = bytearray(encode(record()))
    corrupted[40] ^= 0xFF
    lines = (
        encode(good[0])
        + bytes(corrupted)
        + encode(good[1])
        + b"not a record\n"
        + encode(good[2])
        + encode(good[3])
        + encode(record())[:50]
    )
    (tmp_path / "spool" / "spool-999999-0.jsonl").write_bytes(lines)
    spooled = spool(store, tmp_path)
    assert spooled.flush()
    assert sorted(ids_in_store(tmp_path / "log.db")) == sorted(r.id for r in good)
    assert spooled.pending() == 0 and spooled.quarantined() == 3
    reasons = [json.loads(line)["reason"] for line in (tmp_path / "spool" / QUARANTINE).read_text().splitlines()]
    assert reasons[0] == "checksum mismatch" and reasons[1] == "no checksum"


def test_a_spool_write_that_fails_is_refused_and_undone(store, tmp_path):
    """RLIMIT_FSIZE makes the spool's disk 'full' mid-record (a short write, then EFBIG): that
    upload is refused (503), the records accepted before it are whole and all reach the log."""
    code = f"""
import json, resource, signal, sys
from pathlib import Path
sys.path.insert(0, '.')
from service.predlog.spool import LogUnavailable, SpooledPredictionLog
from service.predlog.sqlite import SqlitePredictionLog
from tests.fixtures.records import record
signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
log = SpooledPredictionLog(SqlitePredictionLog(Path(r'{tmp_path / "log.db"}'), timeout=0.05),
                           Path(r'{tmp_path / "spool"}'), 10_000_000, background=False)
log.ensure_schema()
resource.setrlimit(resource.RLIMIT_FSIZE, (4000, 4000))
answers = []
for _ in range(4):
    r = record()
    try:
        log.write(r)
        answers.append([r.id, 200])
    except LogUnavailable as exc:
        answers.append([r.id, str(exc)])
print(json.dumps(answers))
"""
    with Outage(tmp_path / "log.db"):
        out = subprocess.run([sys.executable, "-c", code], check=True, cwd=ROOT, capture_output=True, text=True)
    answers = json.loads(out.stdout)
    accepted = [pid for pid, answer in answers if answer == 200]
    refused = [answer for _, answer in answers if answer != 200]
    assert accepted and refused and all("could not be spooled" in a for a in refused)
    successor = spool(store, tmp_path)
    assert successor.flush()
    assert sorted(ids_in_store(tmp_path / "log.db")) == sorted(accepted)  # every 200, and nothing refused
    assert successor.quarantined() == 0  # the short write was undone, not left torn


def test_a_log_broken_at_start_recovers_without_a_restart(tmp_path):
    """The log's directory cannot be created (a file is in the way); once that is fixed, the
    spooled records reach it and it reports available, in the same process."""
    blocker = tmp_path / "blocked"
    blocker.write_text("not a directory")
    log = SqlitePredictionLog(blocker / "log.db", timeout=0.05)
    spooled = SpooledPredictionLog(log, tmp_path / "spool", 10_000_000, background=False)
    spooled.ensure_schema()
    written = [record() for _ in range(3)]
    for r in written:
        spooled.write(r)
    assert not spooled.available() and "blocked" in (spooled.last_error() or "")
    blocker.unlink()
    assert spooled.flush() and spooled.available()
    assert sorted(ids_in_store(blocker / "log.db")) == sorted(r.id for r in written)


def test_a_bug_is_not_an_outage(store, tmp_path):
    """A record the code built wrong raises (a 500 upstream); it is not spooled and answered 200."""
    spooled = spool(store, tmp_path)
    with pytest.raises(sqlite3.ProgrammingError):
        spooled.write(record(filename={"not": "a string"}))
    assert spooled.pending() == 0 and spooled.available()


def test_the_background_replayer_drains_the_spool(store, tmp_path):
    """With no further traffic, the spool empties by itself once the log is back."""
    spooled = SpooledPredictionLog(store, tmp_path / "spool", 10_000_000, retry_seconds=0.05)
    with Outage(tmp_path / "log.db"):
        for _ in range(5):
            spooled.write(record())
    import time

    deadline = time.monotonic() + 10
    while spooled.pending() and time.monotonic() < deadline:
        time.sleep(0.05)
    assert spooled.pending() == 0 and len(ids_in_store(tmp_path / "log.db")) == 5
    spooled.close()


def test_requeue_writes_the_whole_quarantined_records_once_and_keeps_the_damaged(tmp_path, monkeypatch):
    """After a fault that made the log refuse records is fixed, `log requeue` writes them; damaged lines stay,
    and running it again changes nothing."""
    from service.cli import main

    directory = tmp_path / "spool"
    directory.mkdir()
    refused = [record(), record()]
    damaged = bytearray(encode(record()))
    damaged[30] = ord("#") if damaged[30] != ord("#") else ord("%")  # fails its checksum
    lines = [line.rstrip(b"\n") for line in [*map(encode, refused), bytes(damaged)]]  # as the replay splits them
    (directory / QUARANTINE).write_text(
        "".join(
            json.dumps({"reason": "rejected by the log", "at": "x", "line": line.decode()}) + "\n" for line in lines
        )
    )
    monkeypatch.setenv("PREDICTION_LOG", str(tmp_path / "log.db"))
    monkeypatch.setenv("SPOOL_DIR", str(directory))
    for _ in range(2):
        assert main(["log", "requeue"]) == 0
        assert sorted(ids_in_store(tmp_path / "log.db")) == sorted(r.id for r in refused)
        remaining = (directory / QUARANTINE).read_text().splitlines()
        assert [json.loads(line)["line"].encode() for line in remaining] == [lines[2]]


def test_a_replayed_group_with_one_refused_record_stores_the_rest(tmp_path):
    log = Refusing(tmp_path / "log.db", timeout=0.05)
    log.ensure_schema()
    good = [record() for _ in range(5)]
    bad = record(filename="refused.png")
    (tmp_path / "spool").mkdir()
    (tmp_path / "spool" / "spool-999999-0.jsonl").write_bytes(b"".join(map(encode, [*good[:2], bad, *good[2:]])))
    spooled = spool(log, tmp_path)
    assert spooled.flush()
    assert sorted(ids_in_store(tmp_path / "log.db")) == sorted(r.id for r in good)
    assert spooled.pending() == 0 and spooled.quarantined() == 1


def test_an_outage_during_a_replay_keeps_every_record_not_yet_written(store, tmp_path):
    """The log goes away after the first group of a long spool file: the rest stays, whole, and is written once
    the log is back; nothing is lost, nothing is stored twice."""
    from service.predlog.spool import REPLAY_GROUP

    written = [record() for _ in range(REPLAY_GROUP + 50)]
    (tmp_path / "spool").mkdir()
    (tmp_path / "spool" / "spool-999999-0.jsonl").write_bytes(b"".join(map(encode, written)) + b"\n")
    spooled = spool(store, tmp_path)
    real_write_many = store.write_many
    calls = []

    def first_group_then_outage(records):
        calls.append(len(records))
        if len(calls) == 2:
            with Outage(tmp_path / "log.db"):
                real_write_many(records)
        real_write_many(records)

    store.write_many = first_group_then_outage
    assert not spooled.flush()  # the second group met the outage
    assert len(ids_in_store(tmp_path / "log.db")) == REPLAY_GROUP and spooled.pending() == 50
    assert spooled.flush()
    stored = ids_in_store(tmp_path / "log.db")
    assert sorted(stored) == sorted(r.id for r in written) and len(stored) == len(set(stored))


def _lock_waiters(path) -> int:
    """Processes or threads blocked on a lock of ``path`` (the kernel's /proc/locks: "->" marks a waiter)."""
    inode = path.stat().st_ino
    lines = open("/proc/locks").read().splitlines()
    return sum(1 for line in lines if "->" in line and line.split()[-3].endswith(f":{inode}"))


def test_a_replayer_that_locks_a_new_spool_file_first_cannot_lose_its_records(store, tmp_path):
    """The interleaving, forced with real locks: the writer has created its file but not yet locked it; a
    replayer locks it, finds it empty and unlinks it. The writer, once it gets the lock, must not append to
    the unlinked file (its records would be gone once it closes it)."""
    import fcntl
    import os
    import threading
    import time

    spooled = spool(store, tmp_path)
    files = spooled.files
    first = tmp_path / "spool" / f"spool-{os.getpid()}-0.jsonl"
    first.parent.mkdir()
    replayer = os.open(first, os.O_RDWR | os.O_CREAT, 0o600)  # as the writer's O_CREAT left it
    fcntl.flock(replayer, fcntl.LOCK_EX | fcntl.LOCK_NB)  # the replayer won the race to the lock
    accepted = record(id=new_prediction_id())
    writer = threading.Thread(target=files.append, args=(accepted,))
    writer.start()
    deadline = time.monotonic() + 10
    while _lock_waiters(first) == 0:  # the writer now waits for the lock of the file it created
        assert time.monotonic() < deadline and writer.is_alive(), "the writer never asked for the lock"
        time.sleep(0.01)
    assert os.read(replayer, 1) == b""  # the replayer finds nothing to replay ...
    first.unlink()  # ... and removes the empty file, then lets go of it
    os.close(replayer)
    writer.join(10)
    assert not writer.is_alive()
    assert spooled.flush()
    assert ids_in_store(tmp_path / "log.db") == [accepted.id]


def test_a_spooled_record_is_readable_and_its_correction_is_retried_not_unknown(store, tmp_path):
    """During an outage an upload was answered 200 from the spool, but reading or correcting it said 404."""
    from datetime import UTC, datetime

    from service.errors import LogUnavailable

    spooled = spool(store, tmp_path)
    waiting = [record(id=new_prediction_id(), filename=f"{n} with spaces.png") for n in range(3)]
    with Outage(tmp_path / "log.db"):
        for r in waiting:
            spooled.write(r)
        assert spooled.get(waiting[1].id) == waiting[1]  # from the spool: the log's reads still work
        message = (
            "waiting in the local spool for the prediction log to come back; retry the correction after Retry-After"
        )
        with pytest.raises(LogUnavailable, match=message):
            spooled.set_label(waiting[1].id, 3, datetime.now(UTC))
        assert spooled.get(new_prediction_id()) is None
        assert spooled.set_label(new_prediction_id(), 3, datetime.now(UTC)) is None  # unknown stays unknown
    assert spooled.flush()
    assert spooled.set_label(waiting[1].id, 3, datetime.now(UTC)).label == 3
    assert store.get(waiting[1].id).label == 3


def test_a_spooled_record_is_readable_while_the_log_cannot_be_read_at_all(store, tmp_path):
    """A log that cannot be opened at all (a directory where its file should be): the spool still answers what it
    holds, and an id it does not hold is the log's error (it may be in the log), never "unknown"."""
    from service.errors import LogUnavailable

    spooled = spool(store, tmp_path)
    waiting = record(id=new_prediction_id())
    with Outage(tmp_path / "log.db"):
        spooled.write(waiting)
    (tmp_path / "unopenable.db").mkdir()
    unreadable = spool(SqlitePredictionLog(tmp_path / "unopenable.db", timeout=0.05), tmp_path)
    with pytest.raises(LogUnavailable):
        unreadable.inner.get(waiting.id)  # the fault is real: this log cannot be read
    assert unreadable.get(waiting.id) == waiting
    with pytest.raises(LogUnavailable):
        unreadable.get(new_prediction_id())


def test_a_record_is_found_in_the_spool_past_empty_files_damaged_copies_and_other_lines(tmp_path):
    """The search reads the spool's bytes: an empty file (nothing to map), a damaged copy of the record before or
    after a whole one, the record on a later line of a later file, and a whole record torn of its newline."""
    from service.predlog.spool_files import SpoolFiles

    files = SpoolFiles(tmp_path / "spool", max_bytes=1 << 20)
    files.directory.mkdir()
    first, second, last = (record(id=new_prediction_id(), filename=f"{n}.png") for n in range(3))
    others = [record(id=new_prediction_id()) for _ in range(3)]

    def damaged(r) -> bytes:
        line = encode(r)
        return line.replace(b'"filename":"', b'"filename":"X', 1)  # its checksum no longer holds

    (files.directory / "spool-1-0.jsonl").write_bytes(b"")
    (files.directory / "spool-2-0.jsonl").write_bytes(
        encode(others[0])
        + encode(others[1])
        + damaged(first)
        + encode(first)
        + damaged(first)
        + encode(second)
        + damaged(second)
    )
    (files.directory / "spool-3-0.jsonl").write_bytes(encode(others[2]) + encode(last).rstrip(b"\n"))
    assert files.find(first.id) == first  # damaged copies before and after it are passed over
    assert files.find(second.id) == second  # the first whole copy, a damaged one after it
    assert files.find(last.id) == last  # a later file, its last line without a newline
    assert files.find(new_prediction_id()) is None


def test_the_same_place_is_set_aside_once_by_one_process(tmp_path):
    """The place just written is remembered: asked again for it, with nothing written since, nothing is added."""
    from service.predlog.spool_files import SpoolFiles, place

    files = SpoolFiles(tmp_path / "spool", max_bytes=1 << 20)
    files.directory.mkdir()
    older = {"reason": "checksum mismatch", "at": "2026-12-01T00:00:00+00:00", "line": "x"}  # before places
    (files.directory / QUARANTINE).write_text(json.dumps(older) + "\n")
    torn = b'0badc0de {"id": "torn'
    for _ in range(2):
        files.quarantine(torn, "checksum mismatch", place(files.directory / "spool-1-0.jsonl", 7, 3, torn))
    assert files.quarantined() == 2

"""The spool's edges that mutation testing (`make mutate`) found no test for: odd lines and the older line format,
the log failing in the middle of a file or rejecting a record for good, live and dead writers' files side by side,
rotations and forks, the quota at and across its limit, pending() over several files, requeue's counts, and what
an operator reads in the log. Each test here failed on a mutant of service/predlog/spool.py that every other test
let through.

The faults are real where this machine can make them: another SQLite connection's exclusive lock, a live writer
process holding its file's lock, a path blocked by a file, a forked worker. A fault it cannot make on demand (a
write that the disk takes a byte at a time, a truncate or a rename the disk refuses, a log that refuses one
record for good or crashes in a probe) is a mock, and says so."""

from __future__ import annotations

import errno
import json
import logging
import os
import re
import signal
import stat
import subprocess
import sys
import threading
import time
import zlib
from datetime import UTC, datetime, timedelta

import pytest

from service.errors import LogUnavailable
from service.predlog import new_prediction_id
from service.predlog.spool import (
    QUARANTINE,
    REPLAY_GROUP,
    SpooledPredictionLog,
    SpoolFull,
    _LineCounter,
    encode,
    requeue,
)
from service.predlog.spool_files import SpoolFiles
from service.predlog.sqlite import SqlitePredictionLog
from tests.conftest import ROOT
from tests.fixtures.records import record
from tests.fixtures.sqlite_log import CountingLog, Outage, Refusing, ids_in_store, spool

SPOOL_LOGGER = "service.predlog.spool"
# a dead process's file: sorts after any live process's spool-<pid>-<n>.jsonl (pids have at most 7 digits)
DEAD = "spool-999999999-0.jsonl"


@pytest.fixture
def store(tmp_path):
    log = CountingLog(tmp_path / "log.db", timeout=0.05)
    log.ensure_schema()
    return log


def spool_dir(tmp_path):
    directory = tmp_path / "spool"
    directory.mkdir(exist_ok=True)
    return directory


def stored(tmp_path) -> list[str]:
    return sorted(ids_in_store(tmp_path / "log.db"))


def ids(records) -> list[str]:
    return sorted(r.id for r in records)


def quarantine_entries(tmp_path) -> list[dict]:
    return [json.loads(line) for line in (tmp_path / "spool" / QUARANTINE).read_text().splitlines()]


def spool_messages(caplog) -> list[tuple[str, str]]:
    return [(r.levelname, r.getMessage()) for r in caplog.records if r.name == SPOOL_LOGGER]


# -- the line format ------------------------------------------------------------------------------------------
def test_a_spool_line_is_a_lowercase_crc32_and_compact_json():
    """Other versions of this code, `log requeue` and an operator reading quarantine.jsonl all read this format."""
    for r in [record(filename="a seven.png") for _ in range(20)]:
        line = encode(r)
        assert re.fullmatch(rb"[0-9a-f]{8} \{.*\}\n", line, re.DOTALL), line[:40]
        body = line[9:-1]
        assert json.dumps(json.loads(body), separators=(",", ":")).encode() == body  # compact: no spaces added


def test_odd_lines_between_records_neither_stop_the_replay_nor_lose_a_record(store, tmp_path, caplog):
    """Blank and whitespace-only lines, a line from before checksums (JSON alone), a filename with spaces, and a
    line whose checksum holds but which is not a record: every record is stored, only the last is quarantined."""
    good = [record(), record(filename="my seven, drawn at 3 a.m..png"), record(), record()]
    old_format = encode(good[2]).split(b" ", 1)[1]  # a line written before checksums: the JSON alone
    not_a_record = b'["not", "a record"]'
    not_a_record = b"%08x " % zlib.crc32(not_a_record) + not_a_record + b"\n"
    lines = encode(good[0]) + b"\n" + b"   \n" + encode(good[1]) + old_format + b"\n" + not_a_record + encode(good[3])
    (spool_dir(tmp_path) / DEAD).write_bytes(lines)
    spooled = spool(store, tmp_path)
    assert spooled.flush()
    assert stored(tmp_path) == ids(good)
    assert spooled.pending() == 0 and spooled.quarantined() == 1
    [entry] = quarantine_entries(tmp_path)
    assert set(entry) == {"reason", "at", "line", "source"}
    name, inode, index, crc = entry["source"].split(":")  # the line's place: file, inode, line index, checksum
    assert (name, index, crc) == (DEAD, "6", f"{zlib.crc32(not_a_record.rstrip()):08x}") and inode.isdigit()
    assert entry["reason"].startswith("not a record: ") and entry["line"] == not_a_record.decode().rstrip("\n")
    assert datetime.fromisoformat(entry["at"]).tzinfo is not None
    message = f"a spool record was moved to {tmp_path / 'spool' / QUARANTINE} ({entry['reason']}); /healthz counts them"
    assert spool_messages(caplog) == [("ERROR", message)]


def test_quarantining_many_lines_is_logged_once(store, tmp_path, caplog):
    (spool_dir(tmp_path) / DEAD).write_bytes(b"torn\n" * 3 + encode(record()))
    spooled = spool(store, tmp_path)
    assert spooled.flush() and spooled.quarantined() == 3
    assert [level for level, _ in spool_messages(caplog)] == ["ERROR"]


# -- the log failing, or refusing a record, in the middle of a file -------------------------------------------
def test_the_log_failing_on_the_first_group_keeps_every_line_after_it(store, tmp_path):
    """A long file (more than one group, a damaged line inside the first): the log refuses the first group; the
    file keeps every record, loses only the damaged line (quarantined once), and is stored whole when the log
    is back."""
    written = [record() for _ in range(REPLAY_GROUP + 3)]
    lines = [encode(r) for r in written]
    lines.insert(5, b"torn\n")
    (spool_dir(tmp_path) / DEAD).write_bytes(b"".join(lines))
    spooled = spool(store, tmp_path)
    spooled.ensure_schema()
    with Outage(tmp_path / "log.db"):
        assert not spooled.flush()
    assert spooled.pending() == REPLAY_GROUP + 3 and spooled.quarantined() == 1
    assert stored(tmp_path) == []
    assert spooled.flush()
    assert stored(tmp_path) == ids(written) and spooled.quarantined() == 1


def test_a_damaged_tail_is_quarantined_once_however_often_the_log_fails(store, tmp_path):
    """A crash leaves a torn last line; two processes in turn start, replay it and meet an outage before a third
    stores it. The torn line is quarantined once, not once per attempt (quarantined() is what /healthz reports)."""
    good = [record(), record()]
    (spool_dir(tmp_path) / DEAD).write_bytes(b"".join(map(encode, good)) + encode(record())[:60])
    for _ in range(2):
        starting = spool(store, tmp_path)
        starting.ensure_schema()
        with Outage(tmp_path / "log.db"):
            assert not starting.flush()
    last = spool(store, tmp_path)
    assert last.flush()
    assert stored(tmp_path) == ids(good) and last.quarantined() == 1


REPLAYER = """
import sys
from pathlib import Path
from service.predlog.spool import SpooledPredictionLog
from tests.fixtures.sqlite_log import Refusing
log = SpooledPredictionLog(Refusing(Path(sys.argv[1]), timeout=120), Path(sys.argv[2]), 10_000_000, background=False)
log.ensure_schema()
print("ready", flush=True)
sys.stdin.readline()
log.flush()
"""


def test_a_replay_killed_after_setting_lines_aside_does_not_set_them_aside_again(tmp_path):
    """A process replays a file holding a damaged line and a record the log refuses for good, and is killed
    (SIGKILL) once it has quarantined both, while its next write waits for the log's lock: the file is still
    there. The next replay stores the good records and quarantines neither line a second time."""
    good = [record(), record()]
    damaged, refused = b"torn\n", encode(record(filename="refused.png"))
    (spool_dir(tmp_path) / DEAD).write_bytes(damaged + refused + b"".join(map(encode, good)))
    replayer = subprocess.Popen(
        [sys.executable, "-c", REPLAYER, str(tmp_path / "log.db"), str(tmp_path / "spool")],
        cwd=ROOT,
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert replayer.stdout.readline().strip() == "ready"
        with Outage(tmp_path / "log.db"):
            replayer.stdin.write("\n")
            replayer.stdin.flush()
            quarantine = tmp_path / "spool" / QUARANTINE
            deadline = time.monotonic() + 60
            while time.monotonic() < deadline and not (quarantine.exists() and quarantine.read_text().count("\n") == 2):
                time.sleep(0.02)
            replayer.send_signal(signal.SIGKILL)  # waiting for the lock to write the first good record
            replayer.wait(30)
    finally:
        replayer.kill()
    assert len(quarantine_entries(tmp_path)) == 2 and (tmp_path / "spool" / DEAD).exists()
    spooled = spool(Refusing(tmp_path / "log.db", timeout=0.05), tmp_path)
    assert spooled.flush()
    assert stored(tmp_path) == ids(good) and spooled.quarantined() == 2
    lines = [entry["line"] for entry in quarantine_entries(tmp_path)]
    assert lines == [damaged.decode().rstrip(), refused.decode().rstrip()]


def test_a_lines_place_is_checked_against_what_other_processes_quarantined_since(tmp_path):
    """The places a process has seen are read again when the quarantine changed behind it (another process set
    lines aside, ``requeue`` rewrote it); lines not written by the spool are skipped; a line without a place is
    always set aside."""
    files = SpoolFiles(spool_dir(tmp_path), 10_000_000)
    files.quarantine(b"first", "torn", "spool-1-0.jsonl:7:0:aaaaaaaa")
    with open(tmp_path / "spool" / QUARANTINE, "a") as other:  # what another process's replay appends
        other.write('["not an entry"]\nnot json\n')
        other.write(json.dumps({"reason": "torn", "at": "", "line": "x", "source": "spool-1-0.jsonl:7:3:bbbbbbbb"}))
        other.write("\n")
    files.quarantine(b"again", "torn", "spool-1-0.jsonl:7:3:bbbbbbbb")
    files.quarantine(b"first", "torn", "spool-1-0.jsonl:7:0:aaaaaaaa")
    files.quarantine(b"new", "torn", "spool-1-0.jsonl:7:4:cccccccc")
    files.quarantine(b"same index, another file", "torn", "spool-2-0.jsonl:9:0:aaaaaaaa")
    files.quarantine(b"no place", "torn")
    files.quarantine(b"no place", "torn")
    lines = [json.loads(line).get("line") for line in (tmp_path / "spool" / QUARANTINE).read_text().splitlines()[3:]]
    assert lines == ["x", "new", "same index, another file", "no place", "no place"]


class RefusingThenDown(Refusing):
    """Refuses "refused.png" for good (Refusing's mock); the first write of "outage.png" meets a real outage:
    another connection holds the database's write lock."""

    outages = 1

    def write(self, record):
        if record.filename == "outage.png" and self.outages:
            self.outages -= 1
            with Outage(self.path):
                super().write(record)
        super().write(record)


def test_the_log_failing_record_by_record_keeps_only_what_it_did_not_take(tmp_path, caplog):
    """A group with a record refused for good is written record by record: the refused one is quarantined with the
    log's reason, then the log fails at the next. The file keeps the two not yet written (pending() says so), and
    the next replay stores them."""
    log = RefusingThenDown(tmp_path / "log.db", timeout=0.05)
    log.ensure_schema()
    first, refused, down, last = record(), record(filename="refused.png"), record(filename="outage.png"), record()
    (spool_dir(tmp_path) / DEAD).write_bytes(b"".join(map(encode, [first, refused, down, last])))
    spooled = spool(log, tmp_path)
    assert not spooled.flush()
    assert stored(tmp_path) == [first.id] and spooled.pending() == 2 and spooled.quarantined() == 1
    assert spooled.flush()
    assert stored(tmp_path) == ids([first, down, last]) and spooled.quarantined() == 1
    [entry] = quarantine_entries(tmp_path)
    assert entry["reason"] == "rejected by the log: ValueError: refused for good"
    assert entry["line"].encode() == encode(refused).rstrip(b"\n")
    rejected = [r for r in caplog.records if r.getMessage().startswith("the prediction log rejected")]
    assert [r.getMessage() for r in rejected] == ["the prediction log rejected a spooled record; it is quarantined"]
    assert rejected[0].exc_info is not None  # the log's traceback goes with it


def test_a_record_refused_for_good_in_a_full_group_is_set_aside_and_the_rest_stored(tmp_path):
    """A file longer than one replay group, a record of its first (full) group refused for good: that one is
    quarantined, every other record of both groups is stored, and the file is gone."""
    log = Refusing(tmp_path / "log.db")
    log.ensure_schema()
    good = [record() for _ in range(REPLAY_GROUP + 5)]
    refused = record(filename="refused.png")
    lines = [*good[:10], refused, *good[10:]]
    (spool_dir(tmp_path) / DEAD).write_bytes(b"".join(map(encode, lines)))
    spooled = spool(log, tmp_path)
    assert spooled.flush()
    assert stored(tmp_path) == ids(good) and spooled.quarantined() == 1 and spooled.pending() == 0
    [entry] = quarantine_entries(tmp_path)
    assert entry["line"].encode() == encode(refused).rstrip(b"\n")


def test_records_spooled_while_a_replay_runs_wait_for_the_next_round(store, tmp_path):
    """An upload answered while the replayer is writing (the breaker still open) goes to a fresh file: that
    replay reports records left, the next stores them."""
    spooled = spool(store, tmp_path)
    spooled.ensure_schema()
    with Outage(tmp_path / "log.db"):
        spooled.write(record())
    during = record()
    real_write_many = store.write_many

    def upload_during_the_replay(records):  # the interleaving a concurrent request makes, made deterministic
        store.write_many = real_write_many
        spooled.write(during)
        real_write_many(records)

    store.write_many = upload_during_the_replay
    assert not spooled.flush()
    assert spooled.pending() == 1 and during.id not in stored(tmp_path)
    assert spooled.flush() and during.id in stored(tmp_path) and spooled.pending() == 0


# -- writers' files --------------------------------------------------------------------------------------------
def test_a_live_writers_file_is_left_to_it_and_a_dead_writers_beside_it_is_replayed(store, tmp_path):
    """A process still running holds its spool file's lock: the replay skips that file (its owner replays it) and
    goes on to a dead process's file beside it."""
    code = (
        "import sys; from pathlib import Path; sys.path.insert(0, '.');"
        "from service.predlog.spool import SpooledPredictionLog;"
        "from service.predlog.sqlite import SqlitePredictionLog;"
        "from tests.fixtures.records import record;"
        f"log = SpooledPredictionLog(SqlitePredictionLog(Path(r'{tmp_path / 'log.db'}'), timeout=0.05),"
        f" Path(r'{tmp_path / 'spool'}'), 10_000_000, background=False);"
        "log.write(record()); print('spooled', flush=True); sys.stdin.readline()"
    )
    with Outage(tmp_path / "log.db"):
        live = subprocess.Popen(
            [sys.executable, "-c", code], cwd=ROOT, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True
        )
        try:
            assert live.stdout.readline().strip() == "spooled"
        except BaseException:
            live.kill()
            raise
    try:
        dead = [record() for _ in range(3)]
        (tmp_path / "spool" / DEAD).write_bytes(b"".join(map(encode, dead)))
        spooled = spool(store, tmp_path)
        assert spooled.flush()
        assert stored(tmp_path) == ids(dead)
        assert [p.name for p in (tmp_path / "spool").glob("spool-*.jsonl")] == [f"spool-{live.pid}-0.jsonl"]
        assert spooled.pending() == 1
    finally:
        live.communicate("\n", timeout=30)


def test_each_rotation_starts_a_file_never_used_before(store, tmp_path):
    """A file handed to the replayer is never appended to again: after each replay, new records go to a new name."""
    spooled = spool(store, tmp_path)
    spooled.ensure_schema()
    names = []
    for _ in range(3):
        with Outage(tmp_path / "log.db"):
            spooled.write(record())
            names += [p.name for p in (tmp_path / "spool").glob("spool-*.jsonl")]
        assert spooled.flush()
    assert len(names) == len(set(names)) == 3
    assert all(name.startswith(f"spool-{os.getpid()}-") for name in names)


def test_a_forked_worker_spools_to_a_file_of_its_own(store, tmp_path):
    """A server that opens the log before forking its workers: each worker has its own file, none is lost."""
    spooled = spool(store, tmp_path)
    with Outage(tmp_path / "log.db"):
        spooled.write(record())
        child = os.fork()
        if child == 0:  # the worker: spool one record and leave at once (no pytest teardown in the fork)
            try:
                spooled.write(record())
                os._exit(0)
            except BaseException:
                os._exit(1)
        _, status = os.waitpid(child, 0)
        spooled.write(record())
    assert os.waitstatus_to_exitcode(status) == 0
    names = sorted(p.name for p in (tmp_path / "spool").glob("spool-*.jsonl"))
    assert names == sorted([f"spool-{os.getpid()}-0.jsonl", f"spool-{child}-0.jsonl"])
    assert spooled.flush() and len(stored(tmp_path)) == 3


def test_spool_files_are_private_and_made_where_no_directory_was(store, tmp_path):
    """Records hold users' images: only the service's user reads them. The spool's directory (and its parents)
    is made on the first spooled record."""
    spooled = SpooledPredictionLog(store, tmp_path / "var" / "run" / "spool", 10_000_000, background=False)
    with Outage(tmp_path / "log.db"):
        spooled.write(record())
    [path] = (tmp_path / "var" / "run" / "spool").glob("spool-*.jsonl")
    assert stat.S_IMODE(path.stat().st_mode) == 0o600


def test_the_quarantine_and_a_file_a_partial_replay_shortened_are_private_too(store, tmp_path):
    """They hold users' records as the spool files do. Under a umask that lets everyone read new files, the
    quarantine and the file written in place of a partly replayed one are the owner's only."""
    lines = [encode(r) for r in [record() for _ in range(REPLAY_GROUP + 3)]]
    lines.insert(5, b"torn\n")
    dead = spool_dir(tmp_path) / DEAD
    dead.write_bytes(b"".join(lines))
    dead.chmod(0o600)  # as the spool makes its files
    before = dead.stat().st_ino
    old = os.umask(0o022)
    try:
        spooled = spool(store, tmp_path)
        spooled.ensure_schema()
        with Outage(tmp_path / "log.db"):
            assert not spooled.flush()
    finally:
        os.umask(old)
    assert dead.stat().st_ino != before  # a new file took its place
    assert stat.S_IMODE(dead.stat().st_mode) == 0o600
    assert stat.S_IMODE((tmp_path / "spool" / QUARANTINE).stat().st_mode) == 0o600


def test_a_spool_that_cannot_be_opened_says_why(store, tmp_path):
    (tmp_path / "spool").write_text("a file where the spool's directory should be")
    spooled = spool(store, tmp_path)
    with Outage(tmp_path / "log.db"), pytest.raises(LogUnavailable) as refused:
        spooled.write(record())
    assert str(refused.value) == "the prediction log is unavailable and the spool cannot be opened: File exists"


# -- the quota, and pending() ------------------------------------------------------------------------------------
def test_the_quota_counts_every_file_and_takes_a_record_that_fills_it_exactly(store, tmp_path):
    left = [record(), record()]
    directory = spool_dir(tmp_path)
    (directory / "spool-999999998-0.jsonl").write_bytes(encode(left[0]))
    (directory / "spool-999999999-0.jsonl").write_bytes(encode(left[1]))
    exact = record()
    spooled = spool(store, tmp_path, max_bytes=len(encode(left[0])) + len(encode(left[1])) + len(encode(exact)))
    with Outage(tmp_path / "log.db"):
        spooled.write(exact)  # to the byte: accepted
        with pytest.raises(SpoolFull):
            spooled.write(record())
    assert spooled.flush() and stored(tmp_path) == ids([*left, exact])


def test_pending_counts_every_file_and_follows_appends_replacements_and_cuts(store, tmp_path):
    directory = spool_dir(tmp_path)
    first, second = directory / "spool-999999998-0.jsonl", directory / "spool-999999999-0.jsonl"
    first.write_bytes(encode(record()) + encode(record()))
    second.write_bytes(encode(record()))
    spooled = spool(store, tmp_path)
    assert spooled.pending() == 3
    with open(first, "ab") as f:  # a writer appends
        f.write(encode(record()))
    assert spooled.pending() == 4 and spooled.pending() == 4
    # another file under the same name (a pid reused by a new process), with lines longer than the old file
    replacement = directory / "replacement.tmp"
    replacement.write_bytes(b"".join(encode(record(filename="x" * 3000)) for _ in range(5)))
    os.replace(replacement, second)
    assert spooled.pending() == 3 + 5
    with open(first, "r+b") as f:  # cut in place, as an undone write is
        f.truncate(len(encode(record())))
    assert spooled.pending() == 1 + 5


def test_pending_reads_only_what_was_appended_since_it_last_looked(store, tmp_path):
    """/healthz asks on every probe: bytes counted once are not read again. (Shown by changing a counted byte in
    place, which no writer does: a count that reread the file would see it.)"""
    path = spool_dir(tmp_path) / DEAD
    path.write_bytes(encode(record()) + encode(record()))
    spooled = spool(store, tmp_path)
    assert spooled.pending() == 2
    with open(path, "r+b") as f:
        f.seek(len(encode(record())) - 1)
        f.write(b" ")  # the first line's newline, in place: a reread would count one line
    assert spooled.pending() == 2


def test_a_file_gone_between_listing_and_counting_is_skipped_not_the_rest(tmp_path):
    """The replayer unlinks a file while /healthz counts: the files after it still count."""
    a, gone, b = (tmp_path / name for name in ("a.jsonl", "gone.jsonl", "b.jsonl"))
    a.write_bytes(encode(record()))
    b.write_bytes(encode(record()) * 2)
    assert _LineCounter().count([a, gone, b]) == 3


# -- writes the disk refuses ---------------------------------------------------------------------------------
def _faulty_spool_writes(monkeypatch, directory, write=None, ftruncate=None):
    """Mock: os.write / os.ftruncate fail, or take a byte at a time, on the spool's files only. A regular file
    gives a short or failing write only at RLIMIT_FSIZE's limit, and a truncate that fails never, on demand."""
    real_write, real_ftruncate = os.write, os.ftruncate

    def in_spool(fd):
        try:
            return os.readlink(f"/proc/self/fd/{fd}").startswith(str(directory))
        except OSError:
            return False

    monkeypatch.setattr(
        os, "write", lambda fd, data: write(real_write, fd, data) if in_spool(fd) and write else real_write(fd, data)
    )
    monkeypatch.setattr(
        os, "ftruncate", lambda fd, n: ftruncate(fd, n) if in_spool(fd) and ftruncate else real_ftruncate(fd, n)
    )


def test_a_disk_taking_a_byte_at_a_time_still_gets_the_whole_record(store, tmp_path, monkeypatch):
    _faulty_spool_writes(monkeypatch, tmp_path / "spool", write=lambda real, fd, data: real(fd, bytes(data[:1])))
    spooled = spool(store, tmp_path)
    r = record()
    with Outage(tmp_path / "log.db"):
        spooled.write(r)
    monkeypatch.undo()
    assert spooled.flush() and stored(tmp_path) == [r.id] and spooled.quarantined() == 0


def test_a_write_the_disk_takes_nothing_of_is_refused_and_not_retried(store, tmp_path, monkeypatch):
    calls = []

    def nothing_then_fail(real, fd, data):
        calls.append(len(data))
        if len(calls) > 1:
            raise OSError(errno.EIO, "written again after a write that took nothing")
        return 0

    _faulty_spool_writes(monkeypatch, tmp_path / "spool", write=nothing_then_fail)
    spooled = spool(store, tmp_path)
    with Outage(tmp_path / "log.db"), pytest.raises(LogUnavailable) as refused:
        spooled.write(record())
    assert str(refused.value) == "the prediction log is unavailable and the record could not be spooled: short write"
    assert len(calls) == 1 and spooled.pending() == 0


def test_a_torn_write_that_cannot_be_undone_is_logged_and_quarantined_on_replay(store, tmp_path, monkeypatch, caplog):
    """Half a record reaches the disk, then the disk fails, and so does the truncate that would undo it: the upload
    is refused, the torn half stays (logged), and the replay quarantines it and stores the record before it."""
    before = record()
    spooled = spool(store, tmp_path)
    with Outage(tmp_path / "log.db"):
        spooled.write(before)

        calls = []

        def half_then_fail(real, fd, data):
            calls.append(len(data))
            if len(calls) == 1:
                return real(fd, bytes(data[: len(data) // 2]))
            raise OSError(errno.EIO, "Input/output error")

        failure = OSError(errno.EIO, "the disk refuses the truncate too")
        _faulty_spool_writes(
            monkeypatch, tmp_path / "spool", write=half_then_fail, ftruncate=lambda fd, n: _raise(failure)
        )
        with pytest.raises(LogUnavailable, match="could not be spooled: Input/output error"):
            spooled.write(record())
        monkeypatch.undo()
    assert (
        "ERROR",
        f"could not undo a failed spool write ({failure}); the torn line will be quarantined",
    ) in spool_messages(caplog)
    assert spooled.flush()
    assert stored(tmp_path) == [before.id] and spooled.quarantined() == 1


def _raise(exc):
    raise exc


@pytest.mark.parametrize("fault", ["the new file cannot be written", "the rename fails"])
def test_a_partial_replay_that_cannot_shorten_the_file_leaves_it_whole(store, tmp_path, monkeypatch, caplog, fault):
    """After the log fails mid-file, the file is shortened by writing its rest beside it and renaming it over;
    when the disk refuses that (mock: no filesystem here fails one path on demand), the file stays whole (its
    records are written again, harmlessly), nothing is left beside it, and the warning says why."""
    written = [record() for _ in range(REPLAY_GROUP + 2)]
    path = spool_dir(tmp_path) / DEAD
    path.write_bytes(b"".join(map(encode, written)))
    spooled = spool(store, tmp_path)
    spooled.ensure_schema()
    refusal = OSError(errno.ENOSPC, "No space left on device")
    if fault == "the rename fails":
        real_replace = os.replace
        monkeypatch.setattr(os, "replace", lambda a, b: _raise(refusal) if str(b) == str(path) else real_replace(a, b))
    else:
        real_open = os.open

        def no_new_file(name, *args, **kwargs):
            if os.path.basename(str(name)).startswith(".rest-"):
                raise refusal
            return real_open(name, *args, **kwargs)

        monkeypatch.setattr(os, "open", no_new_file)
    real_write_many, calls = store.write_many, []

    def second_group_meets_an_outage(records):
        calls.append(len(records))
        if len(calls) == 2:
            with Outage(tmp_path / "log.db"):
                real_write_many(records)
        real_write_many(records)

    store.write_many = second_group_meets_an_outage
    assert not spooled.flush()
    monkeypatch.undo()
    assert spooled.pending() == REPLAY_GROUP + 2  # whole
    assert [p.name for p in (tmp_path / "spool").iterdir()] == [DEAD]
    assert ("WARNING", f"could not shorten {path} after a partial replay ({refusal}); it will be replayed whole") in (
        spool_messages(caplog)
    )
    assert spooled.flush()
    assert stored(tmp_path) == ids(written)


# -- the breaker, the replayer, and what they log ---------------------------------------------------------------
def test_while_the_log_is_down_a_retry_touches_nothing(store, tmp_path):
    """Retries against a log still down neither rotate the spool file nor write; the error is the log's; /healthz
    stays degraded until the spool is replayed, even after the log is back."""
    spooled = spool(store, tmp_path)
    spooled.ensure_schema()
    with Outage(tmp_path / "log.db"):
        for _ in range(3):
            spooled.write(record())
            assert "database is locked" in (spooled.last_error() or "")
            assert not spooled.flush()
            assert "database is locked" in (spooled.last_error() or "")
    assert len(list((tmp_path / "spool").glob("spool-*.jsonl"))) == 1 and spooled.pending() == 3
    assert not spooled.available()  # the log is back, but records still wait in the spool
    assert spooled.flush() and spooled.available() and len(stored(tmp_path)) == 3


def test_an_outage_is_logged_when_it_starts_and_when_it_ends(store, tmp_path, caplog):
    caplog.set_level(logging.INFO, logger=SPOOL_LOGGER)
    now = [100.0]
    spooled = SpooledPredictionLog(store, tmp_path / "spool", 10_000_000, clock=lambda: now[0], background=False)
    spooled.ensure_schema()
    with Outage(tmp_path / "log.db"):
        for _ in range(3):
            spooled.write(record())
        error = spooled.last_error()
    now[0] = 112.5
    assert spooled.flush()
    assert spool_messages(caplog) == [
        ("WARNING", f"prediction log unavailable; records go to the local spool until it recovers: {error}"),
        ("INFO", "prediction log available again after 12.5 s"),
    ]


def test_a_log_down_at_start_up_is_logged_as_such(tmp_path, caplog):
    blocker = tmp_path / "blocked"
    blocker.write_text("not a directory")
    spooled = SpooledPredictionLog(
        SqlitePredictionLog(blocker / "log.db"), tmp_path / "spool", 10_000_000, background=False
    )
    spooled.ensure_schema()
    error = spooled.last_error()
    assert "blocked" in (error or "")
    assert spool_messages(caplog)[0] == (
        "WARNING",
        f"prediction log unavailable at start-up (uploads are spooled until it answers): {error}",
    )


class SchemaCounting(SqlitePredictionLog):
    schema_calls = 0

    def ensure_schema(self):
        self.schema_calls += 1
        super().ensure_schema()


def test_the_schema_is_applied_once_not_per_write_or_replay(tmp_path):
    """Applying it is a round of DDL (and schema agreement, on Cassandra)."""
    fresh = SchemaCounting(tmp_path / "fresh.db", timeout=0.05)
    spooled = SpooledPredictionLog(fresh, tmp_path / "spool-fresh", 10_000_000, background=False)
    first = record()
    spooled.write(first)  # the first write applies it: straight to the log, not the spool
    assert ids_in_store(tmp_path / "fresh.db") == [first.id] and spooled.pending() == 0
    for _ in range(3):
        spooled.write(record())
    assert spooled.flush() and fresh.schema_calls == 1

    log = SchemaCounting(tmp_path / "log.db", timeout=0.05)
    spooled = SpooledPredictionLog(log, tmp_path / "spool", 10_000_000, background=False)
    spooled.ensure_schema()
    with Outage(tmp_path / "log.db"):
        spooled.write(record())
    assert spooled.flush()
    spooled.write(record())
    assert log.schema_calls == 1

    blocker = tmp_path / "blocked"
    blocker.write_text("not a directory")
    late = SchemaCounting(blocker / "log.db", timeout=0.05)
    spooled = SpooledPredictionLog(late, tmp_path / "spool-late", 10_000_000, background=False)
    spooled.ensure_schema()  # refused: the replay applies it once the log answers
    spooled.write(record())
    blocker.unlink()
    assert spooled.flush()
    spooled.write(record())
    assert late.schema_calls == 2 and len(ids_in_store(blocker / "log.db")) == 2


def test_one_replayer_thread_runs_however_many_records_are_spooled(store, tmp_path):
    before = set(threading.enumerate())
    spooled = SpooledPredictionLog(store, tmp_path / "spool", 10_000_000, retry_seconds=60)
    try:
        with Outage(tmp_path / "log.db"):
            for _ in range(10):
                spooled.write(record())
        assert [t.name for t in set(threading.enumerate()) - before] == ["spool-replay"]
    finally:
        spooled.close()


def test_a_process_leaving_while_the_log_is_down_is_not_held_by_its_replayer(tmp_path):
    """The replayer is a daemon thread: a worker stopped during an outage exits (its records wait in the spool)."""
    code = (
        "import sys; from pathlib import Path; sys.path.insert(0, '.');"
        "from service.predlog.spool import SpooledPredictionLog;"
        "from service.predlog.sqlite import SqlitePredictionLog;"
        "from tests.fixtures.records import record;"
        f"log = SpooledPredictionLog(SqlitePredictionLog(Path(r'{tmp_path / 'blocked' / 'log.db'}')),"
        f" Path(r'{tmp_path / 'spool'}'), 10_000_000, retry_seconds=60);"
        "log.ensure_schema(); log.write(record()); print('spooled', flush=True)"
    )
    (tmp_path / "blocked").write_text("not a directory")
    # a replayer keeping it alive would run until its 60 s retry, and beyond: the timeout fails the test
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=30)
    assert out.stdout.strip() == "spooled" and out.returncode == 0, out.stderr


class CrashingProbe(SqlitePredictionLog):
    """Mock: the first probe after the outage raises a bug (no real log here crashes a probe on demand)."""

    crashes = 1

    def ping(self):
        if self.crashes:
            self.crashes -= 1
            raise RuntimeError("a bug in the probe")
        return super().ping()


def test_a_bug_in_the_background_replay_is_logged_and_retried(tmp_path, caplog):
    log = CrashingProbe(tmp_path / "log.db", timeout=0.05)
    log.ensure_schema()
    spooled = SpooledPredictionLog(log, tmp_path / "spool", 10_000_000, retry_seconds=0.05)
    try:
        with Outage(tmp_path / "log.db"):
            spooled.write(record())
            log.crashes = 1
        deadline = time.monotonic() + 10
        while spooled.pending() and time.monotonic() < deadline:
            time.sleep(0.05)
        assert spooled.pending() == 0 and len(stored(tmp_path)) == 1
    finally:
        spooled.close()
    failed = [r for r in caplog.records if r.name == SPOOL_LOGGER and r.getMessage() == "spool replay failed"]
    assert failed and failed[0].levelname == "ERROR" and "a bug in the probe" in str(failed[0].exc_info[1])


# -- what passes through to the log -----------------------------------------------------------------------------
def test_reads_and_labels_pass_through_the_spool_to_the_log(store, tmp_path):
    spooled = spool(store, tmp_path)
    start = datetime(2026, 3, 1, 12, tzinfo=UTC)
    made = [
        record(id=new_prediction_id(start + timedelta(seconds=s)), confidence=c)
        for s, c in ((0, 0.3), (1, 0.2), (2, 0.98))
    ]
    for r in made:
        spooled.write(r)
    assert spooled.get(made[1].id) == store.get(made[1].id) and spooled.get(made[1].id) is not None
    assert [r.id for r in spooled.recent(1, 0.5)] == [made[1].id]
    assert [r.id for r in spooled.recent(2)] == [made[2].id, made[1].id]
    at = start + timedelta(hours=1)
    labelled = spooled.set_label(made[2].id, 3, at)
    assert labelled is not None and (labelled.id, labelled.label, labelled.labelled_at) == (made[2].id, 3, at)
    day = made[0].created_at.date()
    rows = spooled.stats(day, day, 0.25)
    assert rows == store.stats(day, day, 0.25) and sum(row.low_confidence for row in rows) == 1  # 0.2
    assert spooled.stats(day + timedelta(days=1), day + timedelta(days=1), 0.25) == []
    exported = [r.id for r in spooled.export(day, day)]
    assert exported == [r.id for r in store.export(day, day)] and sorted(exported) == ids(made)
    assert list(spooled.export(day - timedelta(days=2), day - timedelta(days=1))) == []


def test_the_logs_own_account_of_its_last_failure_wins(store, tmp_path):
    """As the Cassandra log reports its driver's last failure (a subclass stands in for it here). Before any
    failure there is none to report (/healthz then shows no error at all, not an empty one)."""
    assert spool(store, tmp_path).last_error() is None

    class Explaining(SqlitePredictionLog):
        last_error = "node 127.0.0.3 timed out"

    spooled = spool(Explaining(tmp_path / "log.db"), tmp_path)
    assert spooled.last_error() == "node 127.0.0.3 timed out"


# -- requeue ------------------------------------------------------------------------------------------------------
class CountingRefusing(Refusing):
    single_writes = 0

    def write(self, record):
        self.single_writes += 1
        super().write(record)


def test_requeue_writes_in_groups_counts_what_it_wrote_and_keeps_exactly_the_rest(tmp_path):
    log = CountingRefusing(tmp_path / "log.db", timeout=0.05)
    log.ensure_schema()
    directory = spool_dir(tmp_path)
    assert requeue(directory, log) == (0, 0)  # nothing quarantined
    whole = [record(), record(), record(), record(filename="refused.png"), record(), record()]
    damaged = bytearray(encode(record()))
    damaged[30] = ord("#") if damaged[30] != ord("#") else ord("%")
    lines = [encode(r).rstrip(b"\n") for r in whole] + [bytes(damaged).rstrip(b"\n")]
    entries = [json.dumps({"reason": "r", "at": "x", "line": line.decode()}).encode() for line in lines]
    (directory / QUARANTINE).write_bytes(b"".join(e + b"\n" for e in entries))
    assert requeue(directory, log, group=2) == (5, 2)
    assert stored(tmp_path) == ids(whole[:3] + whole[4:])
    assert log.single_writes == 2  # the groups in one write each; the one with the refused record, record by record
    assert (directory / QUARANTINE).read_bytes() == entries[6] + b"\n" + entries[3] + b"\n"


def test_requeue_takes_a_line_that_kept_its_newline(tmp_path):
    """An entry written by another tool (one that read the spool file line by line, newline included)."""
    log = SqlitePredictionLog(tmp_path / "log.db", timeout=0.05)
    log.ensure_schema()
    r = record()
    entry = json.dumps({"reason": "by hand", "at": "x", "line": encode(r).decode()})
    (spool_dir(tmp_path) / QUARANTINE).write_text(entry + "\n")
    assert requeue(tmp_path / "spool", log) == (1, 0) and stored(tmp_path) == [r.id]


def test_a_record_the_replay_set_aside_is_stored_by_requeue_once_the_log_takes_it(tmp_path):
    refusing = Refusing(tmp_path / "log.db", timeout=0.05)
    refusing.ensure_schema()
    refused = record(filename="refused.png")
    (spool_dir(tmp_path) / DEAD).write_bytes(encode(record()) + encode(refused))
    assert spool(refusing, tmp_path).flush()
    fixed = SqlitePredictionLog(tmp_path / "log.db", timeout=0.05)  # the fault fixed: the log takes it now
    assert requeue(tmp_path / "spool", fixed) == (1, 0)
    assert refused.id in stored(tmp_path) and (tmp_path / "spool" / QUARANTINE).read_bytes() == b""


def test_with_an_object_spool_refused_records_wait_there_and_the_next_process_replays_them(tmp_path):
    """SPOOL_STORE on the embedded store (the S3 run: tests/e2e/test_s3_store.py): nothing goes to the spool's
    folder, and a later process, its log back, writes them and empties the store."""
    from ml.storage.filestore import FileObjectStore
    from service.predlog.object_spool import PENDING, ObjectSpool

    store = FileObjectStore(tmp_path / "store")
    down = tmp_path / "down.db"
    down.mkdir()  # SQLite cannot open a folder: the log refuses every write
    first = SpooledPredictionLog(
        SqlitePredictionLog(down), tmp_path / "unused", 1024, background=False, spool=ObjectSpool(store)
    )
    records = [record() for _ in range(3)]
    first.write_many(records)
    assert store.list(PENDING) == sorted(PENDING + r.id for r in records)
    assert not (tmp_path / "unused").exists() or not any((tmp_path / "unused").iterdir())
    log = SqlitePredictionLog(tmp_path / "up.db")
    second = SpooledPredictionLog(log, tmp_path / "unused-too", 1024, background=False, spool=ObjectSpool(store))
    second.ensure_schema()
    assert second.flush() is True
    assert [log.get(r.id) for r in records] == records and store.list(PENDING) == []

"""The sharded Cassandra log on a real node: rollups against a full recount, and the first schema's tables
read until migrated, then copied record by record."""

from __future__ import annotations

import inspect
import random
import re
import subprocess
import sys
import time
import uuid
from dataclasses import astuple
from datetime import UTC, datetime, timedelta

import pytest

from scripts.cassandra_node import free_port
from service.analytics import summarise
from service.predlog import cassandra_tables, layout, new_prediction_id
from service.predlog.base import created_at_of
from service.predlog.cassandra import CassandraPredictionLog, schema_statements
from service.predlog.cassandra_stats import ROLLUP_GRACE, Statistics
from service.predlog.cql_connect import COUNTS
from service.predlog.layout import WHOLE_DAY
from service.predlog.legacy import SCHEMA_V1
from tests.fixtures.cassandra import LOCAL, env_for, keyspace_name, open_log
from tests.fixtures.records import record

pytestmark = pytest.mark.cassandra
NOW = datetime.now(UTC)


@pytest.fixture
def fresh_keyspace(cassandra_node):
    name = keyspace_name("layout")
    logs = []

    def another_log():
        log = open_log(cassandra_node, name, "ONE")
        logs.append(log)
        return log

    yield name, another_log
    for log in logs:
        log.close()


@pytest.fixture
def log(fresh_keyspace):
    """A log (reads at ONE) on a fresh keyspace, its schema applied."""
    log = fresh_keyspace[1]()
    log.apply_schema(LOCAL)
    return log


def spread_records(days: int, per_day: int, seed: int = 0) -> list:
    """Records over the last ``days`` days (today's only in slots that have already ended), several model
    versions, refusals among them."""
    rng = random.Random(seed)
    out = []
    for back in range(days):
        for _ in range(per_day):
            at = NOW - timedelta(days=back, minutes=rng.randint(10, 600), microseconds=rng.randint(0, 10**6))
            pid = new_prediction_id(at)
            out.append(
                record(
                    id=pid,
                    created_at=created_at_of(pid),
                    digit=rng.choice([*range(10), 10]),
                    confidence=rng.random(),
                    model_version=rng.choice(["a", "b"]),
                )
            )
    return out


def rows_of(stats) -> list:
    return sorted((r.day, r.model_version, r.digit, r.count, r.confidence_sum, *astuple(r)[5:]) for r in stats)


def test_rollups_equal_a_full_recount_and_a_late_write_clears_its_slot(fresh_keyspace, cassandra_node):
    """Every write here is "late" (into slots that have ended), as a spool replay's are, and the reader runs
    seconds after them: the stamp margin (for clocks of other hosts) is 0, since one clock writes and reads."""
    log = open_log(cassandra_node, fresh_keyspace[0], "ONE", stamp_margin=timedelta(0))
    log.apply_schema(LOCAL)
    records = spread_records(days=3, per_day=120)
    log.write_many(records)
    for r in records[::7]:
        log.set_label(r.id, (r.digit + 1) % 10 if r.digit % 2 else r.digit % 10, NOW)
    first, last = min(r.created_at.date() for r in records), NOW.date()
    recount = rows_of(log.recount(first, last, 0.6))
    assert sum(r[3] for r in recount) == len(records)
    assert rows_of(log.stats(first, last, 0.6)) == recount  # counts the slots, keeps their rollups
    newest = max(r.created_at.date() for r in records)  # today's, or yesterday's in the small hours
    kept = log.cql.execute(f"SELECT rollup FROM {log.keyspace}.slots WHERE day = ? AND slot >= 0", (newest,)).all()
    assert kept and all(r.rollup for r in kept)
    assert rows_of(log.stats(first, last, 0.6)) == recount  # from the rollups
    assert rows_of(log.stats(first, last, 0.3)) == rows_of(log.recount(first, last, 0.3))  # another threshold

    late = spread_records(days=1, per_day=5, seed=1)  # as a spool replay writes them: into ended slots
    log.write_many(late)
    after = rows_of(log.recount(first, last, 0.6))
    assert sum(r[3] for r in after) == len(records) + 5
    assert rows_of(log.stats(first, last, 0.6)) == after
    summary = summarise(log.stats(first, last, 0.6), first, last, 0.6)
    assert summary["total"]["count"] + summary["total"]["not_a_digit"] == len(records) + 5
    log.close()


def test_kept_rollups_stand_for_the_rows_they_counted(fresh_keyspace, cassandra_node):
    """Once a reader has counted them, an ended slot is read from its kept rollup and an ended day from its one
    whole-day row: the rows (then the slots) are not visited again. Here they are gone, and the figures stay."""
    log = open_log(cassandra_node, fresh_keyspace[0], "ONE", stamp_margin=timedelta(0))
    log.apply_schema(LOCAL)
    records = spread_records(days=3, per_day=30, seed=3)
    log.write_many(records)
    first, last = min(r.created_at.date() for r in records), NOW.date()
    counted = rows_of(log.stats(first, last, 0.6))  # keeps each ended slot's rollup, and each ended day's
    ks = log.keyspace
    (day_row,) = log.cql.execute(f"SELECT rollup FROM {ks}.slots WHERE day = ? AND slot = ?", (first, WHOLE_DAY)).all()
    assert day_row.rollup
    log.cql.execute(f"TRUNCATE {ks}.predictions")
    log.cql.execute(f"DELETE FROM {ks}.slots WHERE day = ? AND slot = ?", (first, WHOLE_DAY))
    assert rows_of(log.stats(first, last, 0.6)) == counted  # the slots' rollups (today's, and the first day's)
    log.cql.execute(f"DELETE FROM {ks}.slots WHERE day = ? AND slot >= 0", (first,))
    assert rows_of(log.stats(first, last, 0.6)) == counted  # the first day's rollup, kept again just now
    assert rows_of(log.recount(first, last, 0.6)) == []  # which does visit the rows: they are gone
    log.close()


def test_a_slot_and_its_day_are_kept_once_past_their_end_and_the_grace_not_before(fresh_keyspace, cassandra_node):
    """A rollup is kept only when a write that took its id inside the slot has surely finished: the reader's
    clock one microsecond short of the slot's end plus the grace keeps neither the day's last slot nor the day."""
    log = open_log(cassandra_node, fresh_keyspace[0], "ONE", stamp_margin=timedelta(0))
    log.apply_schema(LOCAL)
    day = (NOW - timedelta(days=3)).date()
    end = layout.slot_end(day, layout.SLOTS_PER_DAY - 1)  # the next midnight
    ids = [new_prediction_id(end - before) for before in (timedelta(minutes=2), timedelta(hours=5))]
    log.write_many([record(id=pid, created_at=created_at_of(pid)) for pid in ids])

    def kept(now: datetime) -> tuple[bool, bool]:
        """Whether the day's rollup and its last slot's are kept after a reader whose clock says ``now``."""
        assert Statistics(log.tables, clock=lambda: now).stats(day, day, 0.6)[0].count == 2
        rows = {
            r.slot: r.rollup
            for r in log.cql.execute(f"SELECT slot, rollup FROM {log.keyspace}.slots WHERE day = ?", (day,))
        }
        return bool(rows.get(WHOLE_DAY)), bool(rows.get(layout.SLOTS_PER_DAY - 1))

    assert kept(end + ROLLUP_GRACE - timedelta(microseconds=1)) == (False, False)
    assert kept(end + ROLLUP_GRACE) == (True, True)
    log.close()


def test_a_rollup_counted_just_after_a_late_write_is_not_kept(fresh_keyspace):
    """Within the stamp margin of a clearing, a count is not kept (another host's clock may be behind): the
    next reader counts again, and the figures are right either way."""
    _, open_log = fresh_keyspace
    log = open_log()
    log.apply_schema(LOCAL)
    records = spread_records(days=1, per_day=40, seed=5)
    log.write_many(records)  # every slot ended: cleared now
    day = min(r.created_at.date() for r in records)
    assert rows_of(log.stats(day, NOW.date(), 0.6)) == rows_of(log.recount(day, NOW.date(), 0.6))
    kept = log.cql.execute(f"SELECT rollup FROM {log.keyspace}.slots WHERE day = ? AND slot >= 0", (day,)).all()
    assert kept and not any(r.rollup for r in kept)


def test_a_rollups_write_time_is_the_stamp_margin_before_now():
    """A kept rollup is written with a timestamp that far in the past: a late row's write clears the rollup of its
    slot, and must win over it even from a host whose clock runs up to the margin behind (all of it, not half)."""
    tables = cassandra_tables.Tables(cql=None, keyspace="any", stamp_margin=timedelta(seconds=30))
    before = time.time_ns() // 1000
    stamp = tables.stamp()
    after = time.time_ns() // 1000
    assert before - 30_000_000 <= stamp <= after - 30_000_000


def test_a_lookup_by_id_is_one_partition_and_recent_spans_slots(fresh_keyspace):
    _, open_log = fresh_keyspace
    log = open_log()
    log.apply_schema(LOCAL)
    records = spread_records(days=2, per_day=30, seed=2)
    log.write_many(records)
    newest = sorted(records, key=lambda r: r.created_at, reverse=True)
    assert [r.id for r in log.recent(25)] == [r.id for r in newest[:25]]
    assert all(log.get(r.id).normalised == r.normalised for r in records)
    exported = [r.id for r in log.export(min(r.created_at.date() for r in records), NOW.date())]
    assert exported == [r.id for r in sorted(records, key=lambda r: r.created_at)]


def _in_one_shard(count: int) -> list[str]:
    """``count`` ids from the start of the slot an hour ago on, oldest first, a few microseconds apart (one slot)
    and all in one shard."""
    hour_ago = NOW - timedelta(hours=1)
    at = layout.slot_start(hour_ago.date(), layout.slot_of(hour_ago))
    ids = [new_prediction_id(at)]
    later = at
    while len(ids) < count:
        later += timedelta(microseconds=1)
        pid = new_prediction_id(later)
        if layout.shard_of(pid) == layout.shard_of(ids[0]):
            ids.append(pid)
    return ids


def test_a_doubtful_answer_under_newer_sure_ones_of_its_shard_is_found(log):
    """Looking for answers under a confidence, a shard is read past its newest rows: here every row newer than
    the one sought is in the same partition and sure of itself."""
    doubtful, *sure = _in_one_shard(4)
    at_the_bound, *surer = sure
    log.write_many(
        [
            record(id=doubtful, confidence=0.2),
            record(id=at_the_bound, confidence=0.5),  # "under 0.5" leaves it out
            *(record(id=pid, confidence=0.99) for pid in surer),
        ]
    )
    assert [r.id for r in log.recent(1, max_confidence=0.5)] == [doubtful]
    assert [r.id for r in log.recent(5, max_confidence=0.5)] == [doubtful]
    assert [r.id for r in log.recent(1)] == [sure[-1]]


def test_a_search_for_doubtful_answers_reads_max_scanned_rows_and_no_more(log, monkeypatch):
    doubtful, *sure = _in_one_shard(5)
    log.write_many([record(id=doubtful, confidence=0.2), *(record(id=pid, confidence=0.99) for pid in sure)])
    monkeypatch.setattr(cassandra_tables, "MAX_SCANNED", 5)
    assert [r.id for r in log.recent(10, max_confidence=0.5)] == [doubtful]  # the fifth row read
    monkeypatch.setattr(cassandra_tables, "MAX_SCANNED", 4)
    assert log.recent(10, max_confidence=0.5) == []


@pytest.fixture(params=["Etc/GMT-14", "Etc/GMT+12"])  # UTC+14, UTC-12: at any hour one is on another date than UTC
def server_time_zone(request, monkeypatch):
    monkeypatch.setenv("TZ", request.param)
    time.tzset()
    yield request.param
    monkeypatch.undo()
    time.tzset()


def test_recent_walks_the_last_days_by_utc_whatever_the_servers_time_zone(log, server_time_zone):
    """The days are the records' (UTC): today's newest and one from the oldest day walked are both found."""
    today = datetime.now(UTC).date()
    noon = datetime.combine(today, datetime.min.time(), tzinfo=UTC) + timedelta(hours=12)
    oldest = record(id=new_prediction_id(noon - timedelta(days=cassandra_tables.MAX_DAYS_BACK - 1)))
    newest = record()
    log.write_many([oldest, newest])
    found = [r.id for r in log.recent(10)]
    if datetime.now(UTC).date() != today:
        pytest.xfail("midnight UTC passed while the test ran: the days walked moved by one")
    assert found == [newest.id, oldest.id]


def _around_a_wrap_of_the_low_time() -> tuple[datetime, datetime]:
    """Two moments in one slot, a few microseconds either side of the last time the low 32 bits of a timeuuid's
    time (its first bytes) went back to 0, at least a minute ago."""
    gregorian = created_at_of("00000000-0000-1000-8000-000000000000")  # a timeuuid's time 0
    wrap = ((datetime.now(UTC) - timedelta(minutes=1) - gregorian) // timedelta(microseconds=1) * 10) >> 32 << 32
    while True:
        before = gregorian + timedelta(microseconds=wrap // 10 - 1)
        after = gregorian + timedelta(microseconds=wrap // 10 + 2)
        if layout.slot_of(before) == layout.slot_of(after):
            return before, after
        wrap -= 1 << 32


def test_reads_merge_a_slots_shards_by_time_not_by_the_ids_bytes(log):
    """Rows of one slot in two shards, written either side of a wrap of the timeuuid's low time: ordered by their
    bytes, the later would come first."""
    before, after = _around_a_wrap_of_the_low_time()
    first = new_prediction_id(before)
    second = new_prediction_id(after)
    while layout.shard_of(second) == layout.shard_of(first):
        second = new_prediction_id(after)
    assert uuid.UUID(second) < uuid.UUID(first)  # by bytes
    log.write_many([record(id=second), record(id=first)])
    exported = [r.id for r in log.export(before.date(), after.date())]
    assert exported == [first, second]
    assert [r.id for r in log.recent(2)] == [second, first]  # newest first: by time too


def _statements_asked(log, monkeypatch) -> list[tuple[str, object]]:
    """Every statement the log's session is asked to run from now on, with its execution profile. A spy: each
    still runs as it would."""
    session = log.cql.session()
    real = session.execute_async
    asked: list[tuple[str, object]] = []

    def spy(*args, **kwargs):
        called = inspect.signature(real).bind(*args, **kwargs).arguments
        query = called["query"]
        asked.append((getattr(query, "prepared_statement", query).query_string, called.get("execution_profile")))
        return real(*args, **kwargs)

    monkeypatch.setattr(session, "execute_async", spy)
    return asked


def test_what_a_migration_and_the_first_schemas_counts_check_by_is_read_at_the_counts_profile(log, monkeypatch):
    """The ids of a day in the new tables decide what a migration copies and what the first schema's counts leave
    out: they are read at LOCAL_QUORUM (the counts' profile) whatever reads are set to (ONE in these tests)."""
    records = spread_records(days=1, per_day=6, seed=5)
    log.write_many(records)
    asked = _statements_asked(log, monkeypatch)
    day = records[0].created_at.date()
    assert log.ids_of_day(day) == {uuid.UUID(r.id) for r in records if r.created_at.date() == day}
    assert len(asked) > 1 and {profile for _, profile in asked} == {COUNTS}


def test_a_page_of_recent_answers_asks_each_partition_for_that_many_rows_only(log, monkeypatch):
    log.write_many(spread_records(days=1, per_day=20, seed=6))
    asked = _statements_asked(log, monkeypatch)
    assert len(log.recent(3)) == 3
    reads = [query for query, _ in asked if ".predictions " in query]
    assert reads and all(query.endswith(" LIMIT ?") for query in reads)


def _fill_first_schema(log, records, labels) -> None:
    session = log.cql.session()
    for statement in schema_statements(log.keyspace, SCHEMA_V1):
        session.execute(statement, timeout=30)
    insert = session.prepare(
        f"INSERT INTO {log.keyspace}.predictions_by_day (day, id, filename, content_type, digit, confidence, "
        "probabilities, model_version, latency_ms, normalised, image, image_key, image_size, request_id) "
        "VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?)"
    )
    for r in records:
        session.execute(
            insert,
            (
                r.created_at.date(),
                uuid.UUID(r.id),
                r.filename,
                r.content_type,
                r.digit,
                r.confidence,
                r.probabilities,
                r.model_version,
                r.latency_ms,
                r.normalised,
                r.image,
                r.image_key,
                r.image_size,
                r.request_id,
            ),
        )
    for r, label in labels:
        session.execute(
            f"INSERT INTO {log.keyspace}.labels_by_day (day, id, label, labelled_at) VALUES (%s, %s, %s, %s)",
            (r.created_at.date(), uuid.UUID(r.id), label, NOW - timedelta(hours=1)),
        )


def _fields(r, close=lambda v: v) -> tuple:
    return (
        r.id,
        r.filename,
        r.content_type,
        r.digit,
        close(r.confidence),
        close(r.probabilities),
        r.model_version,
        r.normalised,
        r.image,
        r.image_key,
        r.image_size,
        r.request_id,
        r.label,
    )


def test_the_first_schema_is_read_until_migrated_then_copied_record_by_record(fresh_keyspace, cassandra_node, tmp_path):
    name, open_log = fresh_keyspace
    old = spread_records(days=3, per_day=40, seed=3)
    old[0] = record(id=old[0].id, created_at=old[0].created_at, image=None, image_key="uploads/x", image_size=9)
    labels = [(r, (r.digit + 3) % 10) for r in old[::5]]
    log = open_log()
    log.apply_schema(LOCAL)
    _fill_first_schema(log, old, labels)
    log = open_log()  # a function started on the keyspace: it sees the first schema's tables
    labelled = {r.id: label for r, label in labels}
    first, last = min(r.created_at.date() for r in old), NOW.date()

    # before the migration: every old record is read through the current log
    assert log.get(old[1].id).id == old[1].id
    assert log.get(labels[0][0].id).label == labels[0][1]
    assert {r.id for r in log.recent(500)} == {r.id for r in old}
    assert sum(r.count for r in log.stats(first, last, 0.6)) == len(old)
    new = spread_records(days=1, per_day=10, seed=4)  # written after the deploy, to the sharded tables
    log.write_many(new)
    log.set_label(old[2].id, 4, NOW)  # a correction after the deploy: copied, then labelled
    assert log.get(old[2].id).label == 4
    assert sum(r.count for r in log.stats(first, last, 0.6)) == len(old) + len(new)
    assert len(list(log.export(first, last))) == len(old) + len(new)

    env = {"PATH": "/usr/bin:/bin", **env_for(cassandra_node, name)}
    for _ in range(2):  # idempotent: the second run copies nothing again
        done = subprocess.run(
            [sys.executable, "-m", "service", "log", "migrate"], env=env, capture_output=True, text=True, timeout=120
        )
        assert done.returncode == 0, done.stderr
    assert "copied 0 predictions" in done.stdout

    migrated = open_log()
    assert migrated.legacy() is None
    for r in old:
        expected = r.with_label(labelled[r.id], NOW) if r.id in labelled else r
        if r.id == old[2].id:
            expected = r.with_label(4, NOW)
        assert _fields(migrated.tables.get(r.id)) == _fields(
            expected, lambda v: pytest.approx(v, abs=1e-6)
        )  # from the sharded tables alone
    assert sorted(astuple(r)[:5] for r in migrated.stats(first, last, 0.6)) == sorted(
        astuple(r)[:5] for r in migrated.recount(first, last, 0.6)
    )
    assert sum(r.count for r in migrated.recount(first, last, 0.6)) == len(old) + len(new)


def test_a_table_not_there_yet_is_unavailability_not_a_bug(fresh_keyspace):
    """As Amazon Keyspaces answers while its DDL runs ("unconfigured table"; Cassandra 5: "does not exist"). The spool keeps such a record and
    replays it once the table is there, instead of answering 500 or quarantining it."""
    from service.errors import LogUnavailable

    name, open_log = fresh_keyspace
    log = open_log()
    log.cql.session().execute(
        f"CREATE KEYSPACE {name} WITH replication = {{'class': 'SimpleStrategy', 'replication_factor': 1}}"
    )
    early = record()
    with pytest.raises(LogUnavailable, match="unconfigured table|does not exist"):
        log.write(early)
    log.apply_schema(LOCAL)
    log.write(early)
    assert log.get(early.id).id == early.id


def test_an_ordinary_insert_writes_no_tombstone(fresh_keyspace):
    """Absent values (no original inline, no request id) are left unset and the probabilities are one frozen
    cell: reading the row back meets no tombstone (the node's own trace counts them)."""
    _, open_log = fresh_keyspace
    log = open_log()
    log.apply_schema(LOCAL)
    written = record(image=None, image_key=None, request_id=None)
    log.write(written)
    at = created_at_of(written.id)
    key = (at.date(), layout.slot_of(at), layout.shard_of(written.id), uuid.UUID(written.id))
    session = log.cql.session()
    result = session.execute(
        f"SELECT * FROM {log.keyspace}.predictions WHERE day=%s AND slot=%s AND shard=%s AND id=%s", key, trace=True
    )
    assert result.one() is not None
    events = [e.description for e in result.get_query_trace(max_wait_sec=10).events]
    # "Read 1 live rows and 0 tombstone cells"; with sstables on disk also "... included 0 due to tombstones"
    cells = [int(n) for e in events for n in re.findall(r"(\d+) tombstone cells", e)]
    sstables = [int(n) for e in events for n in re.findall(r"included (\d+) due to tombstones", e)]
    assert cells and not any(cells) and not any(sstables), events


def test_large_originals_written_together_are_not_refused_and_export_in_pages(fresh_keyspace):
    """Many large rows in one group: the statements in flight are bounded by bytes too, so the driver never
    refuses them as busy; the export leaves the originals where they are."""
    _, open_log = fresh_keyspace
    log = open_log()
    log.apply_schema(LOCAL)
    big = [record(image=bytes([n]) * 300_000, image_size=300_000) for n in range(48)]
    log.write_many(big)
    day = big[0].created_at.date()  # written now: NOW, when the module was imported, may be yesterday
    exported = list(log.export(day, day))
    assert [r.id for r in exported] == [r.id for r in big]
    assert all(r.image is None and r.image_size == 300_000 for r in exported)  # an export never carries them
    assert all(log.get(b.id).image == b.image for b in big)


def test_a_url_giving_each_host_its_own_port_reaches_the_node_behind_a_closed_one(cassandra_node, log):
    """The driver is handed every host with its port: the first refuses, the second is the node."""
    address = cassandra_node.address
    hosts = f"{address}:{free_port(address)},{address}:{cassandra_node.native_port}"
    other = open_log(cassandra_node, log.keyspace, "ONE", hosts=hosts)
    try:
        pid = new_prediction_id()
        other.write(record(id=pid))
        assert log.get(pid) is not None
    finally:
        other.close()


def test_ping_says_whether_todays_slots_answer_and_keeps_why_not(cassandra_node, log):
    log.cql.last_error = "an earlier failure"
    assert log.ping() is True and log.last_error is None  # a node that answers again clears it
    nowhere = CassandraPredictionLog(f"cassandra://127.0.0.1:{free_port()}/{log.keyspace}", None, None, "ONE")
    try:
        assert nowhere.ping() is False
        assert nowhere.last_error is not None and "127.0.0.1" in nowhere.last_error
    finally:
        nowhere.close()


def _legacy_and_new(fresh_keyspace, seed: int):
    """A log on a keyspace holding the first schema's tables (not migrated) and the sharded ones, with records
    of the last hour in each, their times interleaved; (log, the first schema's records, the new ones)."""
    _, open_log = fresh_keyspace
    log = open_log()
    log.apply_schema(LOCAL)
    rng = random.Random(seed)
    now = datetime.now(UTC)
    times = sorted(now - timedelta(seconds=rng.randint(60, 3600)) for _ in range(24))
    made = [record(id=new_prediction_id(at), confidence=rng.random()) for at in times]
    old, new = made[0::2], made[1::2]
    _fill_first_schema(log, old, [])
    log = open_log()  # started on the keyspace: it sees the first schema's tables
    log.write_many(new)
    return log, old, new


def test_recent_merges_both_schemas_newest_first_and_filters_the_first_ones_too(fresh_keyspace):
    log, old, new = _legacy_and_new(fresh_keyspace, seed=7)
    every = sorted([*old, *new], key=lambda r: (r.created_at, r.id), reverse=True)
    assert [r.id for r in log.recent(10)] == [r.id for r in every[:10]]
    doubtful = [r.id for r in every if r.confidence < 0.5][:10]
    assert [r.id for r in log.recent(10, max_confidence=0.5)] == doubtful


def test_export_merges_both_schemas_by_time_without_the_originals(fresh_keyspace):
    log, old, new = _legacy_and_new(fresh_keyspace, seed=8)
    exported = list(log.export(old[0].created_at.date(), new[-1].created_at.date()))
    assert [r.id for r in exported] == [r.id for r in sorted([*old, *new], key=lambda r: (r.created_at, r.id))]
    assert all(r.image is None for r in exported) and any(r.image for r in old)  # originals stay where they are


def test_a_record_of_the_sharded_tables_is_labelled_while_the_first_schema_is_still_read(fresh_keyspace):
    log, old, new = _legacy_and_new(fresh_keyspace, seed=9)
    labelled = log.set_label(new[0].id, 3, NOW)
    assert labelled is not None and labelled.label == 3 and log.get(new[0].id).label == 3
    assert log.set_label(old[0].id, 5, NOW).label == 5  # and one of the first schema: copied, then labelled


def test_corrections_carry_the_model_version_that_answered(log):
    answered = record(model_version="v-answered")
    log.write(answered)
    log.set_label(answered.id, 4, NOW)
    assert [(c.id, c.label, c.model_version) for c in log.corrections()] == [(answered.id, 4, "v-answered")]


def test_a_keyspace_without_the_schema_is_refused_naming_the_log(fresh_keyspace):
    from service.errors import LogUnavailable

    _, open_log = fresh_keyspace
    log = open_log()
    with pytest.raises(LogUnavailable, match=re.escape(f"{log.describe()} has no prediction-log schema")):
        log.ensure_schema()


def test_large_rows_go_fewer_at_a_time_by_their_bytes(log, monkeypatch):
    """What keeps the driver from refusing a group of large rows as busy (a loopback node here never fills a
    socket's buffer, so the refusal itself is not seen): the statements in flight at once, by the largest row's
    bytes, original and normalised image together. A spy on the driver's concurrent execution: each group still
    runs."""
    import cassandra.concurrent

    from service.predlog.cql import BYTES_IN_FLIGHT, IN_FLIGHT

    real, asked = cassandra.concurrent.execute_concurrent, []

    def spy(session, statements, concurrency, **options):
        asked.append(concurrency)
        return real(session, statements, concurrency, **options)

    monkeypatch.setattr(cassandra.concurrent, "execute_concurrent", spy)
    large = [record(image=bytes(200_000 - 784), image_size=200_000 - 784) for _ in range(3)]  # 784: normalised
    log.write_many([record(image=b"x" * 100)])
    log.write_many([record(image=b"y"), *large])
    assert asked[0] == IN_FLIGHT and BYTES_IN_FLIGHT // 200_000 in asked  # (an ended slot's clearing: its own)
    assert all(log.get(r.id) is not None for r in large)


def test_applying_the_schema_to_a_keyspace_not_there_without_replication_is_refused_naming_the_log(fresh_keyspace):
    from service.predlog.cassandra import SchemaError

    _, open_log = fresh_keyspace
    log = open_log()
    with pytest.raises(SchemaError, match=re.escape(f"does not exist on {log.describe()}: create it")):
        log.apply_schema()

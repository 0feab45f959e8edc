"""One contract, every prediction-log backend.

- sqlite: always (the embedded default).
- cassandra: a real Apache Cassandra 5.0 node started for the test run (tests/conftest.py), one fresh
  keyspace per test, so each test also creates the schema on an empty keyspace. Logged in with
  PasswordAuthenticator's default superuser, since the node checks credentials.
"""

from __future__ import annotations

import os
import sqlite3
import stat
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta

import pytest

from service.analytics import summarise
from service.predlog import new_prediction_id
from service.predlog.base import created_at_of
from service.predlog.cassandra import CassandraPredictionLog, schema_statements
from service.predlog.sqlite import SqlitePredictionLog
from tests.fixtures.cassandra import LOCAL, keyspace_name, open_log
from tests.fixtures.records import record


@contextmanager
def backend(name: str, request, tmp_path):
    if name == "sqlite":
        yield SqlitePredictionLog(tmp_path / "log.db")
        return
    node = request.getfixturevalue("cassandra_node")
    log = open_log(node, keyspace_name("contract"), "ONE")
    try:
        yield log
    finally:
        log.close()


@pytest.fixture(params=["sqlite", pytest.param("cassandra", marks=pytest.mark.cassandra)])
def prediction_log(request, tmp_path):
    with backend(request.param, request, tmp_path) as log:
        if isinstance(log, CassandraPredictionLog):  # as a deployment does it, once (and again: idempotent)
            log.apply_schema(LOCAL)
            log.apply_schema(LOCAL)
        log.ensure_schema()
        log.ensure_schema()  # idempotent
        yield log


def test_write_then_read_back_every_field(prediction_log):
    written = record(request_id="4bf92f3577b34da6", latency_ms=2.25, content_type="image/webp", image_size=9)
    prediction_log.write(written)
    read = prediction_log.get(written.id)
    assert read is not None
    exact = ("id", "filename", "content_type", "digit", "model_version", "normalised", "image", "image_key")
    exact += ("image_size", "request_id", "label", "labelled_at")
    assert {name: getattr(read, name) for name in exact} == {name: getattr(written, name) for name in exact}
    assert (read.confidence, read.latency_ms) == pytest.approx((written.confidence, written.latency_ms), abs=1e-6)
    assert read.probabilities == pytest.approx(written.probabilities, abs=1e-6)
    assert abs((read.created_at - written.created_at).total_seconds()) < 0.001


def test_writes_are_idempotent(prediction_log):
    once = record()
    prediction_log.write(once)
    prediction_log.write(once)
    assert [r.id for r in prediction_log.recent(10)].count(once.id) == 1


def test_lists_do_not_read_originals(prediction_log):
    """500 inline originals of up to 1 MB are not read to answer a list that never returns them."""
    written = record(image=b"\x89PNG" + bytes(100_000), image_size=100_004)
    prediction_log.write(written)
    listed = prediction_log.recent(10)[0]
    assert listed.image is None and listed.image_size == 100_004
    assert prediction_log.get(written.id).image == written.image  # the one-record read still has it


def test_recent_is_newest_first_and_limited(prediction_log):
    ids = [new_prediction_id() for _ in range(5)]
    for pid in ids:
        prediction_log.write(record(id=pid))
    assert [r.id for r in prediction_log.recent(3)] == ids[::-1][:3]


def test_large_originals_are_referenced_not_inlined(prediction_log):
    big = record(image=None, image_key="uploads/2026-11-29/x", image_size=5_000_000)
    prediction_log.write(big)
    read = prediction_log.get(big.id)
    assert read.image is None and read.image_key == "uploads/2026-11-29/x" and read.image_size == 5_000_000


def test_unknown_id_is_none(prediction_log):
    assert prediction_log.get(new_prediction_id()) is None


def test_a_label_is_stored_and_read_back_everywhere(prediction_log):
    wrong, other = record(digit=7), record(digit=3)
    prediction_log.write(wrong)
    prediction_log.write(other)
    at = datetime(2026, 11, 29, 12, 0, tzinfo=UTC)
    updated = prediction_log.set_label(wrong.id, 1, at)
    assert (updated.label, updated.labelled_at) == (1, at)
    assert prediction_log.get(wrong.id).label == 1
    assert prediction_log.get(wrong.id).labelled_at == at
    assert prediction_log.get(other.id).label is None
    assert {r.id: r.label for r in prediction_log.recent(10)} == {wrong.id: 1, other.id: None}
    prediction_log.set_label(wrong.id, 2, at)  # a second correction replaces the first
    assert [(c.id, c.label, c.digit, c.normalised) for c in prediction_log.corrections()] == [
        (wrong.id, 2, 7, wrong.normalised)
    ]


def test_not_a_digit_is_a_label_every_backend_keeps(prediction_log):
    from ml.labels import NOT_A_DIGIT

    answered = record(digit=7)
    prediction_log.write(answered)
    prediction_log.set_label(answered.id, NOT_A_DIGIT, datetime(2026, 12, 7, 12, 0, tzinfo=UTC))
    assert prediction_log.get(answered.id).label == NOT_A_DIGIT
    assert [(c.label, c.digit) for c in prediction_log.corrections()] == [(NOT_A_DIGIT, 7)]


def test_a_sqlite_log_from_before_not_a_digit_labels_takes_them_and_keeps_its_labels(tmp_path):
    """Its labels table was made with CHECK (label BETWEEN 0 AND 9): opening it rebuilds the table."""
    from ml.labels import NOT_A_DIGIT
    from service.predlog import sqlite as backend_module

    old_schema = backend_module.SCHEMA.replace("BETWEEN 0 AND 10", "BETWEEN 0 AND 9")
    with sqlite3.connect(tmp_path / "log.db") as db:
        db.executescript(old_schema)
    first, second = record(digit=3), record(digit=5)
    log = SqlitePredictionLog(tmp_path / "log.db")
    for r in (first, second):
        log.write(r)
    with sqlite3.connect(tmp_path / "log.db") as db:  # a label written by the old code, straight into its table
        db.execute(
            "INSERT INTO labels (id, label, labelled_at) VALUES (?, 8, '2026-12-01T00:00:00+00:00')", (first.id,)
        )
        with pytest.raises(sqlite3.IntegrityError):
            db.execute("INSERT INTO labels (id, label, labelled_at) VALUES (?, 10, 'x')", (second.id,))
    log = SqlitePredictionLog(tmp_path / "log.db")
    log.ensure_schema()  # as the service does when it opens the log: the table is widened, its rows kept
    log.ensure_schema()  # and only once
    log.set_label(second.id, NOT_A_DIGIT, datetime(2026, 12, 7, tzinfo=UTC))
    assert (log.get(first.id).label, log.get(second.id).label) == (8, NOT_A_DIGIT)


def test_labelling_an_unknown_id_is_none(prediction_log):
    assert prediction_log.set_label(new_prediction_id(), 4, datetime.now(UTC)) is None
    assert list(prediction_log.corrections()) == []


def test_recent_can_keep_only_low_confidence(prediction_log):
    sure, unsure, unsure_too = record(confidence=0.99), record(confidence=0.5), record(confidence=0.85)
    for r in (sure, unsure, unsure_too):
        prediction_log.write(r)
    assert [r.id for r in prediction_log.recent(10, max_confidence=0.9)] == [unsure_too.id, unsure.id]
    assert [r.id for r in prediction_log.recent(1, max_confidence=0.9)] == [unsure_too.id]


def test_stats_per_day_model_and_digit(prediction_log):
    rows = [
        record(digit=7, confidence=0.9, model_version="a"),
        record(digit=7, confidence=0.5, model_version="a"),
        record(digit=2, confidence=1.0, model_version="b"),
    ]
    for r in rows:
        prediction_log.write(r)
    prediction_log.set_label(rows[1].id, 1, datetime.now(UTC))
    prediction_log.set_label(rows[2].id, 2, datetime.now(UTC))
    day = rows[0].created_at.date()
    stats = summarise(prediction_log.stats(day - timedelta(days=1), day, 0.8), day - timedelta(days=1), day, 0.8)
    assert [d["count"] for d in stats["days"]] == [0, 3]
    today = stats["days"][1]
    assert today["per_digit"] == [0, 0, 1, 0, 0, 0, 0, 2, 0, 0]
    assert today["mean_confidence"] == pytest.approx(0.8, abs=1e-6)
    assert today["low_confidence_share"] == pytest.approx(1 / 3, abs=1e-6)
    assert (today["corrected"], today["corrected_accuracy"]) == (2, 0.5)
    by_model = {m["model_version"]: m for m in today["by_model"]}
    assert (by_model["a"]["count"], by_model["a"]["corrected_accuracy"]) == (2, 0.0)
    assert (by_model["b"]["count"], by_model["b"]["corrected_accuracy"]) == (1, 1.0)
    assert stats["total"]["count"] == 3 and stats["days"][0]["mean_confidence"] is None


def test_export_streams_the_days_oldest_first(prediction_log):
    rows = [record(digit=d % 10) for d in range(12)]
    for r in rows:
        prediction_log.write(r)
    prediction_log.set_label(rows[3].id, 9, datetime.now(UTC))
    day = rows[0].created_at.date()
    exported = list(prediction_log.export(day, day))
    assert [r.id for r in exported] == [r.id for r in rows]
    assert exported[3].label == 9
    assert list(prediction_log.export(day - timedelta(days=3), day - timedelta(days=1))) == []


def test_schema_file_is_only_creates():
    statements = schema_statements("my_ks")
    assert statements and all(
        s.upper().startswith(("CREATE", "ALTER TABLE")) and "IF NOT EXISTS" in s.upper() for s in statements
    )
    assert not any("DROP" in s.upper() for s in statements)
    assert all("digits" not in s for s in statements)


def test_ids_are_timeuuids_in_time_order():
    first, second = new_prediction_id(), new_prediction_id()
    assert created_at_of(first) <= created_at_of(second) < created_at_of(first) + timedelta(seconds=5)


def test_ids_are_unique_rfc4122_timeuuids_even_across_forked_workers():
    """Made here, not by libuuid: version 1, RFC 4122 variant, a random node with the multicast bit, strictly
    increasing time within a process, and another clock sequence and node in a forked child (two workers
    making an id in the same 100 ns must not make the same one)."""
    import os
    import uuid

    ids = [new_prediction_id() for _ in range(20_000)]
    assert len(set(ids)) == len(ids)
    parsed = [uuid.UUID(i) for i in ids]
    assert all(u.version == 1 and u.variant == uuid.RFC_4122 and u.node >> 40 & 1 for u in parsed)
    assert [u.time for u in parsed] == sorted({u.time for u in parsed})  # strictly increasing
    assert abs(created_at_of(ids[-1]) - datetime.now(UTC)) < timedelta(seconds=5)
    read, write = os.pipe()
    child = os.fork()
    if child == 0:
        os.write(write, new_prediction_id().encode())
        os._exit(0)
    os.waitpid(child, 0)
    theirs = uuid.UUID(os.read(read, 64).decode())
    assert (theirs.clock_seq, theirs.node) != (parsed[0].clock_seq, parsed[0].node)


def test_a_record_a_log_would_refuse_is_named_before_it_is_answered():
    assert record().problems() == []
    nan = record(confidence=float("nan"), probabilities=[float("inf")] + [0.0] * 10)
    assert nan.problems() == ["confidence is not finite", "probabilities is not finite"]
    assert record(digit=11).problems() == ["digit 11 is out of range"]


def test_sqlite_refuses_a_record_it_cannot_store_instead_of_skipping_it(tmp_path):
    """OR IGNORE skipped a NaN confidence (bound as NULL into a NOT NULL column) without a word."""
    log = SqlitePredictionLog(tmp_path / "p.db")
    log.ensure_schema()
    broken = record(confidence=float("nan"))
    with pytest.raises(sqlite3.IntegrityError, match="predictions.confidence"):
        log.write(broken)
    log.write(good := record())
    log.write(good)  # still idempotent
    assert log.get(good.id) is not None and log.get(broken.id) is None


def test_a_new_sqlite_log_is_its_owners_only_whatever_the_umask(tmp_path):
    """It holds users' uploads. Under a umask that lets everyone read new files, the database and the files
    SQLite makes beside it are the owner's only; a database that exists keeps the mode its operator gave it."""
    old = os.umask(0o022)
    try:
        log = SqlitePredictionLog(tmp_path / "new" / "predictions.db")
        log.ensure_schema()
        log.write(record())
        modes = {p.name: stat.S_IMODE(p.stat().st_mode) for p in (tmp_path / "new").iterdir()}
        log.close()
        (tmp_path / "kept.db").touch(0o640)
        kept = SqlitePredictionLog(tmp_path / "kept.db")
        kept.ensure_schema()
        kept.close()
    finally:
        os.umask(old)
    assert modes == {"predictions.db": 0o600, "predictions.db-wal": 0o600, "predictions.db-shm": 0o600}
    assert stat.S_IMODE((tmp_path / "kept.db").stat().st_mode) == 0o640

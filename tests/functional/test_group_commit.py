"""Group commit on the ASGI entry (scripts/serve.sh): uploads handled in one turn of a worker's event loop
share one transaction of the prediction log, and none is answered before its record is durable.

The entry point is driven in-process through its ASGI interface, several requests at once on one loop, as
uvicorn does; the log is the real SQLite file, watched through its connection's statement trace. The
faults are real too: another connection's exclusive lock, a spool too small for a record, and a trigger
that makes an insert fail the way a bug would."""

from __future__ import annotations

import asyncio
import json
import sqlite3
import threading
import time

import pytest

from ml.storage.filestore import FileObjectStore
from service.http.entry import predict_function
from service.predlog.group import GroupCommit
from service.predlog.spool import SpooledPredictionLog
from service.predlog.sqlite import SCHEMA, SqlitePredictionLog
from service.settings import Settings
from tests.conftest import GOLDEN
from tests.fixtures.records import record
from tests.fixtures.sqlite_log import Outage, ids_in_store

SEVEN = (GOLDEN / "7_canvas.png").read_bytes()
BOUNDARY = "group-commit-test"


def _scope(body: bytes) -> dict:
    return {
        "type": "http",
        "method": "POST",
        "path": "/",
        "raw_path": b"/",
        "query_string": b"",
        "headers": [
            (b"content-type", f"multipart/form-data; boundary={BOUNDARY}".encode()),
            (b"content-length", str(len(body)).encode()),
        ],
    }


def _upload(filename: str) -> bytes:
    return (
        (
            f'--{BOUNDARY}\r\nContent-Disposition: form-data; name="file"; filename="{filename}"\r\n'
            f"Content-Type: image/png\r\n\r\n"
        ).encode()
        + SEVEN
        + f"\r\n--{BOUNDARY}--\r\n".encode()
    )


async def _post(entry, filename: str, on_answer=None) -> tuple[int, dict]:
    body, sent = _upload(filename), []

    async def receive():
        return {"type": "http.request", "body": body, "more_body": False}

    async def send(message):
        if message["type"] == "http.response.body" and on_answer is not None:
            on_answer(json.loads(message["body"]))
        sent.append(message)

    await entry.serve_asgi(_scope(body), receive, send)
    return sent[0]["status"], json.loads(sent[1]["body"])


def _at_once(entry, filenames: list[str], on_answer=None) -> list[tuple[int, dict]]:
    async def all_of_them():
        return await asyncio.gather(*(_post(entry, name, on_answer) for name in filenames))

    return asyncio.run(all_of_them())


@pytest.fixture
def env(predict_env):
    return {**predict_env, "LOG_LEVEL": "WARNING"}


def _entry(env: dict[str, str]):
    entry = predict_function(Settings.from_env(env))
    entry.warm()  # model loaded, log and spool opened, as a worker does after the fork
    return entry, entry.writes.log()  # the prediction log its answers are written to


def _traced(log) -> list[str]:
    statements: list[str] = []
    log.inner._connection().set_trace_callback(statements.append)
    return statements


def test_uploads_handled_in_one_turn_share_one_transaction(env, tmp_path):
    entry, log = _entry(env)
    statements = _traced(log)
    answers = _at_once(entry, [f"{n}.png" for n in range(6)])
    assert [status for status, _ in answers] == [200] * 6
    assert [body["digit"] for _, body in answers] == [7] * 6
    assert statements.count("BEGIN IMMEDIATE") == 1 and statements.count("COMMIT") == 1
    assert sum(s.startswith("INSERT") for s in statements) == 6
    assert sorted(ids_in_store(tmp_path / "predictions.db")) == sorted(body["id"] for _, body in answers)


def test_no_answer_leaves_before_its_record_is_in_the_log(env, tmp_path):
    entry, _ = _entry(env)
    seen_at_answer: list[bool] = []

    def check(body):  # runs as the answer's body is sent: the record must already be readable by anyone
        with sqlite3.connect(tmp_path / "predictions.db") as conn:
            seen_at_answer.append(
                conn.execute("SELECT 1 FROM predictions WHERE id = ?", (body["id"],)).fetchone() is not None
            )

    answers = _at_once(entry, ["a.png", "b.png", "c.png"], check)
    assert [status for status, _ in answers] == [200] * 3 and seen_at_answer == [True] * 3


def test_a_locked_log_sends_the_whole_group_to_the_spool(env, tmp_path):
    entry, log = _entry(env)
    with Outage(tmp_path / "predictions.db"):
        answers = _at_once(entry, [f"{n}.png" for n in range(4)])
        assert [status for status, _ in answers] == [200] * 4  # accepted: whole in the spool
        assert log.pending() == 4
    assert log.flush()
    assert sorted(ids_in_store(tmp_path / "predictions.db")) == sorted(body["id"] for _, body in answers)


def test_when_log_and_spool_both_refuse_each_request_is_answered_503(env, tmp_path):
    entry, log = _entry({**env, "SPOOL_MAX_BYTES": "1024"})  # smaller than one record
    with Outage(tmp_path / "predictions.db"):
        answers = _at_once(entry, ["a.png", "b.png"])
    assert [(status, body["error"]) for status, body in answers] == [(503, "log_unavailable")] * 2
    assert "spool" in answers[0][1]["message"]
    assert ids_in_store(tmp_path / "predictions.db") == [] and log.pending() == 0


def test_a_failing_insert_is_a_500_for_its_own_request_only(env, tmp_path):
    with sqlite3.connect(tmp_path / "predictions.db") as conn:
        conn.executescript(SCHEMA)
        conn.execute(
            "CREATE TRIGGER bug BEFORE INSERT ON predictions WHEN NEW.filename = 'bug.png' "
            "BEGIN SELECT RAISE(ABORT, 'a wrong value, as a bug would write'); END"
        )
    entry, log = _entry(env)
    statements = _traced(log)
    answers = _at_once(entry, ["fine.png", "bug.png", "also-fine.png"])
    assert [(status, body.get("error")) for status, body in answers] == [(200, None), (500, "internal"), (200, None)]
    assert statements.count("ROLLBACK") == 1  # the group's transaction, undone whole; then each request alone
    assert sorted(ids_in_store(tmp_path / "predictions.db")) == sorted([answers[0][1]["id"], answers[2][1]["id"]])
    assert log.pending() == 0 and log.available()  # not spooled: a bug


class SizedLog(SqlitePredictionLog):
    """The real SQLite log, noting how many records each group write brings it."""

    def __init__(self, path):
        super().__init__(path)
        self.sizes: list[int] = []

    def write_many(self, records):
        self.sizes.append(len(records))
        super().write_many(records)


def test_while_groups_fill_a_group_waits_one_more_turn_and_alone_it_does_not(tmp_path):
    """A request arriving in the turn after a group's first one joins that group while traffic comes in
    groups, and gets a group of its own once requests have come alone three times in a row."""
    inner = SizedLog(tmp_path / "log.db")
    log = SpooledPredictionLog(inner, tmp_path / "spool", 10_000_000)
    log.ensure_schema()
    commits = GroupCommit()
    sizes = inner.sizes

    async def one_then_another_a_turn_later() -> None:
        first = asyncio.ensure_future(commits.commit(log, [record()]))
        await asyncio.sleep(0)  # the first request's turn ends; the second arrives in the next one
        await asyncio.gather(first, commits.commit(log, [record()]))

    async def several() -> None:
        await asyncio.gather(*(commits.commit(log, [record()]) for _ in range(3)))

    async def alone(times: int) -> None:
        for _ in range(times):
            await commits.commit(log, [record()])

    asyncio.run(alone(1))  # a fresh server is idle: a lone request is written at the end of its turn
    asyncio.run(one_then_another_a_turn_later())
    assert sizes == [1, 1, 1]  # idle: the group did not wait for the request of the next turn
    asyncio.run(several())  # a group of several: traffic
    asyncio.run(one_then_another_a_turn_later())
    assert sizes[-1] == 2  # busy: the next turn's request joined the group
    asyncio.run(alone(3))
    asyncio.run(one_then_another_a_turn_later())
    assert sizes[-2:] == [1, 1]  # three lone groups in a row: idle again
    assert len(ids_in_store(tmp_path / "log.db")) == sum(sizes)


def test_two_lone_groups_after_a_busy_one_still_wait_and_a_group_of_two_is_busy(tmp_path):
    """Idle means three lone groups in a row since the last group of two or more, counted from that group."""
    inner = SizedLog(tmp_path / "log.db")
    inner.ensure_schema()
    commits = GroupCommit()

    async def one_then_another_a_turn_later() -> None:
        first = asyncio.ensure_future(commits.commit(inner, [record()]))
        await asyncio.sleep(0)
        await asyncio.gather(first, commits.commit(inner, [record()]))

    async def alone(times: int) -> None:
        for _ in range(times):
            await commits.commit(inner, [record()])

    async def two_in_one_turn() -> None:
        await asyncio.gather(*(commits.commit(inner, [record()]) for _ in range(2)))

    asyncio.run(alone(3))  # idle
    asyncio.run(two_in_one_turn())  # a group of two is busy
    asyncio.run(alone(2))  # two lone groups after it: not yet idle
    asyncio.run(one_then_another_a_turn_later())
    assert inner.sizes[-4:] == [2, 1, 1, 2]


class SlowLog(SqlitePredictionLog):
    """The real SQLite log, each write taking at least ``DELAY`` longer, and refusing any group holding a
    record named bug.png the way a bug's bad value would be refused."""

    DELAY = 0.02

    def write_many(self, records):
        time.sleep(self.DELAY)
        if len(records) > 1 and any(r.filename == "bug.png" for r in records):
            raise ValueError("a wrong value, as a bug would write")
        super().write_many(records)


async def _within(*commits):
    return await asyncio.wait_for(asyncio.gather(*commits, return_exceptions=True), 10)


def test_each_request_is_told_the_seconds_its_own_transaction_took(tmp_path):
    log = SlowLog(tmp_path / "log.db")
    log.ensure_schema()
    commits = GroupCommit()
    grouped = asyncio.run(_within(*(commits.commit(log, [record()]) for _ in range(3))))
    assert len(set(grouped)) == 1 and SlowLog.DELAY <= grouped[0] < 1  # one transaction, its time
    again = asyncio.run(_within(*(commits.commit(log, [record(filename=n)]) for n in ("a.png", "bug.png"))))
    assert all(isinstance(seconds, float) and SlowLog.DELAY <= seconds < 1 for seconds in again)
    assert len(ids_in_store(tmp_path / "log.db")) == 5  # the failed group's records, written one request each


def test_a_lone_request_the_log_refuses_gets_the_logs_own_exception(tmp_path):
    refusal = ValueError("refused")

    class Refusing(SqlitePredictionLog):
        def write_many(self, records):
            raise refusal

    (answer,) = asyncio.run(_within(GroupCommit().commit(Refusing(tmp_path / "log.db"), [record()])))
    assert answer is refusal


def test_requests_for_two_logs_in_one_turn_are_each_written_to_their_own(tmp_path):
    logs = [SqlitePredictionLog(tmp_path / name) for name in ("a.db", "b.db")]
    for log in logs:
        log.ensure_schema()
    commits = GroupCommit()
    records = [record(), record(), record()]
    asyncio.run(_within(*(commits.commit(log, [r]) for log, r in zip(logs + logs[:1], records, strict=True))))
    assert sorted(ids_in_store(tmp_path / "a.db")) == sorted([records[0].id, records[2].id])
    assert ids_in_store(tmp_path / "b.db") == [records[1].id]


def test_a_request_cancelled_while_its_group_is_written_leaves_the_others_answered(tmp_path):
    log = SqlitePredictionLog(tmp_path / "log.db")
    log.ensure_schema()
    commits = GroupCommit()
    records = [record(), record()]

    async def first_cancelled():
        first, second = (asyncio.ensure_future(commits.commit(log, [r])) for r in records)
        await asyncio.sleep(0)  # both queued; the group is written after this turn
        first.cancel()  # as the server shutting down cancels a request
        return await asyncio.wait_for(second, 10), first

    seconds, first = asyncio.run(first_cancelled())
    assert isinstance(seconds, float) and first.cancelled()
    assert sorted(ids_in_store(tmp_path / "log.db")) == sorted(r.id for r in records)  # written all the same


class WatchedStore(FileObjectStore):
    """The real file store, noting for each original it is handed the thread it ran on and whether the log
    already held the record naming it (to see the order of the writes and where they run)."""

    def __init__(self, root, log_path):
        super().__init__(root)
        self.log_path, self.puts = log_path, []

    def put(self, key, data, content_type="application/octet-stream"):
        pid = key.rsplit("/", 1)[-1]
        with sqlite3.connect(self.log_path) as conn:
            logged = conn.execute("SELECT 1 FROM predictions WHERE id = ?", (pid,)).fetchone() is not None
        self.puts.append((threading.current_thread(), logged))
        super().put(key, data, content_type)


def test_large_originals_are_stored_off_the_loop_before_their_records_are_written(env, tmp_path, model_store):
    entry, log = _entry({**env, "INLINE_IMAGE_BYTES": "0"})
    store = WatchedStore(model_store, tmp_path / "predictions.db")
    entry.writes.store = lambda: store
    answers = _at_once(entry, [f"{n}.png" for n in range(3)])
    assert [status for status, _ in answers] == [200] * 3
    assert len(store.puts) == 3 and all(thread is not threading.main_thread() for thread, _ in store.puts)
    assert not any(logged for _, logged in store.puts)  # no record named an original not yet stored
    for _, body in answers:
        kept = log.get(body["id"])
        assert kept.image is None and store.get(kept.image_key) == SEVEN


def test_an_original_the_store_refuses_is_a_503_and_leaves_no_record(env, tmp_path, model_store):
    import shutil

    blocked = tmp_path / "store"
    shutil.copytree(model_store, blocked)
    entry, log = _entry({**env, "INLINE_IMAGE_BYTES": "0", "MODEL_STORE": f"file://{blocked}"})
    (blocked / "uploads").write_text("a file where the uploads folder should be")
    answers = _at_once(entry, ["a.png", "b.png"])
    assert [(status, body["error"]) for status, body in answers] == [(503, "store_unavailable")] * 2
    assert ids_in_store(tmp_path / "predictions.db") == [] and log.pending() == 0

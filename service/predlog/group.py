"""Group commit: the records that the requests of one event-loop turn answer with are written together.

A worker under load has several uploads ready at once. Written one by one, each would pay a transaction
of its own, and two workers' transactions would take turns on one SQLite file (its write lock, its page
cache re-read after the other's commit). Here the ASGI entry point hands each answer's records to
``GroupCommit.commit`` and waits; the records of every request handled in the same turn of the loop
(under load: in that turn and the next) go to the log in one ``write_many`` (one transaction), and only
then is any of them answered. Durability is unchanged: no answer before its records are in the log or,
the log being down, whole in the spool (``SpooledPredictionLog.write_many``). A group the log refuses for
a reason of its own (a bug's bad value, a spool with room for some) is written again request by request:
each request answers for its own records.
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING

from service.predlog.base import PredictionRecord

if TYPE_CHECKING:
    import asyncio  # imported where a loop runs: the Lambda path never needs it

LONE_GROUPS_TO_IDLE = 3  # after this many groups of one request in a row, a group no longer waits a turn


class GroupCommit:
    """One per process, used from its event loop's thread only."""

    def __init__(self) -> None:
        self._queue: list[tuple[object, list[PredictionRecord], asyncio.Future]] = []
        self._lone_groups = LONE_GROUPS_TO_IDLE  # groups of one request in a row, since the last larger one

    async def commit(self, log, records: list[PredictionRecord]) -> float:
        """Wait until ``records`` are durable in ``log``; the seconds their transaction took. Raises what the log raised
        (LogUnavailable when the spool could not take them either)."""
        import asyncio

        loop = asyncio.get_running_loop()
        done = loop.create_future()
        if not self._queue:
            if self._lone_groups < LONE_GROUPS_TO_IDLE:
                # while groups fill, a group closes one turn after the turn of its first request: transactions
                # then hold more records each, for less CPU per request (docs/decisions.md); a second turn more
                # bought nothing
                loop.call_soon(loop.call_soon, self._flush)
            else:  # requests have come one at a time: no one to wait for
                loop.call_soon(self._flush)
        self._queue.append((log, records, done))
        return await done

    def _flush(self) -> None:
        queue, self._queue = self._queue, []
        self._lone_groups = 0 if len(queue) > 1 else self._lone_groups + 1
        by_log: dict[int, tuple[object, list[tuple[asyncio.Future, list[PredictionRecord]]]]] = {}
        for log, records, done in queue:
            by_log.setdefault(id(log), (log, []))[1].append((done, records))
        outcome: dict[asyncio.Future, float | BaseException] = {}
        for log, requests in by_log.values():  # one log in practice: the app's
            for done, result in _write(log, requests):
                if not isinstance(outcome.get(done), BaseException):
                    outcome[done] = result
        for done, result in outcome.items():
            if done.done():  # its request was cancelled (the server shutting down)
                continue
            if isinstance(result, BaseException):
                done.set_exception(result)
            else:
                done.set_result(result)


def _write(
    log, requests: list[tuple[asyncio.Future, list[PredictionRecord]]]
) -> list[tuple[asyncio.Future, float | BaseException]]:
    """Each request's outcome: the seconds its records' transaction took, or the exception it answers with
    (LogUnavailable: 503; anything else, a bug: a logged 500). A group that fails is written again request
    by request, so one bad record, or a spool with room for some, fails only the requests it must."""
    started = time.perf_counter()
    try:
        log.write_many([record for _, records in requests for record in records])
        seconds = time.perf_counter() - started
        return [(done, seconds) for done, _ in requests]
    except Exception as exc:  # noqa: BLE001 (handed to the waiting requests)
        if len(requests) == 1:
            return [(requests[0][0], exc)]
    outcomes: list[tuple[asyncio.Future, float | BaseException]] = []
    for done, records in requests:
        started = time.perf_counter()
        try:
            log.write_many(records)
            outcomes.append((done, time.perf_counter() - started))
        except Exception as exc:  # noqa: BLE001
            outcomes.append((done, exc))
    return outcomes

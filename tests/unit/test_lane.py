"""The costly lane: one costly request at a time per worker, in a thread, a few waiting, the rest a 503."""

import asyncio
import threading
import time

import pytest

from service.errors import HTTPError
from service.http.lane import CostlyLane


def test_one_at_a_time_off_the_loop_and_a_full_queue_is_503():
    lane = CostlyLane(max_waiting=2)
    running, most, loop_thread = [0], [0], []

    def work() -> str:
        running[0] += 1
        most[0] = max(most[0], running[0])
        time.sleep(0.05)
        running[0] -= 1
        return threading.current_thread().name

    async def main():
        loop_thread.append(threading.current_thread().name)
        return await asyncio.gather(*(lane.run(work) for _ in range(6)), return_exceptions=True)

    outcomes = asyncio.run(main())
    done = [o for o in outcomes if isinstance(o, str)]
    refused = [o for o in outcomes if isinstance(o, HTTPError)]
    assert len(done) == 3 and most[0] == 1  # the one running and the two waiting
    assert loop_thread[0] not in done  # in a thread: the loop is free meanwhile
    assert len(refused) == 3 and {(e.status, e.code) for e in refused} == {(503, "busy")}
    assert refused[0].headers["Retry-After"]


def test_a_failing_request_frees_its_turn():
    lane = CostlyLane()

    def boom():
        raise ValueError("decode failed")

    async def main():
        with pytest.raises(ValueError):
            await lane.run(boom)
        return await lane.run(lambda: "next")

    assert asyncio.run(main()) == "next"

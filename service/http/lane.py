"""The costly lane: requests that cost far more than an ordinary upload run one at a time per worker, in a
thread, so that the event loop goes on answering the others. A few wait their turn; more are refused (503,
Retry-After) rather than held in memory with their bodies."""

from __future__ import annotations

import asyncio
import functools
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from service.errors import HTTPError
from service.http.messages import RETRY_AFTER_SECONDS

MAX_WAITING = 8  # costly requests queued in one worker behind the one decoding


class CostlyLane:
    def __init__(self, max_waiting: int = MAX_WAITING):
        self.max_waiting = max_waiting
        self._turn: asyncio.Semaphore | None = None  # made on the worker's running loop (after fork)
        self._thread: ThreadPoolExecutor | None = None
        self._queued = 0

    async def run(self, work: Callable[..., Any], *args: Any) -> Any:
        """``work(*args)`` in a thread once no other costly request of this worker runs."""
        if self._queued > self.max_waiting:
            raise HTTPError(
                503,
                "busy",
                "this worker is already decoding several large requests; retry after Retry-After, or send smaller "
                "or fewer images",
                {"Retry-After": RETRY_AFTER_SECONDS},
            )
        if self._turn is None:
            self._turn = asyncio.Semaphore(1)
            # one thread of its own: each thread that decodes keeps a malloc arena of its own, and a thread of the
            # loop's shared pool taking each turn would leave a costly request's worth of memory in every one
            self._thread = ThreadPoolExecutor(1, thread_name_prefix="costly-lane")
        self._queued += 1
        try:
            async with self._turn:
                return await asyncio.get_running_loop().run_in_executor(self._thread, functools.partial(work, *args))
        finally:
            self._queued -= 1

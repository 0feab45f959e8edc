"""What an answer reports, made durable before it leaves: the originals it names in the object store, then
its records in the prediction log. At once on Flask and Lambda; on ASGI, the originals off the event loop
and the records with those of the other requests of the loop's turn (``GroupCommit``)."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from service.http.messages import Response
from service.predlog.group import GroupCommit
from service.telemetry import RequestTelemetry


class Writes:
    def __init__(self, function: str, log: Callable[[], Any] | None, store: Callable[[], Any] | None):
        """``log``: the prediction log the records go to, ``store``: the object store the originals go to
        (each opened on first use)."""
        self.function, self.log, self.store = function, log, store
        self._group = GroupCommit()  # one per process: the ASGI entry's loop

    def now(self, response: Response, t: RequestTelemetry) -> None:
        """Raises what the store or the log raised; nothing of the answer is then reported written."""
        if response.originals:
            t.stages["original_write"] = self._store_originals(response.originals)
        started = time.perf_counter()
        self._log().write_many(response.records)
        t.stages["log_write"] = time.perf_counter() - started

    async def grouped(self, response: Response, t: RequestTelemetry) -> None:
        """As ``now``; the originals in a thread (each one's fsync would hold every other request of the
        loop), then the records in the turn's group."""
        if response.originals:
            import asyncio  # here, as in service.predlog.group: the Lambda path never needs it

            loop = asyncio.get_running_loop()
            originals = response.originals
            t.stages["original_write"] = await loop.run_in_executor(None, self._store_originals, originals)
        t.stages["log_write"] = await self._group.commit(self._log(), response.records)

    def _store_originals(self, originals: list) -> float:
        """Each original whole in the store, before any record names it; the seconds it took."""
        if self.store is None:
            raise RuntimeError(f"the {self.function} function has no object store to keep originals in")
        started = time.perf_counter()
        store = self.store()
        for original in originals:
            store.put(original.key, original.data, original.content_type)
        return time.perf_counter() - started

    def _log(self):
        if self.log is None:
            raise RuntimeError(f"the {self.function} function has no prediction log to write records to")
        return self.log()

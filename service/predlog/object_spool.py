"""The spool in an object store (SPOOL_STORE=s3://bucket/prefix/), for where a local disk does not outlive the
process: on Lambda, /tmp goes with its execution environment, which Lambda recycles at will, and a record
spooled there during a log outage would be lost with it, or never replayed by another environment.

Each spooled record is one object, ``pending/<id>``, holding the spool line (``spool_files.encode``: its
checksum finds a damaged one); the object store's acknowledgement of the write is what makes the record
durable before the request is answered. Any environment replays every pending object it finds (the log's
writes are idempotent: two that replay the same object at once write the same record twice, harmlessly) and
deletes it once the log has it. A damaged object, or one the log rejects for good, moves to
``quarantine/<id>``. The same interface as ``SpoolFiles``, which ``SpooledPredictionLog`` drives.
"""

from __future__ import annotations

import logging

from ml.storage.base import NotFound, ObjectStore, StoreUnavailable
from service.errors import LogUnavailable, SpoolFull
from service.predlog.base import PredictionLog, PredictionRecord
from service.predlog.spool_files import DamagedRecord, decode, encode

logger = logging.getLogger(__name__)

PENDING, QUARANTINED = "pending/", "quarantine/"
REPLAY_GROUP = 200  # as the file spool: one round of the log's writes


class ObjectSpool:
    def __init__(self, store: ObjectStore) -> None:
        self.store = store

    def fork_check(self) -> None:
        """Nothing per process: every object is anyone's to replay."""

    def rotate(self) -> None:
        """Nothing to rotate: each record is its own object."""

    def paths(self) -> list[str]:
        return self._listed(PENDING)

    def append(self, record: PredictionRecord) -> None:
        """Durable once the store acknowledged it; SpoolFull (a 503) when it cannot take it."""
        try:
            self.store.put(PENDING + record.id, encode(record), "application/x-ndjson")
        except StoreUnavailable as exc:
            raise SpoolFull(
                f"the log is down and the spool in {self.store.describe()} refused the record: {exc}"
            ) from exc

    def own_bytes(self) -> int:
        """What is still pending (any environment's: none owns an object)."""
        return len(self.paths())

    def pending(self) -> int:
        return len(self.paths())

    def quarantined(self) -> int:
        return len(self._listed(QUARANTINED))

    def find(self, prediction_id: str) -> PredictionRecord | None:
        try:
            return decode(self.store.get(PENDING + prediction_id).rstrip(b"\n"))
        except (NotFound, DamagedRecord):
            return None
        except StoreUnavailable as exc:
            raise LogUnavailable(f"the spool in {self.store.describe()} cannot be read: {exc}") from exc

    def quarantine(self, line: bytes, reason: str, source: str | None = None) -> None:
        name = (source or "").rpartition("/")[2] or "unnamed"
        self.store.put(QUARANTINED + name, line.rstrip(b"\n") + b"\n# " + reason.encode() + b"\n")
        if source:
            self.store.delete(source)
        logger.warning("a spooled record was quarantined in %s: %s", self.store.describe(), reason)

    def replay_into(self, log: PredictionLog) -> None:
        """Every pending record written to ``log`` and then deleted, REPLAY_GROUP at a time; LogUnavailable
        leaves the rest pending."""
        keys = self.paths()
        for start in range(0, len(keys), REPLAY_GROUP):
            group: list[tuple[str, PredictionRecord]] = []
            for key in keys[start : start + REPLAY_GROUP]:
                try:
                    group.append((key, decode(self.store.get(key).rstrip(b"\n"))))
                except NotFound:  # another environment replayed it meanwhile
                    continue
                except DamagedRecord as exc:
                    self.quarantine(self._raw(key), str(exc), key)
            self._write(log, group)

    def _write(self, log: PredictionLog, group: list[tuple[str, PredictionRecord]]) -> None:
        try:
            log.write_many([record for _, record in group])
        except LogUnavailable:
            raise
        except Exception:  # noqa: BLE001 (one of them is refused for good, or a bug: find which, one by one)
            for key, record in group:
                try:
                    log.write(record)
                except LogUnavailable:
                    raise
                except Exception as exc:  # noqa: BLE001 (set it aside, go on with the others)
                    self.quarantine(encode(record), f"rejected by the log: {type(exc).__name__}: {exc}", key)
                    continue
                self.store.delete(key)
            return
        for key, _ in group:
            self.store.delete(key)

    def _raw(self, key: str) -> bytes:
        try:
            return self.store.get(key)
        except NotFound:
            return b""

    def _listed(self, prefix: str) -> list[str]:
        try:
            return sorted(self.store.list(prefix))
        except StoreUnavailable as exc:
            raise LogUnavailable(f"the spool in {self.store.describe()} cannot be listed: {exc}") from exc

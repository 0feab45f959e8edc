"""The Cassandra log's tables as its reads walk them: a day's slots, a slot's sixteen partitions merged
newest first, a day's labels, and the first schema's tables while they are not yet migrated."""

from __future__ import annotations

import heapq
import time
import uuid
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta

from service.predlog import layout
from service.predlog.base import PredictionRecord, created_at_of
from service.predlog.cql import Cql
from service.predlog.cql_connect import COUNTS
from service.predlog.rows import FIELDS, LIST_FIELDS, label_of, record_of, time_order

PAGE_SIZE = 500  # rows per page when a query walks a partition of narrow rows
EXPORT_PAGE_SIZE = 100  # small rows (no originals) from each of a slot's partitions at once
LEGACY_CHECK_SECONDS = 60  # how often the log looks again for the first schema's unmigrated tables
MAX_DAYS_BACK = 31
MAX_SCANNED = 100_000  # rows one "recent" request may read looking for low-confidence answers
CORRECTIONS_BUCKET = "all"
# the statements, {ks} standing for the keyspace
SLOTS = "SELECT slot FROM {ks}.slots WHERE day = ? AND slot >= 0 ORDER BY slot ASC"
NEWEST_SLOTS = "SELECT slot FROM {ks}.slots WHERE day = ? AND slot >= 0 ORDER BY slot DESC"
SLOT_ROWS = "SELECT {fields} FROM {ks}.predictions WHERE day = ? AND slot = ? AND shard = ?"
# no originals: an export never writes them, and they are most of a row's bytes
EXPORT_ROWS = SLOT_ROWS.replace("{fields}", LIST_FIELDS) + " ORDER BY id ASC"
ROW = SLOT_ROWS.replace("{fields}", FIELDS) + " AND id = ?"
LABELS = "SELECT id, label, labelled_at FROM {ks}.labels WHERE day = ?"
LABEL = LABELS + " AND id = ?"
WRITE_LABEL = "INSERT INTO {ks}.labels (day, id, label, labelled_at, digit, model_version) VALUES (?,?,?,?,?,?)"
WRITE_CORRECTION = (
    "INSERT INTO {ks}.corrections (bucket, id, label, digit, model_version, normalised) VALUES (?,?,?,?,?,?)"
)


class Tables:
    def __init__(self, cql: Cql, keyspace: str, stamp_margin: timedelta):
        self.cql = cql
        self.keyspace = keyspace
        self.stamp_margin = stamp_margin
        self._legacy_checked_at = -1e9
        self._legacy = None

    def q(self, text: str) -> str:
        return text.replace("{ks}", self.keyspace)

    def legacy(self):
        """The first schema's tables when they exist and are not yet copied (looked for now and then)."""
        if time.monotonic() - self._legacy_checked_at > LEGACY_CHECK_SECONDS:
            from service.predlog.legacy import LegacyTables

            self._legacy = LegacyTables.if_unmigrated(self.cql, self.keyspace)
            self._legacy_checked_at = time.monotonic()
        return self._legacy

    def slots(self, day: date, profile: str | None = None) -> list[int]:
        """The day's slots that hold rows, oldest first."""
        rows = self.cql.execute(self.q(SLOTS), (day,), PAGE_SIZE, profile)
        return [r.slot for r in self.cql.paged(rows)]

    def slot_rows(
        self, day: date, slot: int, fields: str, limit: int | None = None, profile: str | None = None
    ) -> Iterator:
        """Every row of a slot (or the newest ``limit`` of each shard), newest first: its partitions asked
        at once, merged as their pages arrive (a busy slot is never held whole)."""
        cql = SLOT_ROWS.replace("{fields}", fields)
        keys = [(day, slot, shard) for shard in range(layout.SHARDS)]
        if limit is not None:
            results = self.cql.execute_all(self.q(cql + " LIMIT ?"), [(*k, limit) for k in keys], profile=profile)
        else:
            results = self.cql.execute_all(self.q(cql), keys, fetch_size=PAGE_SIZE, profile=profile)
        return heapq.merge(*(self.cql.paged(r) for r in results), key=time_order, reverse=True)

    def labels(self, day: date) -> dict:
        """The day's corrections, id -> (label, labelled_at): one single-partition read."""
        rows = self.cql.execute(self.q(LABELS), (day,), fetch_size=PAGE_SIZE)
        return {r.id: (r.label, r.labelled_at) for r in self.cql.paged(rows)}

    def day_rows(self, day: date) -> Iterator:
        """Every row of a day, oldest first: slot by slot, each slot's partitions merged as they page."""
        cql = self.q(EXPORT_ROWS)
        for slot in self.slots(day):
            results = self.cql.execute_all(
                cql, [(day, slot, shard) for shard in range(layout.SHARDS)], fetch_size=EXPORT_PAGE_SIZE
            )
            yield from heapq.merge(*(self.cql.paged(r) for r in results), key=time_order)

    def ids_of_day(self, day: date) -> set:
        """Every prediction id of a day in these tables, read at LOCAL_QUORUM (what a migration checks by)."""
        slots = self.slots(day, profile=COUNTS)
        return {row.id for slot in slots for row in self.slot_rows(day, slot, "id", profile=COUNTS)}

    def stamp(self) -> int:
        """A rollup's write time (microseconds): before the reads it counts, by the stamp margin."""
        return (time.time_ns() // 1000) - self.stamp_margin // timedelta(microseconds=1)

    def get(self, prediction_id: str) -> PredictionRecord | None:
        """A record in these tables (not the first schema's), with its label."""
        pid = uuid.UUID(prediction_id)
        at = created_at_of(prediction_id)
        day = at.date()
        row = self.cql.execute(self.q(ROW), (day, layout.slot_of(at), layout.shard_of(pid), pid)).one()
        if row is None:
            return None
        label = self.cql.execute(self.q(LABEL), (day, pid)).one()
        return record_of(row, label_of(label))

    def recent(self, limit: int, max_confidence: float | None = None) -> list[PredictionRecord]:
        """The newest records in these tables (not the first schema's): newest slots first (the slots table
        says which hold rows; every day's list is asked at once); the low-confidence filter is applied while
        reading them, over at most MAX_SCANNED rows."""
        found: list[PredictionRecord] = []
        today = datetime.now(UTC).date()
        days = [today - timedelta(days=back) for back in range(MAX_DAYS_BACK)]
        slot_lists = self.cql.execute_all(self.q(NEWEST_SLOTS), [(d,) for d in days], fetch_size=PAGE_SIZE)
        scanned = 0
        for day, slots in zip(days, slot_lists, strict=True):
            labels = None
            for slot in [r.slot for r in self.cql.paged(slots)]:
                for row in self.slot_rows(day, slot, LIST_FIELDS, limit if max_confidence is None else None):
                    scanned += 1
                    if scanned > MAX_SCANNED:
                        return found
                    if max_confidence is not None and row.confidence >= max_confidence:
                        continue
                    if labels is None:
                        labels = self.labels(day)
                    found.append(record_of(row, labels))
                    if len(found) >= limit:
                        return found
        return found

    def write_label(self, record: PredictionRecord, label: int, at: datetime) -> None:
        """A person's correction: beside the day's rows (for the day's figures) and in the corrections list."""
        pid = uuid.UUID(record.id)
        self.cql.execute(
            self.q(WRITE_LABEL), (created_at_of(record.id).date(), pid, label, at, record.digit, record.model_version)
        )
        self.cql.execute(
            self.q(WRITE_CORRECTION),
            (CORRECTIONS_BUCKET, pid, label, record.digit, record.model_version, record.normalised),
        )

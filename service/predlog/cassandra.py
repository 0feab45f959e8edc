"""Cassandra prediction log (Apache Cassandra, ScyllaDB, Amazon Keyspaces).

Rows live in (day, slot, shard) partitions (``service.predlog.layout``; why: docs/scaling.md). A keyspace
that still holds the first schema's day partitions is read too (``legacy``) until
``python -m service log migrate`` has copied them.
"""

from __future__ import annotations

import heapq
import uuid
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta

from service import cassandra_url
from service.errors import LogUnavailable
from service.predlog import layout
from service.predlog.base import Correction, PredictionRecord, StatsRow, created_at_of, days_between
from service.predlog.cassandra_schema import SchemaError, apply_schema, ensure_schema, schema_statements
from service.predlog.cassandra_stats import Statistics
from service.predlog.cassandra_tables import CORRECTIONS_BUCKET, PAGE_SIZE, Tables
from service.predlog.cql import CassandraAuthError, Cql
from service.predlog.rows import FIELDS, record_of

__all__ = ["CassandraAuthError", "CassandraPredictionLog", "SchemaError", "schema_statements"]

# A kept rollup is stamped this much before its reads began: a late write's clearing, stamped by another
# host's clock, still wins when that clock is behind (the cost: now and then a count made again).
STAMP_MARGIN = timedelta(seconds=30)


def row_of(record: PredictionRecord) -> tuple:
    """A record as the predictions table's bound values: its partition (from its id alone), then its fields."""
    from cassandra.query import UNSET_VALUE

    def unset(value):  # an absent value writes no cell, where None writes a tombstone
        return UNSET_VALUE if value is None else value

    pid = uuid.UUID(record.id)
    at = created_at_of(record.id)
    return (
        at.date(),
        layout.slot_of(at),
        layout.shard_of(pid),
        pid,
        record.filename,
        record.content_type,
        record.digit,
        record.confidence,
        record.probabilities,
        record.model_version,
        record.latency_ms,
        record.normalised,
        unset(record.image),
        unset(record.image_key),
        record.image_size,
        unset(record.request_id),
    )


class CassandraPredictionLog:
    def __init__(
        self,
        url: str,
        username: str | None,
        password: str | None,
        consistency: str,
        local_dc: str = "datacenter1",
        tls_ca: str | None = None,
        protocol_version: int | None = None,
        stamp_margin: timedelta = STAMP_MARGIN,
    ):
        parsed = cassandra_url.parse(url)
        login = (username, password or "") if username else None
        cql = Cql(parsed, login, consistency, local_dc, tls_ca, protocol_version)
        self.tables = Tables(cql, parsed.keyspace, stamp_margin)
        self.statistics = Statistics(self.tables)

    @property
    def cql(self) -> Cql:
        return self.tables.cql

    @property
    def keyspace(self) -> str:
        return self.tables.keyspace

    @property
    def last_error(self) -> str | None:
        return self.cql.last_error

    def ensure_schema(self) -> None:
        ensure_schema(self.tables, self.describe())

    def apply_schema(self, replication: dict[str, int] | None = None) -> None:
        apply_schema(self.tables, self.describe(), replication)

    def legacy(self):
        return self.tables.legacy()

    _INSERT = "INSERT INTO {ks}.predictions (day, slot, shard, " + FIELDS + ") VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)"

    def write(self, record: PredictionRecord) -> None:
        self.write_many([record])

    def write_many(self, records: list[PredictionRecord]) -> None:
        """The rows and their slots (at most IN_FLIGHT statements at a time). A slot that has ended has its
        rollup cleared, and only after the rows are written: a reader that counted before they were visible
        then loses (its rollup carries the time it started counting). Open slots go with their rows."""
        if not records:
            return
        from cassandra.query import UNSET_VALUE

        rows = [self.cql.bind(self.tables.q(self._INSERT), row_of(r)) for r in records]
        now = datetime.now(UTC)
        times = [created_at_of(r.id) for r in records]  # where a row lives follows from its id alone
        slots = sorted({(at.date(), layout.slot_of(at)) for at in times})
        ended = [(d, s) for d, s in slots if layout.slot_end(d, s) <= now]
        mark = self.tables.q("INSERT INTO {ks}.slots (day, slot, rollup) VALUES (?,?,?)")
        open_slots = [self.cql.bind(mark, (d, s, UNSET_VALUE)) for d, s in slots if (d, s) not in ended]
        self.cql.execute_bound(rows + open_slots, max(len(r.normalised) + len(r.image or b"") for r in records))
        if ended:  # and the whole day's rollup of each day they are in (a cell deleted: no row is made)
            forget = self.tables.q("DELETE rollup FROM {ks}.slots WHERE day = ? AND slot = ?")
            whole_days = sorted({(d, layout.WHOLE_DAY) for d, _ in ended})
            self.cql.execute_bound(
                [self.cql.bind(mark, (d, s, None)) for d, s in ended]
                + [self.cql.bind(forget, key) for key in whole_days]
            )

    def get(self, prediction_id: str) -> PredictionRecord | None:
        found = self.tables.get(prediction_id)
        legacy = self.tables.legacy() if found is None else None
        return legacy.get(prediction_id) if legacy is not None else found

    def recent(self, limit: int, max_confidence: float | None = None) -> list[PredictionRecord]:
        return self._with_legacy_recent(self.tables.recent(limit, max_confidence), limit, max_confidence)

    def _with_legacy_recent(self, found: list, limit: int, max_confidence: float | None) -> list[PredictionRecord]:
        legacy = self.tables.legacy()
        if legacy is None:
            return found
        ids = {r.id for r in found}
        older = [r for r in legacy.recent(limit, max_confidence) if r.id not in ids]
        return sorted([*found, *older], key=lambda r: (r.created_at, r.id), reverse=True)[:limit]

    def set_label(self, prediction_id: str, label: int, at: datetime) -> PredictionRecord | None:
        record = self.tables.get(prediction_id)
        legacy = self.tables.legacy() if record is None else None
        if legacy is not None:
            record = legacy.get(prediction_id)
            if record is not None:  # copied first: corrections are made to the new tables only
                self.write_many([record])
        if record is None:
            return None
        self.tables.write_label(record, label, at)
        return record.with_label(label, at)

    def corrections(self) -> Iterator[Correction]:
        rows = self.cql.execute(
            self.tables.q("SELECT id, label, digit, model_version, normalised FROM {ks}.corrections WHERE bucket = ?"),
            (CORRECTIONS_BUCKET,),
            fetch_size=PAGE_SIZE,
        )
        for r in self.cql.paged(rows):
            yield Correction(str(r.id), r.normalised, r.label, r.digit, r.model_version)

    def stats(self, first: date, last: date, low_below: float) -> list[StatsRow]:
        return self.statistics.stats(first, last, low_below)

    def recount(self, first: date, last: date, low_below: float) -> list[StatsRow]:
        return self.statistics.recount(first, last, low_below)

    def ids_of_day(self, day: date) -> set:
        return self.tables.ids_of_day(day)

    def export(self, first: date, last: date) -> Iterator[PredictionRecord]:
        legacy = self.tables.legacy()
        for day in days_between(first, last):
            labels = self.tables.labels(day)
            rows = self.tables.day_rows(day)
            if legacy is not None and legacy.has_day(day):
                copied = self.ids_of_day(day)
                older = legacy.day_records(day, skip=copied, originals=False)
                yield from heapq.merge((record_of(r, labels) for r in rows), older, key=lambda r: (r.created_at, r.id))
            else:
                yield from (record_of(r, labels) for r in rows)

    def ping(self) -> bool:
        """True when today's slots answer: the partition every upload of the day writes beside its row."""
        try:
            self.cql.execute(
                self.tables.q("SELECT slot FROM {ks}.slots WHERE day = ? LIMIT 1"), (datetime.now(UTC).date(),)
            )
            self.cql.last_error = None
            return True
        except LogUnavailable as exc:
            self.cql.last_error = str(exc)
            return False

    def describe(self) -> str:
        return f"cassandra://{self.cql.where}/{self.keyspace}"

    def close(self) -> None:
        self.cql.close()

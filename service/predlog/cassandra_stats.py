"""The Cassandra log's per-day figures: kept rollups where they are valid, rows counted where they are not
(and the rollup of each ended slot and day kept for the next reader), and the day's corrections."""

from __future__ import annotations

import heapq
from collections.abc import Callable
from datetime import UTC, date, datetime, timedelta

from service.predlog import layout, rollup
from service.predlog.base import StatsRow, days_between
from service.predlog.cassandra_tables import PAGE_SIZE, Tables
from service.predlog.cql_connect import COUNTS
from service.predlog.rows import COUNT_FIELDS, time_order

COUNT_SLOTS_AT_ONCE = 16  # slots whose reads are sent together when counting
# A slot is counted for good only this long after it ended: a write whose id was taken inside the slot has
# finished by then (or failed, and its replay clears the rollup again).
ROLLUP_GRACE = timedelta(minutes=1)
_KEEP = "UPDATE {ks}.slots USING TIMESTAMP ? SET rollup = ? WHERE day = ? AND slot = ?"


def _rollup_of(row) -> str | None:
    return row.rollup if row is not None else None


class Statistics:
    def __init__(self, tables: Tables, clock: Callable[[], datetime] = lambda: datetime.now(UTC)):
        """``clock``: when a slot or a day has ended for good (tests set it to either side of that moment)."""
        self.tables = tables
        self.clock = clock

    def stats(self, first: date, last: date, low_below: float) -> list[StatsRow]:
        """Per day: the day's rollup once the day has ended, else the rollups of its slots (those without one
        counted together by ``_count``), and the day's labels, which carry the answer they correct. Every
        day's reads go out at once."""
        t, cql = self.tables, self.tables.cql
        days = days_between(first, last)
        started = t.stamp()
        whole = cql.execute_all(
            t.q("SELECT rollup FROM {ks}.slots WHERE day = ? AND slot = ?"),
            [(d, layout.WHOLE_DAY) for d in days],
            profile=COUNTS,
        )
        kept_days = {d: rollup.decode(_rollup_of(rows.one()), low_below) for d, rows in zip(days, whole, strict=True)}
        groups = {d: counts for d, counts in kept_days.items() if counts is not None}
        open_days = [d for d in days if d not in groups]
        slot_rows = cql.execute_all(
            t.q("SELECT slot, rollup FROM {ks}.slots WHERE day = ? AND slot >= 0"),
            [(d,) for d in open_days],
            fetch_size=PAGE_SIZE,
            profile=COUNTS,
        )
        slots = {day: [(s.slot, rollup.decode(s.rollup, low_below)) for s in cql.paged(rows)]
                 for day, rows in zip(open_days, slot_rows, strict=True)}  # fmt: skip
        counted = self._count([(d, s) for d in open_days for s, kept in slots[d] if kept is None], low_below)
        ended = self.clock() - ROLLUP_GRACE
        for day in open_days:
            day_groups: dict[rollup.Group, rollup.Counts] = {}
            for slot, kept in slots[day]:
                rollup.merge(day_groups, kept if kept is not None else counted[(day, slot)])
            groups[day] = day_groups
            if layout.slot_end(day, layout.SLOTS_PER_DAY - 1) <= ended:
                cql.execute(t.q(_KEEP), (started, rollup.encode(day_groups, low_below), day, layout.WHOLE_DAY))
        return self._with_labels(days, groups, low_below)

    def _with_labels(
        self, days: list[date], groups: dict[date, dict[rollup.Group, rollup.Counts]], low_below: float
    ) -> list[StatsRow]:
        t, cql = self.tables, self.tables.cql
        label_rows = cql.execute_all(
            t.q("SELECT digit, model_version, label FROM {ks}.labels WHERE day = ?"),
            [(d,) for d in days],
            fetch_size=PAGE_SIZE,
        )
        legacy = t.legacy()
        result: list[StatsRow] = []
        for day, labels in zip(days, label_rows, strict=True):
            if legacy is not None and legacy.has_day(day):
                result.extend(legacy.stats_day(day, low_below, t.ids_of_day(day)))
            corrected = rollup.corrections((r.model_version, r.digit, r.label) for r in cql.paged(labels))
            result.extend(rollup.stats_rows(day.isoformat(), groups[day], corrected))
        return result

    def _count(self, slots: list[tuple[date, int]], low_below: float) -> dict[tuple[date, int], dict]:
        """Slots counted from their rows, many partitions in flight at once; the rollup of each that has ended
        is kept, stamped with the moment its reads began."""
        t, cql = self.tables, self.tables.cql
        counted: dict[tuple[date, int], dict] = {}
        select = t.q(f"SELECT {COUNT_FIELDS} FROM {{ks}}.predictions WHERE day = ? AND slot = ? AND shard = ?")
        for start in range(0, len(slots), COUNT_SLOTS_AT_ONCE):
            chunk = slots[start : start + COUNT_SLOTS_AT_ONCE]
            started = t.stamp()
            keys = [(d, s, shard) for d, s in chunk for shard in range(layout.SHARDS)]
            results = iter(cql.execute_all(select, keys, fetch_size=PAGE_SIZE, profile=COUNTS))
            ended = self.clock() - ROLLUP_GRACE
            kept = []
            for day, slot in chunk:
                shards = [cql.paged(next(results)) for _ in range(layout.SHARDS)]
                rows = heapq.merge(*shards, key=time_order, reverse=True)  # recount's order: the same sums
                counted[(day, slot)] = rollup.count(rows, low_below)
                if layout.slot_end(day, slot) <= ended:
                    kept.append((started, rollup.encode(counted[(day, slot)], low_below), day, slot))
            cql.execute_all(t.q(_KEEP), kept)
        return counted

    def recount(self, first: date, last: date, low_below: float) -> list[StatsRow]:
        """The same as ``stats`` from every row, no rollup read or kept: what tests and operators check it by."""
        t = self.tables
        result: list[StatsRow] = []
        for day in days_between(first, last):
            groups: dict[rollup.Group, rollup.Counts] = {}
            labels = t.labels(day)
            labelled = []
            for slot in t.slots(day):
                rows = list(t.slot_rows(day, slot, COUNT_FIELDS))
                rollup.merge(groups, rollup.count(rows, low_below))
                labelled += [(r.model_version, r.digit, labels[r.id][0]) for r in rows if r.id in labels]
            result.extend(rollup.stats_rows(day.isoformat(), groups, rollup.corrections(labelled)))
        return result

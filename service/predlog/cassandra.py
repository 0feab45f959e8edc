"""Cassandra prediction log (Apache Cassandra, ScyllaDB, Amazon Keyspaces).

Rows live in (day, slot, shard) partitions (``service.predlog.layout``; why: docs/scaling.md). A keyspace
that still holds the first schema's day partitions is read too (``legacy``) until
``python -m service log migrate`` has copied them.
"""

from __future__ import annotations

import heapq
import re
import time
import uuid
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from urllib.parse import urlparse

from service.errors import LogUnavailable, ServiceError
from service.predlog import layout, rollup
from service.predlog.base import Correction, PredictionRecord, StatsRow, created_at_of, days_between
from service.predlog.cql import COUNTS, CassandraAuthError, Cql, unavailability
from service.predlog.rows import COUNT_FIELDS, FIELDS, LIST_FIELDS, label_of, record_of, time_order

__all__ = ["CassandraAuthError", "CassandraPredictionLog", "schema_statements"]

SCHEMA_FILE = Path(__file__).resolve().parent / "schema.cql"
SCHEMA_VERSION = 2  # the first schema (schema_v1.cql) kept a day in one partition
MAX_DAYS_BACK = 31
MAX_SCANNED = 100_000  # rows one "recent" request may read looking for low-confidence answers
PAGE_SIZE = 500  # rows per page when a query walks a partition of narrow rows
COUNT_SLOTS_AT_ONCE = 16  # slots (of 16 partitions each) whose reads are sent together when counting
EXPORT_PAGE_SIZE = 100  # small rows (no originals) from each of a slot's partitions at once
CORRECTIONS_BUCKET = "all"
# A slot is counted for good only this long after it ended: a write whose id was taken inside the slot has
# finished by then (or failed, and its replay clears the rollup again).
ROLLUP_GRACE = timedelta(minutes=1)
# A kept rollup is stamped this much before its reads began: a late write's clearing, stamped by another
# host's clock, still wins when that clock is behind (the cost: now and then a count made again).
STAMP_MARGIN = timedelta(seconds=30)


class SchemaError(ServiceError):
    """The schema cannot be applied as asked (a keyspace to create with no replication given)."""


def _rollup_of(row) -> str | None:
    return row.rollup if row is not None else None


def schema_statements(keyspace: str, file: Path = SCHEMA_FILE) -> list[str]:
    """The statements of a .cql file, for ``keyspace``, comments removed."""
    text = re.sub(r"--[^\n]*", "", file.read_text())
    text = re.sub(r"\bdigits\b", keyspace, text)
    return [" ".join(s.split()) for s in text.split(";") if s.strip()]


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
        parsed = urlparse(url)
        self.stamp_margin = stamp_margin
        self.hosts = [h for h in (parsed.netloc.rsplit("@", 1)[-1].split(":")[0]).split(",") if h]
        self.port = parsed.port or 9042
        self.keyspace = parsed.path.strip("/") or "digits"
        login = (username, password or "") if username else None
        self.cql = Cql(self.hosts, self.port, login, consistency, local_dc, tls_ca, protocol_version)
        self._legacy_checked_at = -1e9
        self._legacy = None

    @property
    def last_error(self) -> str | None:
        return self.cql.last_error

    def _q(self, text: str) -> str:
        return text.replace("{ks}", self.keyspace)

    def ensure_schema(self) -> None:
        """Check that ``log schema apply`` has run here: the functions never change a schema themselves
        (concurrent DDL from many processes is how tables end up with disagreeing ids)."""
        try:
            row = self.cql.execute(
                self._q("SELECT value FROM {ks}.log_state WHERE name = ?"), ("schema_version",)
            ).one()
            version = int(row.value) if row is not None else 0
        except LogUnavailable as exc:
            if "does not exist" not in str(exc) and "unconfigured table" not in str(exc):
                raise
            version = 0
        if version < SCHEMA_VERSION:
            raise LogUnavailable(
                f"{self.describe()} has no prediction-log schema (version {SCHEMA_VERSION}): run "
                "`python -m service log schema apply` once for this keyspace"
            )

    def apply_schema(self, replication: dict[str, int] | None = None) -> None:
        """Create the keyspace when it is missing and ``replication`` (data centre -> replicas) is given, then
        every table (idempotently), wait until the nodes agree, and record the version."""
        session = self.cql.session()
        try:
            if not self.cql.has_keyspace(self.keyspace):
                if not replication:
                    raise SchemaError(
                        f"keyspace {self.keyspace!r} does not exist on {self.describe()}: create it "
                        "(NetworkTopologyStrategy, three replicas in each data centre) or pass --replication DC:N"
                    )
                places = ", ".join(f"'{dc}': {n}" for dc, n in replication.items())
                session.execute(
                    f"CREATE KEYSPACE IF NOT EXISTS {self.keyspace} WITH replication = "
                    f"{{'class': 'NetworkTopologyStrategy', {places}}}",
                    timeout=60,
                )
            for statement in schema_statements(self.keyspace):
                session.execute(statement, timeout=60)
            if not session.cluster.control_connection.wait_for_schema_agreement(wait_time=120):
                raise LogUnavailable(f"the nodes of {self.describe()} do not agree on the schema yet: run it again")
        except unavailability() as exc:
            raise LogUnavailable(f"cannot apply the schema on {self.describe()}: {exc}") from exc
        self.cql.execute(
            self._q("INSERT INTO {ks}.log_state (name, value) VALUES (?, ?)"), ("schema_version", str(SCHEMA_VERSION))
        )

    # -- the first schema, read until migrated ---------------------------------------------------------------

    def legacy(self):
        """The first schema's tables when they exist and are not yet copied (checked once a minute)."""
        if time.monotonic() - self._legacy_checked_at > 60:
            from service.predlog.legacy import LegacyTables

            self._legacy = LegacyTables.if_unmigrated(self.cql, self.keyspace)
            self._legacy_checked_at = time.monotonic()
        return self._legacy

    # -- writes ---------------------------------------------------------------------------------------------

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

        rows = [self.cql.bind(self._q(self._INSERT), self._row(r)) for r in records]
        now = datetime.now(UTC)
        times = [created_at_of(r.id) for r in records]  # where a row lives follows from its id alone
        slots = sorted({(at.date(), layout.slot_of(at)) for at in times})
        ended = [(d, s) for d, s in slots if layout.slot_end(d, s) <= now]
        mark = self._q("INSERT INTO {ks}.slots (day, slot, rollup) VALUES (?,?,?)")
        open_slots = [self.cql.bind(mark, (d, s, UNSET_VALUE)) for d, s in slots if (d, s) not in ended]
        self.cql.execute_bound(rows + open_slots, max(len(r.normalised) + len(r.image or b"") for r in records))
        if ended:  # and the whole day's rollup of each day they are in (a cell deleted: no row is made)
            forget = self._q("DELETE rollup FROM {ks}.slots WHERE day = ? AND slot = ?")
            whole_days = sorted({(d, layout.WHOLE_DAY) for d, _ in ended})
            self.cql.execute_bound(
                [self.cql.bind(mark, (d, s, None)) for d, s in ended]
                + [self.cql.bind(forget, key) for key in whole_days]
            )

    @staticmethod
    def _row(record: PredictionRecord) -> tuple:
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

    # -- reads ----------------------------------------------------------------------------------------------

    _SLOTS = "SELECT slot FROM {ks}.slots WHERE day = ? AND slot >= 0 ORDER BY slot "

    def _slots(self, day: date, newest_first: bool = True, profile: str | None = None) -> list[int]:
        order = "DESC" if newest_first else "ASC"
        rows = self.cql.execute(self._q(self._SLOTS + order), (day,), PAGE_SIZE, profile)
        return [r.slot for r in self.cql.paged(rows)]

    def _slot_rows(
        self, day: date, slot: int, fields: str, limit: int | None = None, profile: str | None = None
    ) -> Iterator:
        """Every row of a slot (or the newest ``limit`` of each shard), newest first: its 16 partitions asked
        at once, merged as their pages arrive (a busy slot is never held whole)."""
        cql = f"SELECT {fields} FROM {{ks}}.predictions WHERE day = ? AND slot = ? AND shard = ?"
        keys = [(day, slot, shard) for shard in range(layout.SHARDS)]
        if limit is not None:
            results = self.cql.execute_all(self._q(cql + " LIMIT ?"), [(*k, limit) for k in keys], profile=profile)
        else:
            results = self.cql.execute_all(self._q(cql), keys, fetch_size=PAGE_SIZE, profile=profile)
        return heapq.merge(*(self.cql.paged(r) for r in results), key=time_order, reverse=True)

    def _labels(self, day: date) -> dict:
        """The day's corrections, id -> (label, labelled_at): one single-partition read."""
        rows = self.cql.execute(
            self._q("SELECT id, label, labelled_at FROM {ks}.labels WHERE day = ?"), (day,), fetch_size=PAGE_SIZE
        )
        return {r.id: (r.label, r.labelled_at) for r in self.cql.paged(rows)}

    def _get(self, prediction_id: str) -> PredictionRecord | None:
        pid = uuid.UUID(prediction_id)
        at = created_at_of(prediction_id)
        day = at.date()
        row = self.cql.execute(
            self._q(f"SELECT {FIELDS} FROM {{ks}}.predictions WHERE day = ? AND slot = ? AND shard = ? AND id = ?"),
            (day, layout.slot_of(at), layout.shard_of(pid), pid),
        ).one()
        if row is None:
            return None
        label = self.cql.execute(
            self._q("SELECT id, label, labelled_at FROM {ks}.labels WHERE day = ? AND id = ?"), (day, pid)
        ).one()
        return record_of(row, label_of(label))

    def get(self, prediction_id: str) -> PredictionRecord | None:
        found = self._get(prediction_id)
        legacy = self.legacy() if found is None else None
        return legacy.get(prediction_id) if legacy is not None else found

    def recent(self, limit: int, max_confidence: float | None = None) -> list[PredictionRecord]:
        """Newest slots first (the slots table says which hold rows; every day's list is asked at once); the
        low-confidence filter is applied while reading them, over at most MAX_SCANNED rows."""
        found: list[PredictionRecord] = []
        today = datetime.now(UTC).date()
        days = [today - timedelta(days=back) for back in range(MAX_DAYS_BACK)]
        slot_lists = self.cql.execute_all(self._q(self._SLOTS + "DESC"), [(d,) for d in days], fetch_size=PAGE_SIZE)
        scanned = 0
        for day, slots in zip(days, slot_lists, strict=True):
            labels = None
            for slot in [r.slot for r in self.cql.paged(slots)]:
                for row in self._slot_rows(day, slot, LIST_FIELDS, limit if max_confidence is None else None):
                    scanned += 1
                    if scanned > MAX_SCANNED:
                        return self._with_legacy_recent(found, limit, max_confidence)
                    if max_confidence is not None and row.confidence >= max_confidence:
                        continue
                    if labels is None:
                        labels = self._labels(day)
                    found.append(record_of(row, labels))
                    if len(found) >= limit:
                        return self._with_legacy_recent(found, limit, max_confidence)
        return self._with_legacy_recent(found, limit, max_confidence)

    def _with_legacy_recent(self, found: list, limit: int, max_confidence: float | None) -> list[PredictionRecord]:
        legacy = self.legacy()
        if legacy is None:
            return found
        ids = {r.id for r in found}
        older = [r for r in legacy.recent(limit, max_confidence) if r.id not in ids]
        return sorted([*found, *older], key=lambda r: (r.created_at, r.id), reverse=True)[:limit]

    def set_label(self, prediction_id: str, label: int, at: datetime) -> PredictionRecord | None:
        record = self._get(prediction_id)
        legacy = self.legacy() if record is None else None
        if legacy is not None:
            record = legacy.get(prediction_id)
            if record is not None:  # copied first: corrections are made to the new tables only
                self.write_many([record])
        if record is None:
            return None
        pid = uuid.UUID(prediction_id)
        self.cql.execute(
            self._q("INSERT INTO {ks}.labels (day, id, label, labelled_at, digit, model_version) VALUES (?,?,?,?,?,?)"),
            (created_at_of(prediction_id).date(), pid, label, at, record.digit, record.model_version),
        )
        self.cql.execute(
            self._q(
                "INSERT INTO {ks}.corrections (bucket, id, label, digit, model_version, normalised) "
                "VALUES (?,?,?,?,?,?)"
            ),
            (CORRECTIONS_BUCKET, pid, label, record.digit, record.model_version, record.normalised),
        )
        return record.with_label(label, at)

    def corrections(self) -> Iterator[Correction]:
        rows = self.cql.execute(
            self._q("SELECT id, label, digit, model_version, normalised FROM {ks}.corrections WHERE bucket = ?"),
            (CORRECTIONS_BUCKET,),
            fetch_size=PAGE_SIZE,
        )
        for r in self.cql.paged(rows):
            yield Correction(str(r.id), r.normalised, r.label, r.digit, r.model_version)

    # -- statistics -----------------------------------------------------------------------------------------

    def stats(self, first: date, last: date, low_below: float) -> list[StatsRow]:
        """Per day: the day's rollup once the day has ended, else the rollups of its slots (those without one
        counted together by ``_count``), and the day's labels, which carry the answer they correct. Every
        day's reads go out at once."""
        days = days_between(first, last)
        started = self._stamp()
        whole = self.cql.execute_all(
            self._q("SELECT rollup FROM {ks}.slots WHERE day = ? AND slot = ?"),
            [(d, layout.WHOLE_DAY) for d in days],
            profile=COUNTS,
        )
        kept_days = {d: rollup.decode(_rollup_of(rows.one()), low_below) for d, rows in zip(days, whole, strict=True)}
        groups = {d: counts for d, counts in kept_days.items() if counts is not None}
        open_days = [d for d in days if d not in groups]
        slot_rows = self.cql.execute_all(
            self._q("SELECT slot, rollup FROM {ks}.slots WHERE day = ? AND slot >= 0"),
            [(d,) for d in open_days],
            fetch_size=PAGE_SIZE,
            profile=COUNTS,
        )
        slots = {day: [(s.slot, rollup.decode(s.rollup, low_below)) for s in self.cql.paged(rows)]
                 for day, rows in zip(open_days, slot_rows, strict=True)}  # fmt: skip
        counted = self._count([(d, s) for d in open_days for s, kept in slots[d] if kept is None], low_below)
        ended = datetime.now(UTC) - ROLLUP_GRACE
        for day in open_days:
            day_groups: dict[rollup.Group, rollup.Counts] = {}
            for slot, kept in slots[day]:
                rollup.merge(day_groups, kept if kept is not None else counted[(day, slot)])
            groups[day] = day_groups
            if layout.slot_end(day, layout.SLOTS_PER_DAY - 1) <= ended:
                self.cql.execute(
                    self._q("UPDATE {ks}.slots USING TIMESTAMP ? SET rollup = ? WHERE day = ? AND slot = ?"),
                    (started, rollup.encode(day_groups, low_below), day, layout.WHOLE_DAY),
                )
        return self._with_labels(days, groups, low_below)

    def _with_labels(
        self, days: list[date], groups: dict[date, dict[rollup.Group, rollup.Counts]], low_below: float
    ) -> list[StatsRow]:
        label_rows = self.cql.execute_all(
            self._q("SELECT digit, model_version, label FROM {ks}.labels WHERE day = ?"),
            [(d,) for d in days],
            fetch_size=PAGE_SIZE,
        )
        legacy = self.legacy()
        result: list[StatsRow] = []
        for day, labels in zip(days, label_rows, strict=True):
            if legacy is not None and legacy.has_day(day):
                result.extend(legacy.stats_day(day, low_below, self.ids_of_day(day)))
            corrected = rollup.corrections((r.model_version, r.digit, r.label) for r in self.cql.paged(labels))
            result.extend(rollup.stats_rows(day.isoformat(), groups[day], corrected))
        return result

    def _count(self, slots: list[tuple[date, int]], low_below: float) -> dict[tuple[date, int], dict]:
        """Slots counted from their rows, many partitions in flight at once; the rollup of each that has ended
        is kept, stamped with the moment its reads began."""
        counted: dict[tuple[date, int], dict] = {}
        cql = self._q(f"SELECT {COUNT_FIELDS} FROM {{ks}}.predictions WHERE day = ? AND slot = ? AND shard = ?")
        keep = self._q("UPDATE {ks}.slots USING TIMESTAMP ? SET rollup = ? WHERE day = ? AND slot = ?")
        for start in range(0, len(slots), COUNT_SLOTS_AT_ONCE):
            chunk = slots[start : start + COUNT_SLOTS_AT_ONCE]
            started = self._stamp()
            keys = [(d, s, shard) for d, s in chunk for shard in range(layout.SHARDS)]
            results = iter(self.cql.execute_all(cql, keys, fetch_size=PAGE_SIZE, profile=COUNTS))
            ended = datetime.now(UTC) - ROLLUP_GRACE
            kept = []
            for day, slot in chunk:
                shards = [self.cql.paged(next(results)) for _ in range(layout.SHARDS)]
                rows = heapq.merge(*shards, key=time_order, reverse=True)  # recount's order: the same sums
                counted[(day, slot)] = rollup.count(rows, low_below)
                if layout.slot_end(day, slot) <= ended:
                    kept.append((started, rollup.encode(counted[(day, slot)], low_below), day, slot))
            self.cql.execute_all(keep, kept)
        return counted

    def ids_of_day(self, day: date) -> set:
        """Every prediction id of a day in these tables, read at LOCAL_QUORUM (what a migration checks by)."""
        slots = self._slots(day, profile=COUNTS)
        return {row.id for slot in slots for row in self._slot_rows(day, slot, "id", profile=COUNTS)}

    def recount(self, first: date, last: date, low_below: float) -> list[StatsRow]:
        """The same as ``stats`` from every row, no rollup read or kept: what tests and operators check it by."""
        result: list[StatsRow] = []
        for day in days_between(first, last):
            groups: dict[rollup.Group, rollup.Counts] = {}
            labels = self._labels(day)
            labelled = []
            for slot in self._slots(day):
                rows = list(self._slot_rows(day, slot, COUNT_FIELDS))
                rollup.merge(groups, rollup.count(rows, low_below))
                labelled += [(r.model_version, r.digit, labels[r.id][0]) for r in rows if r.id in labels]
            result.extend(rollup.stats_rows(day.isoformat(), groups, rollup.corrections(labelled)))
        return result

    # -- export ---------------------------------------------------------------------------------------------

    def export(self, first: date, last: date) -> Iterator[PredictionRecord]:
        legacy = self.legacy()
        for day in days_between(first, last):
            labels = self._labels(day)
            rows = self._day_rows(day)
            if legacy is not None and legacy.has_day(day):
                copied = self.ids_of_day(day)
                older = legacy.day_records(day, skip=copied, originals=False)
                yield from heapq.merge((record_of(r, labels) for r in rows), older, key=lambda r: (r.created_at, r.id))
            else:
                yield from (record_of(r, labels) for r in rows)

    def _day_rows(self, day: date) -> Iterator:
        """Every row of a day, oldest first: slot by slot, each slot's 16 partitions merged as they page."""
        cql = self._q(  # no originals: an export never writes them, and they are most of a row's bytes
            f"SELECT {LIST_FIELDS} FROM {{ks}}.predictions WHERE day = ? AND slot = ? AND shard = ? ORDER BY id ASC"
        )
        for slot in self._slots(day, newest_first=False):
            results = self.cql.execute_all(
                cql, [(day, slot, shard) for shard in range(layout.SHARDS)], fetch_size=EXPORT_PAGE_SIZE
            )
            yield from heapq.merge(*(self.cql.paged(r) for r in results), key=time_order)

    # -- health ---------------------------------------------------------------------------------------------

    def _stamp(self) -> int:
        """A rollup's write time (microseconds): before the reads it counts, by the stamp margin."""
        return (time.time_ns() // 1000) - self.stamp_margin // timedelta(microseconds=1)

    def ping(self) -> bool:
        """True when today's slots answer: the partition every upload of the day writes beside its row."""
        try:
            self.cql.execute(self._q("SELECT slot FROM {ks}.slots WHERE day = ? LIMIT 1"), (datetime.now(UTC).date(),))
            self.cql.last_error = None
            return True
        except LogUnavailable as exc:
            self.cql.last_error = str(exc)
            return False

    def describe(self) -> str:
        return f"cassandra://{','.join(self.hosts)}:{self.port}/{self.keyspace}"

    def close(self) -> None:
        self.cql.close()

"""The first schema's day-keyed tables (schema_v1.cql), read until ``python -m service log migrate`` has
copied them into the current ones, and the copy itself."""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

from service.predlog import rollup
from service.predlog.base import PredictionRecord, StatsRow, created_at_of
from service.predlog.cql import Cql
from service.predlog.rows import COUNT_FIELDS, FIELDS, LIST_FIELDS, label_of, record_of

SCHEMA_V1 = Path(__file__).resolve().parent / "schema_v1.cql"
MIGRATED = "first_schema"  # log_state's name for "the day-keyed tables are copied"
MAX_DAYS_BACK = 31
PAGE_SIZE = 500
ORIGINALS_PAGE_SIZE = 16  # the first schema inlined large originals: a page must stay small
COPY_GROUP = 200  # records written together by the migration


class LegacyTables:
    def __init__(self, cql: Cql, keyspace: str, profile: str | None = None):
        self.cql, self.keyspace = cql, keyspace
        self.profile = profile  # the migration reads every replica: the first schema allowed writes at ONE
        self._days: dict[date, bool] = {}

    @classmethod
    def if_unmigrated(cls, cql: Cql, keyspace: str) -> LegacyTables | None:
        if not cql.has_table(keyspace, "predictions_by_day"):
            return None
        state = cql.execute(f"SELECT value FROM {keyspace}.log_state WHERE name = ?", (MIGRATED,)).one()
        return None if state is not None and state.value == "migrated" else cls(cql, keyspace)

    def _q(self, text: str) -> str:
        return text.replace("{ks}", self.keyspace)

    def _labels(self, day: date) -> dict:
        rows = self.cql.execute(
            self._q("SELECT id, label, labelled_at FROM {ks}.labels_by_day WHERE day = ?"),
            (day,),
            PAGE_SIZE,
            self.profile,
        )
        return {r.id: (r.label, r.labelled_at) for r in self.cql.paged(rows)}

    def _rows(self, day: date, fields: str, order: str = "DESC", page: int = PAGE_SIZE) -> Iterator:
        rows = self.cql.execute(
            self._q(f"SELECT {fields} FROM {{ks}}.predictions_by_day WHERE day = ? ORDER BY id {order}"),
            (day,),
            page,
            self.profile,
        )
        return self.cql.paged(rows)

    def has_day(self, day: date) -> bool:
        if day not in self._days:
            self._days[day] = (
                self.cql.execute(self._q("SELECT id FROM {ks}.predictions_by_day WHERE day = ? LIMIT 1"), (day,)).one()
                is not None
            )
        return self._days[day]

    def get(self, prediction_id: str) -> PredictionRecord | None:
        day, pid = created_at_of(prediction_id).date(), uuid.UUID(prediction_id)
        row = self.cql.execute(
            self._q(f"SELECT {FIELDS} FROM {{ks}}.predictions_by_day WHERE day = ? AND id = ?"), (day, pid)
        ).one()
        if row is None:
            return None
        label = self.cql.execute(
            self._q("SELECT id, label, labelled_at FROM {ks}.labels_by_day WHERE day = ? AND id = ?"), (day, pid)
        ).one()
        return record_of(row, label_of(label))

    def recent(self, limit: int, max_confidence: float | None) -> list[PredictionRecord]:
        found: list[PredictionRecord] = []
        today = datetime.now(UTC).date()
        for back in range(MAX_DAYS_BACK):
            day = today - timedelta(days=back)
            if not self.has_day(day):
                continue
            labels = self._labels(day)
            for row in self._rows(day, LIST_FIELDS):
                if max_confidence is None or row.confidence < max_confidence:
                    found.append(record_of(row, labels))
                    if len(found) >= limit:
                        return found
        return found

    def stats_day(self, day: date, low_below: float, skip: set) -> list[StatsRow]:
        """The day's rows that are not (yet) copied into the current tables, counted like ``stats``."""
        labels = self._labels(day)
        rows = [r for r in self._rows(day, COUNT_FIELDS) if r.id not in skip]
        labelled = [(r.model_version, r.digit, labels[r.id][0]) for r in rows if r.id in labels]
        return rollup.stats_rows(day.isoformat(), rollup.count(rows, low_below), rollup.corrections(labelled))

    def day_records(self, day: date, skip: set, originals: bool = True) -> Iterator[PredictionRecord]:
        """The day's records, oldest first; with their originals (up to a megabyte each in this schema) a
        few at a time."""
        labels = self._labels(day)
        fields, page = (FIELDS, ORIGINALS_PAGE_SIZE) if originals else (LIST_FIELDS, PAGE_SIZE)
        return (record_of(r, labels) for r in self._rows(day, fields, "ASC", page) if r.id not in skip)

    def days(self) -> list[date]:
        """Every day partition of the first schema (a scan of partition keys only)."""
        rows = self.cql.execute(
            self._q("SELECT DISTINCT day FROM {ks}.predictions_by_day"), (), PAGE_SIZE, self.profile
        )
        days = (r.day for r in self.cql.paged(rows))
        return sorted(d.date() if hasattr(d, "date") else date.fromisoformat(str(d)) for d in days)


def migrate(log, progress: Callable[[int], None] = lambda n: None, say: Callable[[str], None] = print) -> int:
    """Copy every record and correction of the first schema into ``log``'s tables; the count copied.

    Idempotent (rows are upserts, a label keeps the newer of two) and resumable: a day already copied is
    recorded in log_state and skipped. Every old day is then checked id by id against the new tables (rows
    an old writer added meanwhile are copied too) before the keyspace is marked migrated and the functions
    stop reading the old tables. Old rows are read at consistency ALL: a replica that is down stops it (run it
    again once the node is back) rather than let a row written at ONE be missed."""
    from service.predlog.cql_connect import EVERY_REPLICA

    cql, keyspace = log.cql, log.keyspace
    if not cql.has_table(keyspace, "predictions_by_day"):
        say(f"{log.describe()} has no first-schema tables: nothing to copy")
        return 0
    legacy = LegacyTables(cql, keyspace, EVERY_REPLICA)
    copied = 0
    for day in legacy.days():
        key = f"{MIGRATED}:{day.isoformat()}"
        if cql.execute(f"SELECT value FROM {keyspace}.log_state WHERE name = ?", (key,)).one() is not None:
            continue
        copied += _copy_day(log, legacy, day, progress)
        cql.execute(f"INSERT INTO {keyspace}.log_state (name, value) VALUES (?, ?)", (key, "copied"))
    for day in legacy.days():  # the check: what is in the old tables and not (yet) in the new ones
        late = _copy_day(log, legacy, day, progress, skip=log.ids_of_day(day))
        if late:
            say(f"{day}: {late} records written to the old tables since their day was copied: copied now")
        copied += late
    cql.execute(f"INSERT INTO {keyspace}.log_state (name, value) VALUES (?, ?)", (MIGRATED, "migrated"))
    return copied


def _copy_day(
    log, legacy: LegacyTables, day: date, progress: Callable[[int], None], skip: set | frozenset = frozenset()
) -> int:
    """A day's records (but those in ``skip``), then their corrections, each label written at its own time:
    a correction made since in the current tables is newer and stays."""
    group: list[PredictionRecord] = []
    count = 0
    labelled: list[PredictionRecord] = []
    for record in legacy.day_records(day, skip=set(skip)):
        group.append(record)
        if record.label is not None:
            labelled.append(record)
        if len(group) >= COPY_GROUP:
            log.write_many(group)
            count += len(group)
            progress(len(group))
            group = []
    if group:
        log.write_many(group)
        count += len(group)
        progress(len(group))
    log.cql.execute_all(
        f"INSERT INTO {log.keyspace}.labels (day, id, label, labelled_at, digit, model_version) "
        "VALUES (?,?,?,?,?,?) USING TIMESTAMP ?",
        [
            (day, uuid.UUID(r.id), r.label, r.labelled_at, r.digit, r.model_version, _micros(r.labelled_at))
            for r in labelled
        ],
    )
    return count


def _micros(moment: datetime | None) -> int:
    assert moment is not None
    return int(moment.timestamp() * 1_000_000)

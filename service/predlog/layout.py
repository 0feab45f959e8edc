"""Where a prediction lives in the Cassandra log: pure functions of its timeuuid.

A partition is (day, slot, shard). The shard spreads writes made at the same moment over the ring; the
slot, a five-minute part of the UTC day, bounds how many rows one partition can gather however busy the
day is (docs/scaling.md works out the sizes). Both are fixed: changing either moves every row.
"""

from __future__ import annotations

import uuid
import zlib
from datetime import UTC, date, datetime, time, timedelta

SLOT_MINUTES = 5
SLOTS_PER_DAY = 24 * 60 // SLOT_MINUTES
SHARDS = 16
WHOLE_DAY = -1  # the slots row that keeps a whole ended day's rollup, beside the day's slots


def shard_of(prediction_id: str | uuid.UUID) -> int:
    """A hash of the whole id: a process's timeuuids share their clock sequence and node, so the time
    bits must be in it; CRC-32 spreads consecutive ticks evenly."""
    raw = prediction_id.bytes if isinstance(prediction_id, uuid.UUID) else uuid.UUID(prediction_id).bytes
    return zlib.crc32(raw) % SHARDS


def slot_of(moment: datetime) -> int:
    return (moment.hour * 60 + moment.minute) // SLOT_MINUTES


def slot_start(day: date, slot: int) -> datetime:
    return datetime.combine(day, time(), tzinfo=UTC) + timedelta(minutes=slot * SLOT_MINUTES)


def slot_end(day: date, slot: int) -> datetime:
    return slot_start(day, slot) + timedelta(minutes=SLOT_MINUTES)

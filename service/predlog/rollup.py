"""A slot's aggregates: counted from its rows, kept as a small JSON text in the slots table (pure)."""

from __future__ import annotations

import json
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass

from service.predlog.base import StatsRow

Group = tuple[str, int]  # (model version, digit answered)


@dataclass(frozen=True)
class Counts:
    count: int = 0
    confidence_sum: float = 0.0
    low_confidence: int = 0

    def __add__(self, other: Counts) -> Counts:
        return Counts(
            self.count + other.count,
            self.confidence_sum + other.confidence_sum,
            self.low_confidence + other.low_confidence,
        )


def count(rows: Iterable, low_below: float) -> dict[Group, Counts]:
    """Rows with ``model_version``, ``digit`` and ``confidence``, per (version, digit)."""
    groups: dict[Group, list] = defaultdict(lambda: [0, 0.0, 0])
    for row in rows:
        g = groups[(row.model_version, row.digit)]
        g[0] += 1
        g[1] += row.confidence
        g[2] += row.confidence < low_below
    return {key: Counts(*g) for key, g in groups.items()}


def merge(into: dict[Group, Counts], more: dict[Group, Counts]) -> None:
    for key, counts in more.items():
        into[key] = into.get(key, Counts()) + counts


def encode(groups: dict[Group, Counts], low_below: float) -> str:
    rows = [[v, d, c.count, c.confidence_sum, c.low_confidence] for (v, d), c in sorted(groups.items())]
    return json.dumps({"low_below": low_below, "groups": rows}, separators=(",", ":"))


def decode(text: str | None, low_below: float) -> dict[Group, Counts] | None:
    """The groups, or None when there is no rollup or it counted "low" against another threshold."""
    if not text:
        return None
    data = json.loads(text)
    if data.get("low_below") != low_below:
        return None
    return {(v, int(d)): Counts(int(n), float(s), int(low)) for v, d, n, s, low in data["groups"]}


def corrections(labelled: Iterable[tuple[str, int, int]]) -> dict[Group, list[int]]:
    """(model version, digit answered, label) of each correction -> per group [corrected, confirmed right]."""
    corrected: dict[Group, list[int]] = {}
    for version, digit, label in labelled:
        c = corrected.setdefault((version, digit), [0, 0])
        c[0] += 1
        c[1] += label == digit
    return corrected


def stats_rows(day: str, groups: dict[Group, Counts], corrected: dict[Group, list[int]]) -> list[StatsRow]:
    """One day's groups and their corrections, as the log's aggregates."""
    return [
        StatsRow(day, *key, n.count, n.confidence_sum, n.low_confidence, *corrected.get(key, [0, 0]))
        for key, n in groups.items()
    ]

"""Shape the prediction log's aggregates into the /stats answer (pure: rows in, dict out)."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import date

from ml.labels import DIGITS, NOT_A_DIGIT
from service.predlog.base import StatsRow, days_between


@dataclass
class _Totals:
    per_digit: list[int] = field(default_factory=lambda: [0] * DIGITS)
    confidence_sum: float = 0.0
    low_confidence: int = 0
    corrected: int = 0
    corrected_right: int = 0
    not_a_digit: int = 0  # uploads refused as not a digit (not in count, per_digit or the confidence)

    def add(self, row: StatsRow) -> None:
        if row.digit == NOT_A_DIGIT:
            self.not_a_digit += row.count
            return
        self.per_digit[row.digit] += row.count
        self.confidence_sum += row.confidence_sum
        self.low_confidence += row.low_confidence
        self.corrected += row.corrected
        self.corrected_right += row.corrected_right

    def as_dict(self) -> dict:
        count = sum(self.per_digit)
        return {
            "count": count,
            "per_digit": self.per_digit,
            "not_a_digit": self.not_a_digit,
            "mean_confidence": round(self.confidence_sum / count, 6) if count else None,
            "low_confidence_share": round(self.low_confidence / count, 6) if count else None,
            "corrected": self.corrected,
            # share of corrected items the model had right (a person confirmed the answer)
            "corrected_accuracy": round(self.corrected_right / self.corrected, 6) if self.corrected else None,
        }


def _with_models(total: _Totals, by_model: dict[str, _Totals]) -> dict:
    return {**total.as_dict(), "by_model": [{"model_version": v, **t.as_dict()} for v, t in sorted(by_model.items())]}


def summarise(rows: Iterable[StatsRow], first: date, last: date, low_below: float) -> dict:
    """Per day (every day of the range, empty ones included) and overall, each split by model version."""
    days: dict[str, tuple[_Totals, dict[str, _Totals]]] = {
        d.isoformat(): (_Totals(), {}) for d in days_between(first, last)
    }
    overall, overall_models = _Totals(), dict[str, _Totals]()
    for row in rows:
        day_total, day_models = days[row.day]
        for total in (
            day_total,
            day_models.setdefault(row.model_version, _Totals()),
            overall,
            overall_models.setdefault(row.model_version, _Totals()),
        ):
            total.add(row)
    return {
        "from": first.isoformat(),
        "to": last.isoformat(),
        "low_confidence_below": low_below,
        "days": [{"day": day, **_with_models(total, models)} for day, (total, models) in days.items()],
        "total": _with_models(overall, overall_models),
    }

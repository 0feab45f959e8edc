"""The prediction log's statistics as terminal tables (pure: values in, lines out), for ``python -m service
stats`` whichever engine computed them."""

from __future__ import annotations

from ml.labels import NOT_A_DIGIT


def _pct(value: float | None) -> str:
    return "-" if value is None else f"{value:.1%}"


def summary_lines(stats: dict) -> list[str]:
    """A line for each day with uploads and a total, from ``service.analytics.summarise``'s answer. "uploads"
    counts every record (as an export of the same days holds), "digits" those answered with a digit, which the
    confidence and correction columns describe."""
    busy = [day for day in stats["days"] if day["count"] or day["not_a_digit"]]
    lines = [
        f"{stats['from']} to {stats['to']} (UTC): {len(busy)} of {len(stats['days'])} days had uploads",
        f"{'day':<12}{'uploads':>9}{'digits':>9}{'not digit':>11}{'mean conf':>11}{'low conf':>10}"
        f"{'corrected':>11}{'acc. corr.':>12}",
    ]
    for row in [*busy, {"day": "total", **stats["total"]}]:
        lines.append(
            f"{row['day']:<12}{row['count'] + row['not_a_digit']:>9}{row['count']:>9}{row['not_a_digit']:>11}"
            f"{_pct(row['mean_confidence']):>11}{_pct(row['low_confidence_share']):>10}{row['corrected']:>11}"
            f"{_pct(row['corrected_accuracy']):>12}"
        )
    return lines


def accuracy_lines(accuracy: list) -> list[str]:
    """Per model version: labelled answers and the share right (``service.spark_stats.Accuracy`` rows)."""
    lines = [f"{'model version':<28}{'labelled':>9}{'right':>7}{'accuracy':>10}"]
    for a in accuracy:
        lines.append(f"{a.model_version:<28}{a.labelled:>9}{a.right:>7}{_pct(a.share):>10}")
    if not accuracy:
        lines.append("(no corrections in these days)")
    return lines


def confusion_lines(confusion: list) -> list[str]:
    """One matrix per model version: a row per label a person gave, a column per answer ("no" = not a digit:
    the answer refused, or the label given), from ``service.spark_stats.Confusion`` cells."""
    answers = [*range(NOT_A_DIGIT), NOT_A_DIGIT]
    head = "".join(f"{_named(d):>5}" for d in answers)
    lines: list[str] = []
    for version in sorted({c.model_version for c in confusion}):
        counts = {(c.label, c.digit): c.count for c in confusion if c.model_version == version}
        lines += [f"{version}: label (rows) vs answer (columns)", f"{'':>7}{head}"]
        for label in sorted({label for label, _ in counts}):
            lines.append(f"{_named(label):>7}" + "".join(f"{counts.get((label, d), 0) or '.':>5}" for d in answers))
    return lines


def _named(digit: int) -> str:
    """A digit as the matrix names it: "no" for not a digit."""
    return "no" if digit == NOT_A_DIGIT else str(digit)

"""Pictures of results, for people who would rather look than read."""

from __future__ import annotations

import io

import numpy as np


def confusion_png(confusion: list[list[int]], title: str) -> bytes:
    """The confusion matrix as a PNG: counts in each cell, errors in red."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    matrix = np.asarray(confusion)
    errors = matrix.copy()
    np.fill_diagonal(errors, 0)
    fig, ax = plt.subplots(figsize=(6.4, 5.6), dpi=100)
    ax.imshow(np.log1p(errors), cmap="Reds")
    for (row, col), count in np.ndenumerate(matrix):
        ax.text(
            col,
            row,
            str(count),
            ha="center",
            va="center",
            fontsize=8,
            color="black" if row != col else "tab:green",
            fontweight="bold" if row == col else None,
        )
    ax.set_xticks(
        range(matrix.shape[1]), [str(d) for d in range(10)] + (["not a\ndigit"] if matrix.shape[1] > 10 else [])
    )
    ax.set_yticks(range(10))
    ax.set_xlabel("predicted digit")
    ax.set_ylabel("true digit")
    ax.set_title(title, fontsize=10)
    fig.tight_layout()
    out = io.BytesIO()
    fig.savefig(out, format="png")
    plt.close(fig)
    return out.getvalue()


def reliability_png(curves: list[tuple[str, list[dict]]], title: str) -> bytes:
    """Reliability diagram: per confidence bin, how often the answer was right (on the diagonal when
    confidence means what it says), with the share of answers in each bin below."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, (ax, counts) = plt.subplots(2, 1, figsize=(5.6, 6.4), dpi=100, height_ratios=(3, 1), sharex=True)
    ax.plot([0, 1], [0, 1], color="grey", linestyle="--", linewidth=1, label="perfectly calibrated")
    for name, bins in curves:
        used = [b for b in bins if b["count"]]
        ax.plot([b["confidence"] for b in used], [b["accuracy"] for b in used], marker="o", label=name)
        total = sum(b["count"] for b in bins)
        counts.bar(
            [(b["low"] + b["high"]) / 2 for b in bins],
            [b["count"] / total for b in bins],
            width=1 / len(bins),
            alpha=0.5,
        )
    ax.set_ylabel("accuracy")
    ax.set_xlim(0, 1)
    ax.set_ylim(0, 1.02)
    ax.legend(loc="upper left", fontsize=8)
    ax.set_title(title, fontsize=10)
    counts.set_yscale("log")
    counts.set_xlabel("confidence (calibrated)")
    counts.set_ylabel("share of answers")
    fig.tight_layout()
    out = io.BytesIO()
    fig.savefig(out, format="png")
    plt.close(fig)
    return out.getvalue()

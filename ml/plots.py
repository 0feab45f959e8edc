"""Pictures of results, for people who would rather look than read."""

from __future__ import annotations

import io

import numpy as np


def _pyplot():
    """matplotlib's pyplot on its file-only backend (no display here or on Lambda), imported when first drawn."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def _png(plt, fig) -> bytes:
    fig.tight_layout()
    out = io.BytesIO()
    fig.savefig(out, format="png")
    plt.close(fig)
    return out.getvalue()


def confusion_png(confusion: list[list[int]], title: str) -> bytes:
    """The confusion matrix as a PNG: counts in each cell, errors in red."""
    plt = _pyplot()

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
    return _png(plt, fig)


def reliability_png(curves: list[tuple[str, list[dict]]], title: str) -> bytes:
    """Reliability diagram: per confidence bin, how often the answer was right (on the diagonal when
    confidence means what it says), with the share of answers in each bin below."""
    plt = _pyplot()

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
    return _png(plt, fig)


def misses_png(misses: list[tuple[np.ndarray | None, str, str]], title: str, limit: int = 120) -> bytes:
    """A contact sheet of wrong answers: each the 28x28 picture the model saw (blank when preprocessing
    found none) over two lines of text, e.g. what it was read as and the sample's name."""
    plt = _pyplot()
    shown = misses[:limit]
    columns = max(1, min(8, len(shown)))
    rows = max(1, -(-len(shown) // columns))
    fig, axes = plt.subplots(rows, columns, figsize=(1.9 * columns + 0.4, 2.3 * rows + 0.5), dpi=100, squeeze=False)
    for ax in axes.flat:
        ax.axis("off")
    for ax, (image, headline, caption) in zip(axes.flat, shown, strict=False):
        ax.imshow(np.zeros((28, 28)) if image is None else image, cmap="gray", vmin=0.0, vmax=1.0)
        ax.set_title(f"{headline}\n{caption}", fontsize=7)
    if not shown:
        axes[0, 0].text(0.5, 0.5, "no wrong answers", ha="center", va="center")
    more = f" (the first {limit} of {len(misses)})" if len(misses) > limit else ""
    fig.suptitle(f"{title}{more}", fontsize=10)
    return _png(plt, fig)

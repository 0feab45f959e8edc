"""Training images made the way serving makes them: uploads drawn in the dev set's styles (training digits
only) and the not-a-digit uploads of ``ml.negatives``, each sent through ``preprocess``.

MNIST alone teaches the model MNIST's own look; what predict hands it after normalising a canvas, a scan
or a photo differs a little (stroke ends, residual shadows), and the eleventh class must be learned in
exactly that representation, against digits in the same one, or it would learn "rendered" instead of
"not a digit". Rendering is costly, so it runs in forked worker processes (``ml.workers``), but
only while TensorFlow is not loaded: a second training in the same process renders in process.
"""

from __future__ import annotations

import math
from collections.abc import Iterable

import numpy as np

from ml import devset, negatives
from ml.errors import MLError
from ml.labels import NOT_A_DIGIT
from ml.workers import Progress, run_jobs, tick

DIGIT_STYLES = ("canvas_rgba", "scan_dark_on_light", "light_on_dark", "small_photo", "noise_specks", "formats_modes")
CHUNK = 200  # images per job


def _digit_job(args: tuple[np.ndarray, np.ndarray, list[int]]) -> tuple[np.ndarray, np.ndarray]:
    images, labels, seed = args
    rng = np.random.default_rng(seed)
    return _preprocessed(
        (devset.render(str(rng.choice(DIGIT_STYLES)), image, rng)[1], int(label))
        for image, label in zip(images, labels, strict=True)
    )


def _negative_job(args: tuple[np.ndarray, str, int, list[int], str]) -> tuple[np.ndarray, np.ndarray]:
    pool, kind, count, seed, split = args
    samples = negatives.generate(pool, count, seed, split, (kind,))  # type: ignore[arg-type]
    return _preprocessed((sample.data, sample.label) for sample in samples)


def _preprocessed(uploads: Iterable[tuple[bytes, int]]) -> tuple[np.ndarray, np.ndarray]:
    """(file bytes, label) -> 28x28 uint8 images and their labels, as predict would see them; an upload
    preprocessing refuses (no ink at all) is left out: there is nothing in it to learn."""
    from ml.preprocess import preprocess

    images, kept = [], []
    for data, label in uploads:
        tick()
        try:
            images.append(preprocess(data))
        except MLError:
            continue
        kept.append(label)
    if not images:
        return np.zeros((0, 28, 28), dtype=np.uint8), np.zeros(0, dtype=np.uint8)
    return np.round(np.stack(images) * 255).astype(np.uint8), np.asarray(kept, dtype=np.uint8)


def _negative_jobs(pool: np.ndarray, count: int, seed: int, split: str) -> list:
    """Jobs drawing ``count`` not-a-digit uploads, spread over every kind, in chunks of CHUNK."""
    per_kind = count // len(negatives.KINDS)
    return [
        (_negative_job, (pool, kind, min(CHUNK, per_kind - start), seed * 1000 + k_index * 100 + start // CHUNK, split))
        for k_index, kind in enumerate(negatives.KINDS)
        for start in range(0, per_kind, CHUNK)
    ]


def planned(digit_count: int, negative_count: int, available: int) -> int:
    """How many uploads ``rendered_set`` draws in its first round (the second one, if any, it says)."""
    return min(digit_count, available) + negative_count // len(negatives.KINDS) * len(negatives.KINDS)


def _run(jobs: list, workers: int, progress: Progress | None) -> tuple[np.ndarray, np.ndarray]:
    """Run rendering jobs (see ``ml.workers``) and join their images and labels; ``progress`` hears each upload."""
    parts = run_jobs(jobs, workers, progress)
    if not parts:
        return np.zeros((0, 28, 28), dtype=np.uint8), np.zeros(0, dtype=np.uint8)
    return np.concatenate([p[0] for p in parts]), np.concatenate([p[1] for p in parts])


def rendered_set(
    digits_x: np.ndarray,
    digits_y: np.ndarray,
    digit_count: int,
    negative_count: int,
    seed: int,
    split: str = "train",
    workers: int = 2,
    progress: Progress | None = None,
    more: Progress | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """``digit_count`` uploads of digits drawn from ``digits_x`` and ``negative_count`` not-a-digit uploads
    (spread over every kind), preprocessed as served: (n, 28, 28) uint8 and labels (10 = not a digit).
    Uploads preprocessing refuses carry nothing to learn and are left out; the negatives they leave
    missing (most blank pages and half the textures hold no ink) are drawn again once, from another seed,
    so that the eleventh class is trained on as many as asked for. ``progress`` hears every upload drawn;
    ``more`` how many the second round adds to the ``digit_count + negative_count`` first planned."""
    rng = np.random.default_rng([seed, 7])
    picks = rng.choice(len(digits_x), size=min(digit_count, len(digits_x)), replace=False)
    jobs: list = [
        (_digit_job, (digits_x[chunk], digits_y[chunk], [seed, 1, start]))
        for start in range(0, len(picks), CHUNK)
        for chunk in [picks[start : start + CHUNK]]
    ]
    pool = digits_x[rng.choice(len(digits_x), size=min(2000, len(digits_x)), replace=False)]  # several_digits
    x, y = _run(jobs + _negative_jobs(pool, negative_count, seed, split), workers, progress)
    kept = int(np.count_nonzero(y == NOT_A_DIGIT))
    if kept and kept < negative_count:
        # as many again as went missing, scaled by the share kept, from a seed the first round never uses
        again = math.ceil((negative_count - kept) * negative_count / kept)
        second = _negative_jobs(pool, again, seed + 10_000, split)
        if more is not None:
            more(sum(job[1][2] for job in second))
        ax, ay = _run(second, workers, progress)
        take = rng.permutation(len(ay))[: negative_count - kept]  # every kind, not the first ones drawn
        x, y = np.concatenate([x, ax[take]]), np.concatenate([y, ay[take]])
    return x, y

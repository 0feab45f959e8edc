"""What a Predictor answers on MNIST test, on the dev set per category and on the not-a-digit dev set:
accuracy, refusals and calibration, each measured through ``preprocess`` as predict runs it."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Iterator
from dataclasses import dataclass

import numpy as np

from ml import devset
from ml.calibration import Answers, answers, expected_calibration_error, reliability
from ml.devset import Sample
from ml.errors import MLError
from ml.labels import NOT_A_DIGIT
from ml.predictor import Predictor
from ml.preprocess import preprocess
from ml.workers import Progress, run_jobs, tick


@dataclass(frozen=True)
class Scored:
    """One sample's outcome."""

    category: str
    label: int  # NOT_A_DIGIT for a negative
    digit: int  # -1 when preprocessing refused it
    confidence: float
    refused: bool  # refused as not a digit by the model
    error: str | None  # the code preprocessing refused it with (no_digit_found...), if it did
    filename: str = ""  # the sample's name as `python -m ml devset` writes it, to find the upload again

    @property
    def right(self) -> bool:
        """A digit answered correctly; a negative refused, by the model or by preprocessing."""
        if self.label == NOT_A_DIGIT:
            return self.refused or self.error is not None
        return self.error is None and not self.refused and self.digit == self.label

    def outcome(self) -> str:
        """What happened to it, in a few words: "9 read as 4" and the answer's confidence."""
        label = "not a digit" if self.label == NOT_A_DIGIT else str(self.label)
        if self.error is not None:
            return f"{label}: {self.error}"
        if self.refused:
            return f"{label} refused as not a digit"
        return f"{label} read as {self.digit} ({self.confidence:.0%})"


@dataclass(frozen=True)
class CategoryScore:
    category: str
    correct: int
    total: int
    errors: int  # samples preprocessing refused (counted as wrong for digits)
    refused: int = 0  # samples the model refused as not a digit
    ece: float | None = None  # calibration error of the answers given (digits only)

    @property
    def accuracy(self) -> float:
        return self.correct / self.total if self.total else 0.0


@dataclass(frozen=True)
class Prepared:
    """One sample as predict's model would receive it: its 28x28 image, or the code preprocessing refused it with."""

    category: str
    label: int
    image: np.ndarray | None
    error: str | None
    filename: str = ""


def prepare(samples: Iterable[Sample]) -> Iterator[Prepared]:
    """Each sample through ``preprocess``, as predict runs it (a ``workers.tick`` each)."""
    for sample in samples:
        try:
            yield Prepared(sample.category, sample.label, preprocess(sample.data), None, sample.filename)
        except MLError as exc:
            yield Prepared(sample.category, sample.label, None, exc.code, sample.filename)
        tick()


def _prepared_category(args: tuple[np.ndarray, np.ndarray, str, int, int]) -> list[Prepared]:
    images, labels, category, per_category, seed = args
    return list(prepare(devset.generate_category(images, labels, category, per_category, seed)))


def prepared_devset(
    images: np.ndarray,
    labels: np.ndarray,
    per_category: int,
    seed: int,
    categories: tuple[str, ...],
    workers: int = 2,
    progress: Progress | None = None,
) -> list[Prepared]:
    """The dev set drawn and preprocessed, a category per job on ``workers`` processes (rendering and
    preprocessing are most of an evaluation's time); ``progress`` hears each sample done."""
    jobs = [(_prepared_category, (images, labels, category, per_category, seed)) for category in categories]
    parts = run_jobs(jobs, workers, progress)
    return [p for part in parts for p in part]


def score_prepared(predictor: Predictor, prepared: Iterable[Prepared], batch: int = 64) -> list[Scored]:
    """Each prepared sample's outcome, in the order given (``misses`` pairs them up again)."""
    out: list[Scored] = []
    pending: list[tuple[Prepared, np.ndarray]] = []

    def flush() -> None:
        if not pending:
            return
        a = answers(predictor.probabilities(np.stack([image for _, image in pending])), predictor.calibration)
        for i, (p, _) in enumerate(pending):
            out.append(
                Scored(
                    p.category, p.label, int(a.digit[i]), float(a.confidence[i]), bool(a.refused[i]), None, p.filename
                )
            )
        pending.clear()

    for p in prepared:
        if p.image is None:
            flush()  # the answers before it first: the outcomes keep the samples' order
            out.append(Scored(p.category, p.label, -1, 0.0, False, p.error, p.filename))
            continue
        pending.append((p, p.image))
        if len(pending) >= batch:
            flush()
    flush()
    return out


def misses(prepared: list[Prepared], scored: list[Scored]) -> list[tuple[Prepared, Scored]]:
    """The samples answered wrongly, each with what the model saw: the dev set's remaining errors to look at."""
    return [(p, s) for p, s in zip(prepared, scored, strict=True) if not s.right]


def score_samples(predictor: Predictor, samples: Iterable[Sample], batch: int = 64) -> list[Scored]:
    return score_prepared(predictor, prepare(samples), batch)


def category_scores(scored: list[Scored]) -> list[CategoryScore]:
    groups: dict[str, list[Scored]] = defaultdict(list)
    for s in scored:
        groups[s.category].append(s)
    return [
        CategoryScore(
            category,
            sum(s.right for s in group),
            len(group),
            sum(s.error is not None for s in group),
            sum(s.refused for s in group),
            calibration_error(group) if group[0].label != NOT_A_DIGIT else None,
        )
        for category, group in groups.items()
    ]


def answered(scored: list[Scored]) -> list[Scored]:
    """The digits the model answered (neither preprocessing nor the model refused them)."""
    return [s for s in scored if s.error is None and not s.refused]


def calibration_error(scored: list[Scored]) -> float:
    """ECE of the confidence of the answers given: what the person reads against how often it was right."""
    given = answered(scored)
    return expected_calibration_error(np.array([s.confidence for s in given]), np.array([s.right for s in given]))


def reliability_of(scored: list[Scored]) -> list[dict]:
    given = answered(scored)
    return reliability(np.array([s.confidence for s in given]), np.array([s.right for s in given]))


def score_devset(predictor: Predictor, samples: Iterable[Sample], batch: int = 64) -> list[CategoryScore]:
    return category_scores(score_samples(predictor, samples, batch))


def overall(scores: list[CategoryScore]) -> float:
    total = sum(s.total for s in scores)
    return sum(s.correct for s in scores) / total if total else 0.0


def batched_probabilities(predictor: Predictor, images: np.ndarray, batch: int = 1000) -> np.ndarray:
    """uint8 MNIST images -> (n, classes) probabilities as the model gives them, in batches."""
    return np.concatenate(
        [
            predictor.probabilities(images[i : i + batch].astype(np.float32) / 255.0)
            for i in range(0, len(images), batch)
        ]
    )


def mnist_answers(predictor: Predictor, images: np.ndarray) -> Answers:
    """What predict answers for MNIST's own images (its identity path hands them to the model unchanged)."""
    return answers(batched_probabilities(predictor, images), predictor.calibration)

"""Leave one family out: how refusal fares on a kind of non-digit the model never saw.

The dev set's negatives come from the same generator families as the training negatives (other seeds and
faces), so a model that learnt "what those generators make" passes it. Here each family is left out in
turn: the last layer of every member (the head that reads the features and gives the eleven logits) is
refitted, by multinomial logistic regression on the frozen features, on training digits and every other
family's training negatives, and the family's held-out uploads are then answered as predict answers them:
views averaged, members averaged, the open-set score of ``ml.openset`` added, the model's temperature and
threshold. What is not refitted: the convolutional features, trained once with every family (a fold per
full training would cost a training each); the open-set score never sees a negative, so it needs no fold.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ml import negatives
from ml.calibration import Calibration, scaled
from ml.evaluation import Prepared, prepare
from ml.labels import DIGITS, NOT_A_DIGIT
from ml.workers import Progress, run_jobs

HEAD_DIGITS = 12_000  # MNIST training digits the refitted heads see, beside the rendered ones
HEAD_RENDERED = 3_000  # rendered uploads of training digits the refitted heads see
TRAIN_PER_FAMILY = 400  # each family's training negatives, as a full training draws them
NEGATIVE_WEIGHT = 0.09  # the negatives' share of the heads' fit, as in a full training's pool


@dataclass(frozen=True)
class Fold:
    family: str
    total: int  # the family's held-out uploads
    no_ink: int  # refused before the model: preprocessing found nothing to read
    by_class: int  # refused by the eleventh class of the heads refitted without the family
    by_score: int  # refused by the open-set score alone
    refused: int  # refused as predict would refuse them: no ink, or the class and the score together
    digits_refused: float  # the dev set's digits this fold's model refuses

    @property
    def rate(self) -> float:
        return self.refused / self.total if self.total else 0.0


def _family_job(args: tuple[np.ndarray, str, int, int, str]) -> list[Prepared]:
    pool, family, count, seed, split = args
    return list(prepare(negatives.generate(pool, count, seed, split, (family,))))


def drawn_families(
    pool: np.ndarray, per_family: int, seed: int, split: str, workers: int = 2, progress: Progress | None = None
) -> dict[str, list[Prepared]]:
    """Every family's uploads of ``split``, preprocessed as served, a family per job."""
    jobs = [(_family_job, (pool, family, per_family, seed, split)) for family in negatives.KINDS]
    return dict(zip(negatives.KINDS, run_jobs(jobs, workers, progress), strict=True))


class Heads:
    """A loaded model taken apart: its members' view-averaged features, its open-set score, its calibration."""

    def __init__(self, model, calibration: Calibration):
        from ml.models import ShiftedViews, ensemble_features

        members = [layer for layer in model.layers if layer.name.startswith("member_")] or [model]
        self._own = [[np.asarray(w) for w in m.get_layer("logits").get_weights()] for m in members]
        shifts = next((layer.shifts[1:] for layer in model.layers if isinstance(layer, ShiftedViews)), ())
        self.members = len(members)
        self._features = ensemble_features(members, shifts)
        layer = next((layer for layer in model.layers if layer.name == "unfamiliar"), None)
        self._score = layer.fitted() if layer is not None else None
        self.calibration = calibration

    @classmethod
    def load(cls, registry, version: str) -> Heads:
        """The published ``version``'s model.keras, with the calibration its metadata records."""
        from ml.artifacts import KERAS_FILE
        from ml.export import keras_from_bytes

        artifact = registry.load(version, files=(KERAS_FILE,))
        return cls(keras_from_bytes(artifact.files[KERAS_FILE]), Calibration.from_metadata(artifact.metadata))

    def features(self, images: np.ndarray) -> np.ndarray:
        """uint8 or [0, 1] float (n, 28, 28) -> (n, members * width)."""
        x = images.astype(np.float32) / (255.0 if images.dtype == np.uint8 else 1.0)
        if not len(x):  # a family preprocessing refused whole (Keras cannot predict on nothing)
            return np.zeros((0, int(self._features.output.shape[-1])), np.float32)
        return self._features.predict(x[..., None], batch_size=1000, verbose=0)

    def log_odds(self, features: np.ndarray) -> np.ndarray:
        """The open-set score's log-odds, as the model's layer adds them (-inf for a model without one)."""
        if self._score is None:
            return np.full(len(features), -np.inf)
        return self._score.log_odds(features)

    def own(self) -> list[tuple[np.ndarray, np.ndarray]]:
        """The heads the model was trained with (every family seen): what ``refused`` then answers is what
        the model itself answers."""
        return [(w, b) for w, b in self._own]

    def fit(self, features: np.ndarray, labels: np.ndarray) -> list[tuple[np.ndarray, np.ndarray]]:
        """Each member's head refitted: (weights, bias) by multinomial logistic regression, the negatives
        weighed to NEGATIVE_WEIGHT of the whole as a full training's pool holds them."""
        from sklearn.linear_model import LogisticRegression

        width = features.shape[1] // self.members
        negative = labels == NOT_A_DIGIT
        share = NEGATIVE_WEIGHT / (1 - NEGATIVE_WEIGHT) * (~negative).sum() / max(int(negative.sum()), 1)
        weights = np.where(negative, share, 1.0)
        heads = []
        for m in range(self.members):
            part = features[:, m * width : (m + 1) * width]
            fitted = LogisticRegression(C=1.0, max_iter=500).fit(part, labels, sample_weight=weights)
            heads.append((fitted.coef_.T, fitted.intercept_))
        return heads

    def refused(self, heads, features: np.ndarray, log_odds: np.ndarray) -> np.ndarray:
        """Whether each picture is refused by ``heads`` and the score, at the model's temperature and threshold."""
        return self.not_a_digit(heads, features, log_odds) >= self.calibration.refuse_at

    def not_a_digit(self, heads, features: np.ndarray, log_odds: np.ndarray) -> np.ndarray:
        """The calibrated probability that each picture is not a digit, by ``heads`` and the score."""
        return self.probabilities(heads, features, log_odds)[:, NOT_A_DIGIT]

    def probabilities(self, heads, features: np.ndarray, log_odds: np.ndarray) -> np.ndarray:
        """(n, 11) calibrated probabilities by ``heads`` and the score, as predict's model gives them."""
        from ml.openset import combined_logits

        width = features.shape[1] // self.members
        logits = np.mean([features[:, m * width : (m + 1) * width] @ w + b for m, (w, b) in enumerate(heads)], axis=0)
        combined = combined_logits(logits, log_odds)
        probabilities = np.exp(combined - combined.max(axis=1, keepdims=True))  # scaled takes probabilities
        probabilities /= probabilities.sum(axis=1, keepdims=True)
        return scaled(probabilities, self.calibration.temperature)


def _images(prepared: list[Prepared]) -> tuple[np.ndarray, int]:
    """The 28x28 images preprocessing kept, and how many it refused."""
    kept = [p.image for p in prepared if p.image is not None]
    return (np.stack(kept) if kept else np.zeros((0, 28, 28), np.float32)), len(prepared) - len(kept)


def leave_one_out(
    heads: Heads,
    digits: tuple[np.ndarray, np.ndarray],
    train: dict[str, list[Prepared]],
    held_out: dict[str, list[Prepared]],
    dev_digits: np.ndarray,
    progress: Progress | None = None,
) -> list[Fold]:
    """A fold per family of ``held_out``: heads refitted on ``digits`` (images, labels) and every other
    family of ``train``, then scored on the family's held-out uploads and on ``dev_digits``."""
    digit_x, digit_y = digits
    train_features = {f: heads.features(_images(p)[0]) for f, p in train.items()}
    digit_features = heads.features(digit_x)
    dev_features = heads.features(dev_digits)
    dev_odds = heads.log_odds(dev_features)
    folds = []
    for family, prepared in held_out.items():
        others = [train_features[f] for f in train if f != family]
        x = np.concatenate([digit_features, *others])
        y = np.concatenate([digit_y.astype(int), np.full(sum(len(o) for o in others), NOT_A_DIGIT)])
        fitted = heads.fit(x, y)
        images, no_ink = _images(prepared)
        features = heads.features(images)
        odds = heads.log_odds(features)
        by_class = heads.refused(fitted, features, np.full(len(features), -np.inf))
        by_score = odds >= 0
        served = heads.refused(fitted, features, odds)
        folds.append(
            Fold(
                family,
                len(prepared),
                no_ink,
                int(by_class.sum()),
                int(by_score.sum()),
                no_ink + int(served.sum()),
                float(heads.refused(fitted, dev_features, dev_odds).mean()),
            )
        )
        if progress is not None:
            progress(1)
    return folds


def digits_for_heads(x_train: np.ndarray, y_train: np.ndarray, rendered: tuple[np.ndarray, np.ndarray]):
    """The digits every fold's heads are fitted on: MNIST's first training digits and rendered uploads."""
    rx, ry = rendered
    keep = ry < DIGITS
    return np.concatenate([x_train[:HEAD_DIGITS], rx[keep]]), np.concatenate([y_train[:HEAD_DIGITS], ry[keep]])

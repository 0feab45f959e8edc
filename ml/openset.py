"""How unlike every digit a picture is: a score that needs no example of what it refuses (pure numpy).

The eleventh class knows the kinds of non-digits it was trained on; a kind it never saw can land anywhere.
This score does not depend on them: the model's last hidden features of the training digits are fitted
with one Gaussian per digit sharing one covariance (Lee et al., 2018), and a picture's score is its
squared Mahalanobis distance to the nearest digit. Inside the model (``ml.models.Unfamiliar``) it adds
its odds to the eleventh class's: odds(not a digit) = the class's odds + exp(scale * (distance - offset)).
``offset`` is the distance that only a ``quantile`` share of held-out digits exceed, and ``scale`` makes the
typical digit's term negligible, so the refusal rule stays one threshold on one calibrated probability.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from ml.labels import DIGITS

QUANTILE = 0.9999  # held-out digits further than the offset: the share the score alone would refuse
SHRINK = 1e-3  # of the mean variance, added to the covariance's diagonal: dead ReLU units make it singular
TYPICAL_ODDS = 1e-4  # the score's odds for a digit at the held-out digits' median distance


@dataclass(frozen=True)
class Unfamiliarity:
    centres: np.ndarray  # (10, features): each digit's mean feature vector, whitened
    whiten: np.ndarray  # (features, features): W with W W^T = the shared covariance's inverse
    offset: float
    scale: float

    def distances(self, features: np.ndarray) -> np.ndarray:
        """(n, features) -> (n,) squared Mahalanobis distance to the nearest digit's mean."""
        z = np.asarray(features, np.float64) @ self.whiten
        return ((z[:, None, :] - self.centres[None]) ** 2).sum(axis=2).min(axis=1)

    def log_odds(self, features: np.ndarray) -> np.ndarray:
        """The score's log-odds of "not a digit", as the model adds them (clipped as it clips them)."""
        return np.clip(self.scale * (self.distances(features) - self.offset), -60.0, 60.0)


def fit(features: np.ndarray, labels: np.ndarray, held_out: np.ndarray, quantile: float = QUANTILE) -> Unfamiliarity:
    """Gaussians fitted on the digits' ``features`` (labels 0-9), the offset and scale on ``held_out``
    digits' features (never the ones fitted)."""
    features, labels = np.asarray(features, np.float64), np.asarray(labels)
    means = np.stack([features[labels == d].mean(axis=0) for d in range(DIGITS)])
    centred = features - means[labels]
    covariance = centred.T @ centred / len(centred)
    covariance += SHRINK * np.trace(covariance) / len(covariance) * np.eye(len(covariance))
    whiten = np.linalg.cholesky(np.linalg.inv(covariance))
    shape = Unfamiliarity(means @ whiten, whiten, 0.0, 1.0)
    held = shape.distances(held_out)
    offset, median = float(np.quantile(held, quantile)), float(np.median(held))
    scale = -math.log(TYPICAL_ODDS) / max(offset - median, 1e-6)
    return Unfamiliarity(shape.centres, whiten, offset, scale)


def combined_logits(logits: np.ndarray, log_odds: np.ndarray) -> np.ndarray:
    """An eleven-class model's logits with the score's odds added to the eleventh class's (as
    ``ml.models.Unfamiliar`` computes them): exp(l10') = exp(l10) + exp(lse(digits) + log_odds)."""
    digits = logits[:, :DIGITS]
    top = digits.max(axis=1)
    lse = top + np.log(np.exp(digits - top[:, None]).sum(axis=1))
    return np.concatenate([digits, np.logaddexp(logits[:, DIGITS], lse + log_odds)[:, None]], axis=1)

"""Train and evaluate a model on MNIST. Imports TensorFlow (train side only)."""
from __future__ import annotations

import os
import sys
import time
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np

from ml.mnist import Mnist
from ml.metrics import Evaluation, evaluate_probabilities

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")


@dataclass(frozen=True)
class TrainConfig:
    """What to train. ``subset`` keeps the first N training images (fast tests)."""

    architecture: str = "cnn"
    epochs: int | None = None  # None: the architecture's default
    batch_size: int = 128
    seed: int = 0
    subset: int | None = None
    augment: bool = True

    def resolved_epochs(self) -> int:
        from ml.models import DEFAULT_EPOCHS

        return self.epochs if self.epochs is not None else DEFAULT_EPOCHS[self.architecture]


@dataclass
class TrainResult:
    """Everything a caller needs to judge, store and describe the model."""

    model: Any  # keras.Model
    config: TrainConfig
    evaluation: Evaluation
    seconds: float
    epochs: int
    parameters: int
    data_sha256: dict[str, str]
    history: dict[str, list[float]] = field(default_factory=dict)
    test_probabilities: np.ndarray | None = None  # Keras output on the test set, to check exports

    def metrics(self) -> dict[str, Any]:
        return {
            **self.evaluation.summary(),
            "train_seconds": round(self.seconds, 2),
            "epochs": self.epochs,
            "parameters": self.parameters,
            "config": asdict(self.config),
            "history": self.history,
        }


def _dataset(x: np.ndarray, y: np.ndarray, config: TrainConfig):
    import tensorflow as tf

    from ml.augment import augment

    data = tf.data.Dataset.from_tensor_slices((x, y))
    data = data.shuffle(len(x), seed=config.seed, reshuffle_each_iteration=True).repeat()
    data = data.batch(config.batch_size, drop_remainder=True)
    if config.augment and config.architecture != "mlp":
        counter = tf.data.Dataset.counter()
        data = tf.data.Dataset.zip((data, counter)).map(
            lambda batch, step: (augment(batch[0], tf.stack([tf.cast(config.seed, tf.int64), step])), batch[1]),
            num_parallel_calls=tf.data.AUTOTUNE,
        )
    return data.prefetch(tf.data.AUTOTUNE)


def train(config: TrainConfig, data: Mnist, verbose: bool | None = None) -> TrainResult:
    """Fit the configured model on the training split and evaluate on the test split."""
    import keras

    from ml.models import build

    keras.utils.set_random_seed(config.seed)
    x = (data.x_train.astype(np.float32) / 255.0)[..., None]
    y = data.y_train.astype(np.int32)
    if config.subset:
        x, y = x[: config.subset], y[: config.subset]
    epochs = config.resolved_epochs()
    steps = max(1, len(x) // config.batch_size)
    model = build(config.architecture, steps, epochs)
    if verbose is None:
        verbose = sys.stdout.isatty()
    started = time.perf_counter()
    fitted = model.fit(
        _dataset(x, y, config), epochs=epochs, steps_per_epoch=steps, verbose=1 if verbose else 2
    )
    seconds = time.perf_counter() - started
    probabilities = model.predict(data.x_test.astype(np.float32)[..., None] / 255.0, batch_size=1000, verbose=0)
    return TrainResult(
        model=model,
        config=config,
        evaluation=evaluate_probabilities(probabilities, data.y_test),
        seconds=seconds,
        epochs=epochs,
        parameters=int(model.count_params()),
        data_sha256=dict(data.sha256),
        history={k: [round(float(v), 5) for v in vals] for k, vals in fitted.history.items()},
        test_probabilities=probabilities,
    )

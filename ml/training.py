"""Train and evaluate a model on MNIST. Imports TensorFlow (train side only)."""

from __future__ import annotations

import os
import sys
import time
import warnings
from dataclasses import asdict, dataclass, field, replace
from typing import Any

import numpy as np

from ml.corrections import Corrections
from ml.metrics import Evaluation, evaluate_probabilities
from ml.mnist import Mnist
from ml.parameters import Parameter, Parameters

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")


ARCHITECTURES = ("cnn", "mlp")
DEFAULT_EPOCHS = {"cnn": 8, "mlp": 5}

# What a caller may choose about a training (HTTP body, CLI flags, TrainConfig's defaults). The bounds keep
# one request from monopolising the machine.
TRAINING = Parameters(
    Parameter("architecture", str, "cnn", "the model to train (mlp is the seed's)", choices=ARCHITECTURES),
    Parameter(
        "epochs",
        int,
        None,
        "passes over the data; default: the architecture's own "
        + ", ".join(f"{a} {e}" for a, e in DEFAULT_EPOCHS.items()),
        1,
        50,
    ),
    Parameter("batch_size", int, 128, "images per step", 16, 1024),
    Parameter("seed", int, 0, "random seed: the same seed and data give the same model", 0, 2**31 - 1),
    Parameter("subset", int, None, "train on the first N MNIST images only (quick runs)", 100, 60000),
    Parameter("correction_weight", int, 10, "times each person's correction counts", 1, 100),
)


@dataclass(frozen=True)
class TrainConfig:
    """What to train. ``subset`` keeps the first N training images (fast tests)."""

    architecture: str = TRAINING["architecture"].default
    epochs: int | None = TRAINING["epochs"].default  # None: the architecture's default
    batch_size: int = TRAINING["batch_size"].default
    seed: int = TRAINING["seed"].default
    subset: int | None = TRAINING["subset"].default
    augment: bool = True
    uci_train_half: bool = True  # add the UCI digits' train half (see ml.uci.uci_training_set)
    correction_weight: int = TRAINING["correction_weight"].default  # each correction counts this many times

    def resolved_epochs(self) -> int:
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
    corrections: dict[str, Any] | None = None  # how many corrections were used, accuracy on them

    def metrics(self) -> dict[str, Any]:
        return {
            **self.evaluation.summary(),
            **({"corrections": self.corrections} if self.corrections is not None else {}),
            "train_seconds": round(self.seconds, 2),
            "epochs": self.epochs,
            "parameters": self.parameters,
            "config": asdict(self.config),
            "history": self.history,
        }


def _dataset(x: np.ndarray, y: np.ndarray, config: TrainConfig, epochs: int, steps: int):
    """Batches of (augmented) images, reshuffled every epoch, without a shuffle buffer.

    The batch indices of every epoch are drawn up front (a few MB of int32),
    so there is no 60,000-element shuffle buffer to fill before the first
    step: that fill stalled each run ~50 s here (measured).
    """
    import tensorflow as tf

    from ml.augment import augment

    rng = np.random.default_rng(config.seed)
    order = np.concatenate([rng.permutation(len(x))[: steps * config.batch_size] for _ in range(epochs)])
    batches = order.reshape(-1, config.batch_size).astype(np.int32)
    images, labels = tf.constant(x), tf.constant(y)
    data = tf.data.Dataset.from_tensor_slices((batches, np.arange(len(batches), dtype=np.int64)))
    augmenting = config.augment and config.architecture != "mlp"

    def load(index, step):
        batch = tf.gather(images, index)
        if augmenting:
            batch = augment(batch, tf.stack([tf.cast(config.seed, tf.int64), step]))
        return batch, tf.gather(labels, index)

    return data.map(load, num_parallel_calls=tf.data.AUTOTUNE, deterministic=True).prefetch(4)


def train(
    config: TrainConfig, data: Mnist, verbose: bool | None = None, corrections: Corrections | None = None
) -> TrainResult:
    """Fit the configured model on the training split (plus any corrections) and evaluate on the test split."""
    from ml.quiet import import_tensorflow

    import_tensorflow()
    import keras

    from ml.models import build

    keras.utils.set_random_seed(config.seed)
    started = time.perf_counter()
    x = (data.x_train.astype(np.float32) / 255.0)[..., None]
    y = data.y_train.astype(np.int32)
    if config.subset:
        x, y = x[: config.subset], y[: config.subset]
    if config.batch_size > len(x):
        config = replace(config, batch_size=len(x))
    # an epoch is as many steps as MNIST alone needs: extra data costs no time,
    # each epoch draws its batches from the union
    steps = max(1, len(x) // config.batch_size)
    if config.uci_train_half and not config.subset and config.architecture != "mlp":
        from ml.uci import uci_training_set

        extra_x, extra_y = uci_training_set()
        x = np.concatenate([x, (extra_x.astype(np.float32) / 255.0)[..., None]])
        y = np.concatenate([y, extra_y.astype(np.int32)])
    if corrections is not None and len(corrections):
        extra_x, extra_y = corrections.as_training(config.correction_weight)
        x, y = np.concatenate([x, extra_x]), np.concatenate([y, extra_y])
    epochs = config.resolved_epochs()
    model = build(config.architecture, steps, epochs)
    if verbose is None:
        verbose = sys.stdout.isatty()
    with warnings.catch_warnings():  # Keras warns that a tf.data input ignores shuffle=True: ours shuffles itself
        warnings.filterwarnings("ignore", message="`shuffle=True` was passed")
        fitted = model.fit(
            _dataset(x, y, config, epochs, steps), epochs=epochs, steps_per_epoch=steps, verbose=1 if verbose else 2
        )
    seconds = time.perf_counter() - started
    probabilities = model.predict(data.x_test.astype(np.float32)[..., None] / 255.0, batch_size=1000, verbose=0)
    report = None
    if corrections is not None:
        after = (
            model.predict(corrections.images.astype(np.float32)[..., None] / 255.0, verbose=0)
            if len(corrections)
            else None
        )
        report = {
            "used": len(corrections),
            "weight": config.correction_weight,
            "accuracy_after": None if after is None else corrections.accuracy(after),
        }
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
        corrections=report,
    )

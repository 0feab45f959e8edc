"""Train and evaluate a model on MNIST. Imports TensorFlow (train side only)."""

from __future__ import annotations

import time
import warnings
from dataclasses import asdict, dataclass, field, replace
from typing import Any

import numpy as np

from ml.architectures import ARCHITECTURES, DEFAULT_EPOCHS
from ml.corrections import Corrections
from ml.interrupts import deferred
from ml.labels import DIGITS, NOT_A_DIGIT
from ml.metrics import Evaluation, evaluate_predictions
from ml.mnist import Mnist
from ml.parameters import Parameter, Parameters
from ml.progress import Report

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
    Parameter(
        "members",
        int,
        2,
        "cnn models trained from consecutive seeds and averaged into one (each costs a training's time); "
        "the mlp is always one",
        1,
        4,
    ),
    Parameter(
        "shifts",
        int,
        4,
        "one-pixel shifts of each picture the cnn also reads when it predicts, its answers averaged "
        "(test-time augmentation inside the model; 4: right, left, down and up, 8: the diagonals too; each "
        "costs another inference); the mlp reads none",
        0,
        8,
    ),
    Parameter(
        "negatives",
        int,
        5600,
        "not-a-digit uploads drawn to train the eleventh class, for all of MNIST (a subset gets its share); "
        "0: a ten-class model that answers every picture with a digit",
        0,
        20000,
    ),
)
VALIDATION_SHARE = 30  # one in this many training digits is held out to calibrate
RENDERED_DIGITS = 0.5  # rendered uploads of training digits per negative, so that "rendered" is no cue
UCI_REPEAT = 3  # the second hand's training digits in the pool this many times: once, they were too small a share
VALIDATION_RENDERED = 600  # rendered digits and negatives each in the full validation split


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
    negatives: int = TRAINING["negatives"].default
    members: int = TRAINING["members"].default
    shifts: int = TRAINING["shifts"].default

    def resolved_epochs(self) -> int:
        return self.epochs if self.epochs is not None else DEFAULT_EPOCHS[self.architecture]

    def resolved_members(self) -> int:
        return self.members if self.architecture == "cnn" else 1

    def resolved_shifts(self) -> int:
        return self.shifts if self.architecture == "cnn" else 0


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
    calibration: Any = None  # ml.calibration.Calibration fitted on the held-out split
    validation: dict[str, Any] = field(default_factory=dict)  # validation_report()

    def metrics(self) -> dict[str, Any]:
        return {
            **self.evaluation.summary(),
            **({"corrections": self.corrections} if self.corrections is not None else {}),
            **({"validation": self.validation} if self.validation else {}),
            "train_seconds": round(self.seconds, 2),
            "epochs": self.epochs,
            "parameters": self.parameters,
            "config": asdict(self.config),
            "history": self.history,
        }


def _dataset(images, labels, config: TrainConfig, epochs: int, steps: int):
    """Batches of (augmented) ``images`` (a tensor, made once for every member), reshuffled every epoch,
    without a shuffle buffer.

    The batch indices of every epoch are drawn up front (a few MB of int32),
    so there is no shuffle buffer of the whole split to fill before the first
    step: that fill stalled each run.
    """
    import tensorflow as tf

    from ml.augment import augment

    rng = np.random.default_rng(config.seed)
    order = np.concatenate([rng.permutation(int(images.shape[0]))[: steps * config.batch_size] for _ in range(epochs)])
    batches = order.reshape(-1, config.batch_size).astype(np.int32)
    data = tf.data.Dataset.from_tensor_slices((batches, np.arange(len(batches), dtype=np.int64)))
    augmenting = config.augment and config.architecture != "mlp"

    @tf.autograph.experimental.do_not_convert  # plain tensor ops: nothing to convert (it warned under py-spy)
    def load(index, step):
        batch = tf.gather(images, index)
        if augmenting:
            batch = augment(batch, tf.stack([tf.cast(config.seed, tf.int64), step]))
        return batch, tf.gather(labels, index)

    return data.map(load, num_parallel_calls=tf.data.AUTOTUNE, deterministic=True).prefetch(4)


def _holdout(data: Mnist, config: TrainConfig) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """MNIST's training digits (or the subset's) split into those fitted and those held out to calibrate."""
    x, y = data.x_train, data.y_train
    if config.subset:
        x, y = x[: config.subset], y[: config.subset]
    held = len(x) // VALIDATION_SHARE
    return x[:-held], y[:-held], x[-held:], y[-held:]


def _as_input(images: np.ndarray) -> np.ndarray:
    return (images.astype(np.float32) / 255.0)[..., None]


@dataclass
class _Pool:
    """What a training fits and calibrates on: MNIST's fitted and held-out parts, and what is added to each."""

    fit_x: np.ndarray
    fit_y: np.ndarray
    val_x: np.ndarray
    val_y: np.ndarray
    negatives: int  # not-a-digit samples drawn for this training (0: a ten-class model)
    extra_x: list[np.ndarray] = field(default_factory=list)
    extra_y: list[np.ndarray] = field(default_factory=list)
    val_render_x: np.ndarray = field(default_factory=lambda: np.zeros((0, 28, 28), np.uint8))
    val_render_y: np.ndarray = field(default_factory=lambda: np.zeros(0, np.uint8))


def train(
    config: TrainConfig, data: Mnist, report: Report | None = None, corrections: Corrections | None = None
) -> TrainResult:
    """Fit the configured model on the training split (plus rendered uploads, negatives and corrections),
    calibrate it on the held-out part, and evaluate it on the test split as predict would answer. ``report``
    shows each step as it goes (nothing when None)."""
    from ml.calibration import answers

    report = report or Report.silent()
    started = time.perf_counter()
    # rendered before TensorFlow is imported: the renderers then run in forked processes
    pool = _pool(config, data, report)
    from ml.quiet import import_tensorflow

    report.line("loading TensorFlow...")
    import_tensorflow()
    from ml.models import NEIGHBOURS, ensemble

    config = replace(config, batch_size=min(config.batch_size, len(pool.fit_x)))
    members, history, progress = _fit_members(config, pool, corrections, report, started)
    shifts = NEIGHBOURS[: config.resolved_shifts()]
    unfamiliar = _fit_unfamiliar(members, shifts, pool, report) if pool.negatives else None
    model = ensemble(members, shifts, unfamiliar)
    report.line("calibrating on the held-out digits and testing on MNIST's test set...")
    calibration, validation_p, validation_y = _calibrate(model, pool)
    seconds = time.perf_counter() - started
    probabilities = model.predict(_as_input(data.x_test), batch_size=1000, verbose=0)
    served = answers(probabilities, calibration)
    return TrainResult(
        model=model,
        config=config,
        evaluation=evaluate_predictions(np.where(served.refused, NOT_A_DIGIT, served.digit), data.y_test),
        seconds=seconds,
        epochs=config.resolved_epochs(),
        parameters=int(model.count_params()),
        data_sha256=dict(data.sha256),
        history=history,  # the members' epochs one after the other
        test_probabilities=probabilities,
        corrections=_corrections_report(model, corrections, config),
        calibration=calibration,
        validation={
            **validation_report(validation_p, validation_y, calibration, len(pool.val_x)),
            "progress": progress.points,
            "seconds_to_99_5": next((s for *_, s, a in progress.points if a >= TIME_TO_ACCURACY), None),
        },
    )


def _pool(config: TrainConfig, data: Mnist, report: Report) -> _Pool:
    """MNIST split, and the rendered uploads, negatives and UCI's second hand the configuration adds."""
    from ml.realistic import planned, rendered_set

    fit_x, fit_y, val_x, val_y = _holdout(data, config)
    share = (len(fit_x) + len(val_x)) / len(data.x_train)
    pool = _Pool(fit_x, fit_y, val_x, val_y, round(config.negatives * share) if config.architecture != "mlp" else 0)
    uci = config.uci_train_half and not config.subset and config.architecture != "mlp"
    if uci:
        from ml.uci import uci_digits, uci_training_set

        raw_x, raw_y = uci_digits("train")
    # what is drawn, as (digits drawn from, their labels, digits, negatives, seed): uploads for training and
    # for the held-out check, and UCI's second hand as uploads too (its coarse digits were the most often refused)
    fit_draw = round(pool.negatives * RENDERED_DIGITS)
    n_val = max(20, round(VALIDATION_RENDERED * share))
    draws = [(fit_x, fit_y, fit_draw, pool.negatives, config.seed), (val_x, val_y, n_val, n_val, config.seed + 1)]
    if uci:
        draws.append((raw_x, raw_y, len(raw_x), 0, config.seed + 2))
    drawn = []
    if pool.negatives:
        total = sum(planned(d, n, len(x)) for x, _, d, n, _ in draws)
        with report.step("drawing uploads and not-a-digit pictures", total, "images") as progress:
            drawn = [rendered_set(*draw, progress=progress.advance, more=progress.grow) for draw in draws]
        pool.extra_x.append(drawn[0][0])
        pool.extra_y.append(drawn[0][1])
        pool.val_render_x, pool.val_render_y = drawn[1]
    if uci:
        ux, uy = uci_training_set()
        pool.extra_x += [ux] * UCI_REPEAT
        pool.extra_y += [uy] * UCI_REPEAT
        if pool.negatives:
            pool.extra_x += [drawn[2][0]] * UCI_REPEAT
            pool.extra_y += [drawn[2][1]] * UCI_REPEAT
    return pool


def _fit_members(config: TrainConfig, pool: _Pool, corrections: Corrections | None, report: Report, started: float):
    """The ensemble's members, each fitted from its own seed: (members, their history, the progress callback)."""
    import keras
    import tensorflow as tf

    from ml.models import build

    # an epoch is as many steps as MNIST alone needs: extra data costs no time, each epoch draws its
    # batches from the union
    steps = max(1, len(pool.fit_x) // config.batch_size)
    x = _as_input(np.concatenate([pool.fit_x, *pool.extra_x]))
    y = np.concatenate([pool.fit_y.astype(np.int32), *[e.astype(np.int32) for e in pool.extra_y]])
    if corrections is not None and not pool.negatives:  # "not a digit" is no class of a ten-class model
        corrections = corrections.digits_only()
    if corrections is not None and len(corrections):
        cx, cy = corrections.as_training(config.correction_weight)
        x, y = np.concatenate([x, cx]), np.concatenate([y, cy])
    epochs, count = config.resolved_epochs(), config.resolved_members()
    progress = _held_out_progress(keras, _as_input(pool.val_x), pool.val_y, started)
    members: list = []
    history: dict[str, list[float]] = {}
    images, labels = tf.constant(x), tf.constant(y)  # the whole pool once, not a copy per member
    name = f"training {count} model{'s' if count > 1 else ''} x {epochs} epochs"
    with deferred() as stop_if_asked, report.step(name, count * epochs * steps, "batches") as shown:

        def advance(batches: int) -> None:
            stop_if_asked()  # a Ctrl-C stops the training here, between two batches
            shown.advance(batches)

        for member in range(count):
            member_config = replace(config, seed=config.seed + member)  # its own weights, batch order, augmentation
            keras.utils.set_random_seed(member_config.seed)
            model = build(config.architecture, steps, epochs, DIGITS + 1 if pool.negatives else DIGITS)
            progress.member = member
            with (
                warnings.catch_warnings()
            ):  # Keras warns that a tf.data input ignores shuffle=True: ours shuffles itself
                warnings.filterwarnings("ignore", message="`shuffle=True` was passed")
                fitted = model.fit(
                    _dataset(images, labels, member_config, epochs, steps),
                    epochs=epochs,
                    steps_per_epoch=steps,
                    verbose=0,
                    callbacks=[progress, _batches(keras, advance)],
                )
            members.append(model)
            for k, vals in fitted.history.items():
                history.setdefault(k, []).extend(round(float(v), 5) for v in vals)
    return members, history, progress


UNFAMILIAR_FIT = 20_000  # MNIST digits the open-set score's Gaussians are fitted on (with every rendered digit)


def _fit_unfamiliar(members, shifts, pool: _Pool, report: Report):
    """``ml.openset``'s score fitted on the members' features of training digits (MNIST's and rendered
    uploads'), its offset set on the held-out ones."""
    from ml import openset
    from ml.models import ensemble_features

    report.line("fitting the open-set score on the digits' features...")
    rendered_x, rendered_y = pool.extra_x[0], pool.extra_y[0]  # the rendered uploads, digits and negatives
    digits = rendered_y < DIGITS
    fit_x = np.concatenate([pool.fit_x[:UNFAMILIAR_FIT], rendered_x[digits]])
    fit_y = np.concatenate([pool.fit_y[:UNFAMILIAR_FIT], rendered_y[digits]]).astype(int)
    held_x = np.concatenate([pool.val_x, pool.val_render_x[pool.val_render_y < DIGITS]])
    features = ensemble_features(members, shifts)
    return openset.fit(
        features.predict(_as_input(fit_x), batch_size=1000, verbose=0),
        fit_y,
        features.predict(_as_input(held_x), batch_size=1000, verbose=0),
    )


def _batches(keras, advance):
    """A callback that moves the training's progress a batch at a time."""

    class Batches(keras.callbacks.Callback):
        def on_train_batch_end(self, batch, logs=None) -> None:
            advance(1)

    return Batches()


def _calibrate(model, pool: _Pool):
    """The temperature fitted on the held-out digits: (calibration, their probabilities, their labels)."""
    from ml.calibration import Calibration, fit_temperature

    validation_x = _as_input(np.concatenate([pool.val_x, pool.val_render_x]))
    validation_y = np.concatenate([pool.val_y, pool.val_render_y]).astype(int)
    validation_p = model.predict(validation_x, batch_size=1000, verbose=0)
    # uploads matter as much as MNIST's own form: each half weighs the same in the fit
    rendered = len(pool.val_render_y)
    weights = np.concatenate(
        [np.full(len(pool.val_x), 1.0 / len(pool.val_x)), np.full(rendered, 1.0 / max(rendered, 1))]
    )
    return Calibration(fit_temperature(validation_p, validation_y, weights)), validation_p, validation_y


def _corrections_report(model, corrections: Corrections | None, config: TrainConfig) -> dict[str, Any] | None:
    if corrections is None:
        return None
    after = model.predict(_as_input(corrections.images), verbose=0) if len(corrections) else None
    return {
        "used": len(corrections),
        "weight": config.correction_weight,
        "accuracy_after": None if after is None else corrections.accuracy(after),
    }


TIME_TO_ACCURACY = 0.995  # the metrics say when the held-out MNIST digits first reached it


def _held_out_progress(keras, images: np.ndarray, labels: np.ndarray, started: float):
    """A callback that scores the held-out MNIST digits after every epoch of every member: (member, epoch,
    seconds since the training started, accuracy), from which the time to TIME_TO_ACCURACY is read (the
    first member alone is a usable model). The held-out digits are few: scoring them costs little an epoch."""

    class Progress(keras.callbacks.Callback):
        def __init__(self) -> None:
            super().__init__()
            self.member = 0
            self.points: list[tuple[int, int, float, float]] = []

        def on_epoch_end(self, epoch, logs=None) -> None:
            p = self.model.predict(images, batch_size=1000, verbose=0)
            accuracy = float((np.argmax(p[:, :DIGITS], axis=1) == labels).mean())
            self.points.append((self.member, epoch + 1, round(time.perf_counter() - started, 1), round(accuracy, 5)))

    return Progress()


def validation_report(probabilities: np.ndarray, labels: np.ndarray, calibration, raw_count: int) -> dict[str, Any]:
    """What the promotion gate compares: ECE on the held-out digits (MNIST's form and rendered uploads), the
    share of rendered held-out negatives refused and of held-out digits refused."""
    from ml.calibration import Calibration, answers, expected_calibration_error, given

    served = answers(probabilities, calibration)
    raw = answers(probabilities, Calibration(1.0, calibration.refuse_at))
    digits = labels < DIGITS
    negatives = ~digits
    return {
        "count": int(len(labels)),
        "mnist_form": raw_count,
        "ece": round(expected_calibration_error(*given(served, labels, digits)), 5),
        "ece_uncalibrated": round(expected_calibration_error(*given(raw, labels, digits)), 5),
        "digits_refused": round(float(served.refused[digits].mean()), 5),
        "negatives": int(negatives.sum()),
        "negatives_refused": round(float(served.refused[negatives].mean()), 5) if negatives.any() else None,
    }

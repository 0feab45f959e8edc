"""Model definitions. Imports Keras, so only the train side imports this module."""

from __future__ import annotations

import keras
from keras import layers

from ml.architectures import ARCHITECTURES, DEFAULT_EPOCHS

WIDTHS = (16, 32, 64)  # conv filters per block


def mlp() -> keras.Model:
    """The seed's model, unchanged: the baseline every number is compared with."""
    model = keras.Sequential(
        [
            keras.Input((28, 28, 1)),
            layers.Flatten(),
            layers.Dense(512, activation="relu"),
            layers.Dropout(0.2),
            layers.Dense(10, activation="softmax"),
        ],
        name="mlp",
    )
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    return model


def cnn(steps_per_epoch: int = 469, epochs: int = DEFAULT_EPOCHS["cnn"], classes: int = 10) -> keras.Model:
    """Small CNN sized for accuracy per CPU second on two cores.

    Three 3x3 conv blocks (conv, ReLU, 2x2 pool) and a narrow batch-normed head; a one-cycle style
    learning-rate schedule (warm-up, then cosine decay) converges in few epochs. ``classes`` 11 adds
    "not a digit" (ml.negatives).
    """

    def block(x, filters):
        # no batch norm here: on 2 CPU cores it doubled the step time (measured)
        x = layers.Conv2D(filters, 3, padding="same", activation="relu")(x)
        return layers.MaxPooling2D()(x)

    inputs = keras.Input((28, 28, 1))
    x = block(inputs, WIDTHS[0])
    x = block(x, WIDTHS[1])
    x = block(x, WIDTHS[2])
    x = layers.Flatten()(x)
    x = layers.Dense(128, use_bias=False)(x)
    x = layers.BatchNormalization(momentum=0.9)(x)  # settles within a short run too
    x = layers.ReLU()(x)
    x = layers.Dropout(0.25)(x)
    logits = layers.Dense(classes, name="logits")(x)
    outputs = layers.Activation("softmax", name="probabilities")(logits)
    model = keras.Model(inputs, outputs, name="cnn")
    total = max(1, steps_per_epoch * epochs)
    schedule = keras.optimizers.schedules.CosineDecay(
        initial_learning_rate=1e-4,
        decay_steps=total - total // 10,
        warmup_target=3e-3,
        warmup_steps=total // 10,
        alpha=0.01,
    )
    model.compile(
        optimizer=keras.optimizers.Adam(schedule),
        loss="sparse_categorical_crossentropy",
        metrics=["accuracy"],
    )
    return model


# A picture's eight one-pixel neighbours, (rows, columns): right, left, down, up, then the diagonals
NEIGHBOURS = ((0, 1), (0, -1), (1, 0), (-1, 0), (1, 1), (1, -1), (-1, 1), (-1, -1))


@keras.saving.register_keras_serializable(package="ml")
class ShiftedViews(layers.Layer):
    """(n, 28, 28, 1) -> (views * n, 28, 28, 1): the pictures moved by each shift (zeros fill in), view by view.

    Test-time augmentation inside the model, so the TFLite file, predict and every evaluation answer
    the same: where to put a digit within a pixel is exactly what centring cannot decide.
    """

    def __init__(self, shifts: tuple[tuple[int, int], ...], **kwargs):
        super().__init__(**kwargs)
        self.shifts = tuple((int(dy), int(dx)) for dy, dx in shifts)

    def call(self, images):
        padded = keras.ops.pad(images, [[0, 0], [1, 1], [1, 1], [0, 0]])
        return keras.ops.concatenate(
            [padded[:, 1 - dy : 29 - dy, 1 - dx : 29 - dx, :] for dy, dx in self.shifts], axis=0
        )

    def compute_output_shape(self, input_shape):
        return (None, *input_shape[1:])

    def get_config(self):
        return {**super().get_config(), "shifts": [list(s) for s in self.shifts]}


@keras.saving.register_keras_serializable(package="ml")
class ViewMean(layers.Layer):
    """(views * n, classes) -> (n, classes): each picture's logits averaged over its views."""

    def __init__(self, views: int, **kwargs):
        super().__init__(**kwargs)
        self.views = int(views)

    def call(self, logits):
        return keras.ops.mean(keras.ops.reshape(logits, (self.views, -1, logits.shape[-1])), axis=0)

    def compute_output_shape(self, input_shape):
        return (None, input_shape[-1])

    def get_config(self):
        return {**super().get_config(), "views": self.views}


@keras.saving.register_keras_serializable(package="ml")
class Unfamiliar(layers.Layer):
    """(features (n, D), logits (n, 11)) -> logits (n, 11) whose eleventh adds the odds of ``ml.openset``'s
    score: how far the features lie from every digit's. Its weights are fitted, never trained."""

    def __init__(self, dims: int, **kwargs):
        super().__init__(**kwargs)
        self.dims = int(dims)
        self.centres = self.add_weight(shape=(10, self.dims), initializer="zeros", trainable=False, name="centres")
        self.whiten = self.add_weight(shape=(self.dims, self.dims), initializer="zeros", trainable=False, name="whiten")
        self.offset = self.add_weight(shape=(), initializer="zeros", trainable=False, name="offset")
        self.scale = self.add_weight(shape=(), initializer="zeros", trainable=False, name="scale")

    def set_fitted(self, fitted) -> None:
        """Take an ``ml.openset.Unfamiliarity``'s values."""
        self.centres.assign(fitted.centres.astype("float32"))
        self.whiten.assign(fitted.whiten.astype("float32"))
        self.offset.assign(float(fitted.offset))
        self.scale.assign(float(fitted.scale))

    def call(self, features, logits):
        ops = keras.ops
        z = ops.matmul(features, self.whiten)
        # the differences themselves, not |z|^2 - 2 z.c + |c|^2: that cancels to noise in float32 near a centre
        squared = ops.sum(ops.square(z[:, None, :] - self.centres[None, :, :]), axis=2)
        log_odds = ops.clip(self.scale * (ops.min(squared, axis=1) - self.offset), -60.0, 60.0)
        digits = logits[:, :10]
        far = ops.logsumexp(digits, axis=1) + log_odds
        return ops.concatenate([digits, ops.logaddexp(logits[:, 10], far)[:, None]], axis=1)

    def compute_output_shape(self, features_shape, logits_shape):
        return logits_shape

    def fitted(self):
        """The ``ml.openset.Unfamiliarity`` this layer holds."""
        from ml.openset import Unfamiliarity

        centres, whiten, offset, scale = (
            keras.ops.convert_to_numpy(v) for v in (self.centres, self.whiten, self.offset, self.scale)
        )
        return Unfamiliarity(centres, whiten, float(offset), float(scale))

    def get_config(self):
        return {**super().get_config(), "dims": self.dims}


def _averaged(members: list[keras.Model], views, shifts, outputs: tuple[str, ...]):
    """Each member's ``outputs`` ("logits"; "features": what the logits layer reads) for every view, the
    views averaged: a list per output, a member each. One sub-model per member, whatever it outputs:
    model.keras must meet each member's layers once."""
    out: list[list] = [[] for _ in outputs]
    for i, m in enumerate(members):
        tensors = [m.get_layer("logits").output if o == "logits" else m.get_layer("logits").input for o in outputs]
        parts = keras.Model(m.inputs, tensors if len(tensors) > 1 else tensors[0], name=f"member_{i}")(views)
        for found, part in zip(out, parts if len(tensors) > 1 else [parts], strict=True):
            found.append(ViewMean(1 + len(shifts))(part) if shifts else part)
    return out


def _joined(parts: list):
    return layers.Concatenate()(parts) if len(parts) > 1 else parts[0]


def ensemble_features(members: list[keras.Model], shifts: tuple[tuple[int, int], ...] = ()) -> keras.Model:
    """(n, 28, 28, 1) -> (n, members * width): the members' last hidden features, each averaged over the
    picture and its ``shifts`` as ``ensemble`` averages their logits; what ``ml.openset`` is fitted on."""
    inputs = keras.Input((28, 28, 1))
    views = ShiftedViews(((0, 0), *shifts))(inputs) if shifts else inputs
    (features,) = _averaged(members, views, shifts, ("features",))
    return keras.Model(inputs, _joined(features), name="features")


def ensemble(members: list[keras.Model], shifts: tuple[tuple[int, int], ...] = (), unfamiliar=None) -> keras.Model:
    """One model that averages its members' logits over the picture and its ``shifts``: the softmax of
    the mean logit is the normalised geometric mean of the probabilities. Members trained from different
    seeds disagree on different digits, and so does one member on a digit moved by a pixel. Two members cost
    twice the training time; each view costs another inference of every member
    (benchmarks/test_time_shifts.py); predict still runs one TFLite file. ``unfamiliar`` (an
    ``ml.openset.Unfamiliarity``, for eleven-class members) adds its score to the eleventh class."""
    if len(members) == 1 and not shifts and unfamiliar is None:
        return members[0]
    inputs = keras.Input((28, 28, 1))
    views = ShiftedViews(((0, 0), *shifts))(inputs) if shifts else inputs
    wanted = ("logits",) if unfamiliar is None else ("logits", "features")
    logits, *features = _averaged(members, views, shifts, wanted)
    mean = layers.Average()(logits) if len(logits) > 1 else logits[0]
    if unfamiliar is not None:
        layer = Unfamiliar(int(unfamiliar.centres.shape[1]), name="unfamiliar")
        mean = layer(_joined(features[0]), mean)
        layer.set_fitted(unfamiliar)
    outputs = layers.Activation("softmax", name="probabilities")(mean)
    return keras.Model(inputs, outputs, name="ensemble")


def build(architecture: str, steps_per_epoch: int, epochs: int, classes: int = 10) -> keras.Model:
    if architecture == "mlp":
        return mlp()
    if architecture == "cnn":
        return cnn(steps_per_epoch, epochs, classes)
    raise ValueError(f"unknown architecture {architecture!r}; choose one of {', '.join(ARCHITECTURES)}")

"""Model definitions. Imports Keras, so only the train side imports this module."""

from __future__ import annotations

import keras
from keras import layers

from ml.training import ARCHITECTURES, DEFAULT_EPOCHS

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


def ensemble(members: list[keras.Model]) -> keras.Model:
    """One model that averages its members' logits: the softmax of the mean logit is the normalised
    geometric mean of their probabilities. Members trained from different seeds disagree on different
    digits; two cost twice the training time and inference time (tens of microseconds), and predict
    still runs one TFLite file."""
    if len(members) == 1:
        return members[0]
    inputs = keras.Input((28, 28, 1))
    logits = [
        keras.Model(m.inputs, m.get_layer("logits").output, name=f"member_{i}")(inputs) for i, m in enumerate(members)
    ]
    outputs = layers.Activation("softmax", name="probabilities")(layers.Average()(logits))
    return keras.Model(inputs, outputs, name="ensemble")


def build(architecture: str, steps_per_epoch: int, epochs: int, classes: int = 10) -> keras.Model:
    if architecture == "mlp":
        return mlp()
    if architecture == "cnn":
        return cnn(steps_per_epoch, epochs, classes)
    raise ValueError(f"unknown architecture {architecture!r}; choose one of {', '.join(ARCHITECTURES)}")

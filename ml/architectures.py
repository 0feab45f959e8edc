"""The models a training can build, named once: the training's parameters and the model builders use these."""

from __future__ import annotations

ARCHITECTURES = ("cnn", "mlp")
DEFAULT_EPOCHS = {"cnn": 10, "mlp": 5}

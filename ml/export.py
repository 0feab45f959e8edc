"""Keras model <-> bytes, and the TFLite export predict runs on. Imports TensorFlow."""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Any


def keras_to_bytes(model: Any) -> bytes:
    """``model.save`` wants a path ending in .keras; a temp file gives us bytes."""
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "model.keras"
        model.save(path)
        return path.read_bytes()


def keras_from_bytes(data: bytes) -> Any:
    import keras

    import ml.models  # noqa: F401  (registers the layers of the test-time shifts, which model.keras names)

    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "model.keras"
        path.write_bytes(data)
        return keras.models.load_model(path)


def to_tflite(model: Any) -> bytes:
    """Float32 TFLite flatbuffer with a dynamic batch dimension.

    ``from_keras_model`` it is: converting a hand-made ``tf.function`` around a
    Keras 3 model gave a flatbuffer that answered NaN (seen with TF 2.21).
    """
    from ml.quiet import import_tensorflow, native_chatter_filtered, stdout_to_debug_log

    import_tensorflow()
    import tensorflow as tf

    with stdout_to_debug_log("the TFLite converter"), native_chatter_filtered():
        return tf.lite.TFLiteConverter.from_keras_model(model).convert()

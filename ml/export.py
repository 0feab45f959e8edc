"""Keras model <-> bytes, and the TFLite export predict runs on. Imports TensorFlow."""
from __future__ import annotations

import os
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

    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "model.keras"
        path.write_bytes(data)
        return keras.models.load_model(path)


def to_tflite(model: Any) -> bytes:
    """Float32 TFLite flatbuffer with a dynamic batch dimension."""
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    import tensorflow as tf

    @tf.function(input_signature=[tf.TensorSpec([None, 28, 28, 1], tf.float32, name="image")])
    def serve(image):
        return model(image, training=False)

    converter = tf.lite.TFLiteConverter.from_concrete_functions([serve.get_concrete_function()], model)
    return converter.convert()

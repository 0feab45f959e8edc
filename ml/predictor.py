"""Inference on the TFLite export with LiteRT: no TensorFlow in the predict path."""

from __future__ import annotations

import threading
from dataclasses import dataclass

import numpy as np

from ml.artifacts import TFLITE_FILE, Artifact


@dataclass(frozen=True)
class Prediction:
    digit: int
    confidence: float
    probabilities: list[float]


class Predictor:
    """Loads one artifact and answers batches; safe to share between threads.

    A LiteRT interpreter is not thread-safe, so calls are serialised by a lock:
    a single 28x28 inference takes tens of microseconds, far less than the
    rest of a request, so the lock is never the bottleneck.
    """

    def __init__(self, artifact: Artifact):
        from ai_edge_litert.interpreter import Interpreter

        from ml.quiet import native_chatter_filtered

        artifact.verify()
        self.version = artifact.version
        self.metadata = artifact.metadata
        self._interpreter = Interpreter(model_content=artifact.files[TFLITE_FILE], num_threads=1)
        self._input = self._interpreter.get_input_details()[0]["index"]
        self._output = self._interpreter.get_output_details()[0]["index"]
        with native_chatter_filtered():  # the XNNPACK delegate announces itself on the first allocation
            self._interpreter.resize_tensor_input(self._input, [1, 28, 28, 1])
            self._interpreter.allocate_tensors()
        self._batch = 1
        self._lock = threading.Lock()

    def probabilities(self, images: np.ndarray) -> np.ndarray:
        """images: (n, 28, 28) float32 in [0, 1] -> (n, 10) probabilities."""
        batch = np.ascontiguousarray(images, dtype=np.float32).reshape(-1, 28, 28, 1)
        with self._lock:
            if batch.shape[0] != self._batch:
                self._interpreter.resize_tensor_input(self._input, list(batch.shape))
                self._interpreter.allocate_tensors()
                self._batch = batch.shape[0]
            self._interpreter.set_tensor(self._input, batch)
            self._interpreter.invoke()
            return self._interpreter.get_tensor(self._output).copy()

    def predict(self, images: np.ndarray) -> list[Prediction]:
        probs = self.probabilities(images)
        return [
            Prediction(digit=int(np.argmax(p)), confidence=float(np.max(p)), probabilities=[float(v) for v in p])
            for p in probs
        ]

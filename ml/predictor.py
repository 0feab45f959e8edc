"""Inference on the TFLite export with LiteRT: no TensorFlow in the predict path."""

from __future__ import annotations

import threading
from dataclasses import dataclass

import numpy as np

from ml.artifacts import TFLITE_FILE, Artifact
from ml.calibration import Calibration, answer_one, answers


@dataclass(frozen=True)
class Prediction:
    digit: int  # the likeliest digit (for a refused image too: what it would have said)
    confidence: float  # its calibrated probability
    probabilities: list[float]  # calibrated, per digit 0-9, given that the picture is a digit: they sum to 1
    not_a_digit: float = 0.0  # calibrated probability that the image is not a digit (0 for ten-class models)
    refused: bool = False  # not_a_digit reached the model's refuse_at: predict answers 422 not_a_digit


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
        self.calibration = Calibration.from_metadata(self.metadata)
        self._interpreter = Interpreter(model_content=artifact.files[TFLITE_FILE], num_threads=1)
        self._input = self._interpreter.get_input_details()[0]["index"]
        self._output = self._interpreter.get_output_details()[0]["index"]
        with native_chatter_filtered():  # the XNNPACK delegate announces itself on the first allocation
            self._interpreter.resize_tensor_input(self._input, [1, 28, 28, 1])
            self._interpreter.allocate_tensors()
        self._batch = 1
        self._lock = threading.Lock()

    def probabilities(self, images: np.ndarray) -> np.ndarray:
        """images: (n, 28, 28) float32 in [0, 1] -> (n, classes) probabilities as the model gives them
        (uncalibrated; 10 classes, or 11 with "not a digit")."""
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
        """What predict answers for each image: calibrated, and refused when it is not a digit."""
        probabilities = self.probabilities(images)
        if len(probabilities) == 1:  # an upload: plain Python is faster on one row of eleven values
            return [Prediction(*answer_one(probabilities[0].tolist(), self.calibration))]
        a = answers(probabilities, self.calibration)
        # tolist(): Python ints, floats and bools in one call per array, not one conversion per value
        return [
            Prediction(digit=d, confidence=c, probabilities=p, not_a_digit=n, refused=r)
            for d, c, p, n, r in zip(
                a.digit.tolist(),
                a.confidence.tolist(),
                a.probabilities.tolist(),
                a.not_a_digit.tolist(),
                a.refused.tolist(),
                strict=True,
            )
        ]

"""Train -> export -> check -> publish -> promote, shared by the CLI and the train function."""

from __future__ import annotations

import platform
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import numpy as np

from ml import preprocess
from ml.artifacts import CONFUSION_FILE, KERAS_FILE, RELIABILITY_FILE, TFLITE_FILE, Artifact, new_version
from ml.corrections import Corrections
from ml.errors import ArtifactError
from ml.interrupts import deferred
from ml.mnist import Mnist
from ml.parameters import Parameter, Parameters
from ml.predictor import Predictor
from ml.progress import Report
from ml.registry import ModelRegistry, PromotionConflict
from ml.training import TrainConfig, TrainResult, train

EXPORT_TOLERANCE = 1e-4


@dataclass(frozen=True)
class Outcome:
    version: str
    promoted: bool
    reason: str
    metrics: dict[str, Any]

    def as_dict(self) -> dict[str, Any]:
        return {"version": self.version, "promoted": self.promoted, "reason": self.reason, "metrics": self.metrics}


def _library_versions() -> dict[str, str]:
    from importlib.metadata import PackageNotFoundError, version

    found = {"python": platform.python_version()}
    for name in ("tensorflow-cpu", "keras", "numpy", "pillow", "scikit-image", "ai-edge-litert"):
        try:
            found[name] = version(name)
        except PackageNotFoundError:
            pass
    return found


def check_export(artifact: Artifact, keras_probabilities: np.ndarray, data: Mnist) -> dict[str, Any]:
    """The TFLite export must agree with Keras on the whole MNIST test set."""
    from ml.evaluation import batched_probabilities

    lite = batched_probabilities(Predictor(artifact), data.x_test)
    same = int((np.argmax(lite, axis=1) == np.argmax(keras_probabilities, axis=1)).sum())
    diff = float(np.max(np.abs(lite - keras_probabilities)))
    report = {"argmax_agree": same, "count": len(lite), "max_abs_diff": diff, "tolerance": EXPORT_TOLERANCE}
    if same != len(lite) or diff > EXPORT_TOLERANCE:
        raise ArtifactError(f"TFLite export disagrees with Keras: {report}")
    return report


def calibration_measures(result: TrainResult, data: Mnist) -> tuple[dict[str, Any], list[tuple[str, list[dict]]]]:
    """ECE on MNIST's test set as predict answers it, and the reliability curves to draw."""
    from ml.calibration import answers, expected_calibration_error, given, reliability

    if result.test_probabilities is None:
        raise ArtifactError("the training result carries no test-set probabilities")
    served = answers(result.test_probabilities, result.calibration)
    answered = given(served, data.y_test)
    measures = {
        "test_ece": round(expected_calibration_error(*answered), 5),
        "test_refused": round(float(served.refused.mean()), 5),
    }
    return measures, [(f"MNIST test (ECE {measures['test_ece']:.2%})", reliability(*answered))]


def build_artifact(result: TrainResult, data: Mnist) -> Artifact:
    from ml.export import keras_to_bytes, to_tflite
    from ml.plots import confusion_png, reliability_png

    version = new_version()
    measures, curves = calibration_measures(result, data)
    metrics = {**result.metrics(), **measures}
    payload = {
        KERAS_FILE: keras_to_bytes(result.model),
        TFLITE_FILE: to_tflite(result.model),
        CONFUSION_FILE: confusion_png(
            result.evaluation.confusion,
            f"{result.config.architecture} {version}: test accuracy {result.evaluation.accuracy:.2%}",
        ),
        RELIABILITY_FILE: reliability_png(curves, f"{version}: temperature {result.calibration.temperature:.3f}"),
    }
    metadata = {
        "created_at": datetime.now(UTC).isoformat(),
        "architecture": result.config.architecture,
        "parameters": result.parameters,
        "preprocessing_version": preprocess.VERSION,
        "metrics": metrics,
        "calibration": result.calibration.as_metadata(),
        "data_sha256": result.data_sha256,
        "libraries": _library_versions(),
    }
    provisional = Artifact.create(version, payload, metadata)
    if result.test_probabilities is None:
        raise ArtifactError("the training result carries no test-set probabilities to check the export against")
    metadata["export_check"] = check_export(provisional, result.test_probabilities, data)
    return Artifact.create(version, payload, metadata)


# The promotion gate's choices, declared once like the training's own (HTTP body, CLI flags, defaults).
GATE = Parameters(
    Parameter("min_accuracy", float, 0.99, "refuse a model below this MNIST test accuracy", 0.0, 1.0),
    Parameter("force", bool, False, "promote even if worse than the serving model"),
)


# What the gate compares beyond accuracy, from the metadata's metrics: (path, the better direction, what).
# Models from before calibration and refusal lack them; a measure either model lacks is not compared.
GATED_MEASURES = (
    (("test_ece",), -1, "calibration error (ECE) on MNIST test"),
    (("validation", "negatives_refused"), +1, "share of held-out negatives refused"),
    (("validation", "digits_refused"), -1, "share of held-out digits refused"),
)


def _measure(metrics: dict[str, Any] | None, path: tuple[str, ...]) -> float | None:
    value: Any = metrics or {}
    for key in path:
        value = value.get(key) if isinstance(value, dict) else None
    return float(value) if isinstance(value, int | float) else None


def gate(
    candidate: dict[str, Any], current: dict[str, Any] | None, min_accuracy: float, force: bool
) -> tuple[bool, str]:
    """Promote only a model that is good enough and, unless forced, not worse than the one serving in
    accuracy, in calibration, or in how it refuses not-a-digit uploads and digits."""
    accuracy = float(candidate["test_accuracy"])
    if accuracy < min_accuracy:
        return False, f"test accuracy {accuracy:.4f} is below the minimum {min_accuracy:.4f}"
    if current is not None and not force:
        now = _measure(current, ("test_accuracy",))
        if now is not None and accuracy < now:
            return False, f"test accuracy {accuracy:.4f} is worse than the current model's {now:.4f}"
        for path, better, what in GATED_MEASURES:
            mine, theirs = _measure(candidate, path), _measure(current, path)
            if mine is not None and theirs is not None and (mine - theirs) * better < 0:
                return False, f"{what} {mine:.4f} is worse than the current model's {theirs:.4f}"
    return True, f"test accuracy {accuracy:.4f} passed the gate (minimum {min_accuracy:.4f})"


def accuracy_before(corrections: Corrections, registry: ModelRegistry, version: str | None) -> float | None:
    """How the model serving now does on the corrections (most were its mistakes)."""
    if version is None or not len(corrections):
        return None
    from ml.evaluation import batched_probabilities

    predictor = Predictor(registry.load(version, files=(TFLITE_FILE,)))
    return corrections.accuracy(batched_probabilities(predictor, corrections.images))


def train_and_publish(
    config: TrainConfig,
    data: Mnist,
    registry: ModelRegistry,
    min_accuracy: float = GATE["min_accuracy"].default,
    force: bool = GATE["force"].default,
    report: Report | None = None,
    corrections: Corrections | None = None,
) -> Outcome:
    """The promotion gate looks at the MNIST test set only, with or without corrections: the corrections
    never come from it, so a model trained on wrong corrections must still beat the serving one there.

    Promotion is conditional on LATEST being what it was when training started: of two trainings that
    race, the later one to finish is not promoted (unless forced) and says why."""
    pointer = registry.pointer()
    current_version = pointer.version
    result = train(config, data, report, corrections)
    if corrections is not None:
        result.corrections = {
            **(result.corrections or {}),
            "accuracy_before": accuracy_before(corrections, registry, current_version),
            "model_before": current_version,
            "note": "accuracy on the corrected images themselves; the new model was trained on them",
        }
    (report or Report.silent()).line("exporting the model for serving, checking it, publishing it...")
    artifact = build_artifact(result, data)
    with deferred():  # a Ctrl-C from here waits: the version is published (and promoted) whole, or not at all
        registry.publish(artifact)
        current = registry.metadata(current_version).get("metrics", {}) if current_version else None
        promoted, reason = gate(artifact.metadata["metrics"], current, min_accuracy, force)
        if promoted:
            try:
                registry.promote(artifact.version, None if force else pointer)
            except PromotionConflict as exc:
                promoted, reason = False, f"{exc}; train again, or promote it with force"
    return Outcome(artifact.version, promoted, reason, artifact.metadata["metrics"])

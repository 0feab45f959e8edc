from datetime import UTC

import pytest

from ml.artifacts import METADATA_FILE, TFLITE_FILE, Artifact, new_version
from ml.errors import ArtifactError
from ml.pipeline import gate
from ml.registry import ModelRegistry
from ml.storage.filestore import FileObjectStore


def make(version="20260101T000000Z-aaaaaa"):
    return Artifact.create(
        version, {TFLITE_FILE: b"model bytes", "extra.bin": b"x"}, {"metrics": {"test_accuracy": 0.99}}
    )


def test_versions_sort_by_time():
    from datetime import datetime

    early = new_version(datetime(2026, 1, 1, tzinfo=UTC))
    late = new_version(datetime(2026, 1, 2, tzinfo=UTC))
    assert early < late


def test_metadata_lists_checksums_and_verifies():
    artifact = make()
    artifact.verify()
    assert artifact.metadata["files"][TFLITE_FILE]["bytes"] == len(b"model bytes")


def test_tampered_file_is_detected():
    artifact = make()
    bad = Artifact(artifact.version, {**artifact.files, TFLITE_FILE: b"model bytez"})
    with pytest.raises(ArtifactError, match="sha256"):
        bad.verify()


def test_metadata_for_another_version_is_refused():
    artifact = make()
    with pytest.raises(ArtifactError, match="version mismatch"):
        Artifact("other", artifact.files).verify()


def test_registry_publishes_then_promotes(tmp_path):
    registry = ModelRegistry(FileObjectStore(tmp_path))
    artifact = make()
    registry.publish(artifact)
    assert registry.latest_version() is None  # published is not promoted
    registry.promote(artifact.version)
    assert registry.latest_version() == artifact.version
    loaded = registry.load(artifact.version)
    loaded.verify()
    assert loaded.files == artifact.files
    assert registry.versions() == [artifact.version]


def test_incomplete_version_is_refused(tmp_path):
    store = FileObjectStore(tmp_path)
    registry = ModelRegistry(store)
    artifact = make()
    store.put(f"models/{artifact.version}/{TFLITE_FILE}", b"model bytes")  # no metadata yet
    with pytest.raises(ArtifactError, match="metadata.json"):
        registry.load(artifact.version)
    store.put(f"models/{artifact.version}/{METADATA_FILE}", artifact.files[METADATA_FILE])
    with pytest.raises(ArtifactError, match="extra.bin is missing"):
        registry.load(artifact.version)


def test_file_store_refuses_keys_that_escape_its_root(tmp_path):
    with pytest.raises(ValueError):
        FileObjectStore(tmp_path / "store").put("../outside", b"x")


@pytest.mark.parametrize(
    "accuracy, current, force, promoted",
    [(0.995, None, False, True), (0.98, None, False, False), (0.991, 0.993, False, False), (0.991, 0.993, True, True)],
)
def test_gate(accuracy, current, force, promoted):
    serving = None if current is None else {"test_accuracy": current}
    assert gate({"test_accuracy": accuracy}, serving, 0.99, force)[0] is promoted


SERVING = {
    "test_accuracy": 0.995,
    "test_ece": 0.004,
    "validation": {"negatives_refused": 0.96, "digits_refused": 0.002},
}


@pytest.mark.parametrize(
    "change, promoted, named",
    [
        ({}, True, "passed"),
        ({"test_ece": 0.006}, False, "ECE"),
        ({"validation": {"negatives_refused": 0.95, "digits_refused": 0.002}}, False, "negatives refused"),
        ({"validation": {"negatives_refused": 0.96, "digits_refused": 0.003}}, False, "digits refused"),
        ({"test_ece": 0.003, "validation": {"negatives_refused": 0.99, "digits_refused": 0.001}}, True, "passed"),
    ],
)
def test_gate_compares_calibration_and_refusals_with_the_serving_model(change, promoted, named):
    ok, reason = gate({**SERVING, **change}, SERVING, 0.99, False)
    assert ok is promoted and named in reason
    assert gate({**SERVING, **change}, SERVING, 0.99, True)[0] is True  # forced


def test_gate_skips_measures_a_model_from_before_lacks():
    assert gate(SERVING, {"test_accuracy": 0.99}, 0.99, False)[0] is True


def test_rollback_returns_to_the_previous_complete_version(tmp_path):
    store = FileObjectStore(tmp_path)
    registry = ModelRegistry(store)
    first, second, third = (make(f"2026010{i}T000000Z-aaaaaa") for i in (1, 2, 3))
    for artifact in (first, second, third):
        registry.publish(artifact)
        registry.promote(artifact.version)
    store.delete(f"models/{second.version}/{TFLITE_FILE}")  # second is no longer complete
    assert registry.rollback() == (third.version, first.version)
    assert registry.latest_version() == first.version
    with pytest.raises(ArtifactError, match="no earlier"):
        registry.rollback()

"""Publishing is atomic from a reader's view: a publisher SIGKILLed at random moments
never makes the predict side load a partial model."""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import time

from ml.registry import ModelRegistry
from ml.storage.filestore import FileObjectStore
from service.model_cache import ModelCache
from tests.conftest import MODEL_STORE, ROOT

PUBLISHER = """
import sys
from pathlib import Path
from ml.artifacts import Artifact, new_version
from ml.registry import ModelRegistry
from ml.storage.filestore import FileObjectStore
source = ModelRegistry(FileObjectStore(Path(sys.argv[1])))
shipped = source.load(source.latest_version())
target = ModelRegistry(FileObjectStore(Path(sys.argv[2])))
while True:  # publish fresh versions of the real model until killed
    version = new_version()
    payload = {k: v for k, v in shipped.files.items() if k != "metadata.json"}
    artifact = Artifact.create(version, payload, {k: v for k, v in shipped.metadata.items() if k not in ("files", "version", "format")})
    target.publish(artifact)
    target.promote(version)
    print(version, flush=True)
"""


def test_sigkill_during_publishing_never_yields_a_partial_model(tmp_path):
    store = tmp_path / "store"
    rng = random.Random(7)
    cache = ModelCache(ModelRegistry(FileObjectStore(store)), refresh_seconds=0)
    loaded = set()
    for _ in range(8):
        proc = subprocess.Popen(
            [sys.executable, "-c", PUBLISHER, str(MODEL_STORE), str(store)],
            cwd=ROOT,
            env={**os.environ, "PYTHONPATH": str(ROOT)},
            stdout=subprocess.PIPE,
            text=True,
        )
        assert proc.stdout is not None
        for _ in range(rng.randint(1, 3)):  # wait (the pipe's read has the test timeout as deadline) for publications
            assert proc.stdout.readline(), "the publisher died"
        time.sleep(rng.uniform(0, 0.05))  # then kill it somewhere inside its next publication
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait()
        proc.stdout.close()
        predictor = cache.get()  # must be a complete, checksum-verified version
        assert cache.last_error is None
        loaded.add(predictor.version)
        # and every promoted pointer names a complete version
        registry = ModelRegistry(FileObjectStore(store))
        registry.load(registry.latest_version()).verify()
    assert len(loaded) == 8  # each round published at least one new version, and the reader took it


def test_make_run_publishes_the_shipped_model_once_and_only_if_it_verifies(tmp_path):
    import shutil

    import pytest

    from ml.errors import ArtifactError
    from scripts.starter_model import publish_starter

    store = f"file://{tmp_path / 'models'}"
    version = publish_starter(store)
    assert version == ModelRegistry(FileObjectStore(MODEL_STORE)).latest_version()
    assert ModelRegistry(FileObjectStore(tmp_path / "models")).latest_version() == version
    assert publish_starter(store) is None  # a store with a model is left alone
    damaged = tmp_path / "damaged"
    shutil.copytree(MODEL_STORE, damaged)
    tflite = next(damaged.rglob("model.tflite"))
    data = bytearray(tflite.read_bytes())
    data[len(data) // 2] ^= 0xFF  # one flipped byte: its sha256 no longer matches the metadata
    tflite.write_bytes(bytes(data))
    with pytest.raises(ArtifactError):
        publish_starter(f"file://{tmp_path / 'other'}", damaged)
    assert ModelRegistry(FileObjectStore(tmp_path / "other")).latest_version() is None

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
from service.models import ModelCache
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
"""


def test_sigkill_during_publishing_never_yields_a_partial_model(tmp_path):
    store = tmp_path / "store"
    rng = random.Random(7)
    cache = ModelCache(ModelRegistry(FileObjectStore(store)), refresh_seconds=0)
    loaded = set()
    for _ in range(12):
        proc = subprocess.Popen([sys.executable, "-c", PUBLISHER, str(MODEL_STORE), str(store)], cwd=ROOT,
                                env={**os.environ, "PYTHONPATH": str(ROOT)})
        time.sleep(rng.uniform(0.6, 1.5))  # import time + a few publications
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait()
        predictor = cache.get()  # must be a complete, checksum-verified version
        assert cache.last_error is None
        loaded.add(predictor.version)
        # and every promoted pointer names a complete version
        registry = ModelRegistry(FileObjectStore(store))
        registry.load(registry.latest_version()).verify()
    assert len(loaded) >= 2  # it really did swap models between kills

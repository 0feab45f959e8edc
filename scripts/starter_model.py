"""`make run` on an empty model store: publish the model this repository ships instead of training first.

The shipped model (`tests/fixtures/modelstore/`, trained by this repository's own `make golden`) is
loaded and verified like any artifact (every file against the sha256 in its metadata) before it is
published and promoted, so a first run answers within seconds; `make train` (or the train function)
trains a fresh one whenever you like.

    .venv/bin/python -m scripts.starter_model        # MODEL_STORE from the environment, as everywhere
"""

from __future__ import annotations

import sys
from pathlib import Path

from ml.registry import ModelRegistry
from ml.storage import open_object_store
from service.settings import Settings

SHIPPED = Path(__file__).resolve().parents[1] / "tests" / "fixtures" / "modelstore"


def publish_starter(store_url: str, source: Path = SHIPPED) -> str | None:
    """The version now promoted in ``store_url``; the shipped one is published only if there was none.
    Returns None when the store already had a model (nothing to say)."""
    target = ModelRegistry(open_object_store(store_url))
    if target.latest_version():
        return None
    shipped = ModelRegistry(open_object_store(str(source)))
    version = shipped.latest_version()
    if not version:
        raise RuntimeError(f"{source} holds no promoted model")
    artifact = shipped.load(version)
    artifact.verify()  # every file against its sha256 in metadata.json
    target.publish(artifact)
    target.promote(version)
    return version


def main() -> int:
    settings = Settings.from_env()
    version = publish_starter(settings.model_store)
    if version:
        accuracy = (
            ModelRegistry(open_object_store(settings.model_store))
            .metadata(version)
            .get("metrics", {})
            .get("test_accuracy")
        )
        print(
            f"no model in {settings.model_store} yet: published the starter model this repository ships "
            f"({version}, MNIST test accuracy {accuracy:.2%}), checksums verified.\n"
            f"Train a fresh one any time: `make train`, or POST to the train function."
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""The work every peer server does per request, the same as ours: the shipped model, ml.preprocess, one
multipart ``file`` part in, ``{"digit", "confidence"}`` out. No prediction log, metrics or access lines:
the peers show what the HTTP stack costs, and the gap to ours what our guarantees cost."""

from __future__ import annotations

import json
from pathlib import Path

from ml.predictor import Predictor
from ml.preprocess import preprocess
from ml.registry import ModelRegistry
from ml.storage.filestore import FileObjectStore

MODEL_STORE = Path(__file__).resolve().parents[2] / "tests" / "fixtures" / "modelstore"


def load_predictor() -> Predictor:
    registry = ModelRegistry(FileObjectStore(MODEL_STORE))
    return Predictor(registry.load(registry.latest_version(), files=("model.tflite",)))


def answer(predictor: Predictor, image: bytes) -> bytes:
    prediction = predictor.predict(preprocess(image)[None])[0]
    return json.dumps({"digit": prediction.digit, "confidence": round(prediction.confidence, 6)}).encode()


async def read_body(receive) -> bytes:
    """The whole body of an ASGI request."""
    chunks = []
    while True:
        message = await receive()
        chunks.append(message.get("body", b""))
        if not message.get("more_body"):
            return b"".join(chunks)

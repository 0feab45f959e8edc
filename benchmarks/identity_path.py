"""MNIST's test set as PNG uploads, scored three ways with the shipped model: in process (the arrays), the
old upload path (every picture normalised again), and preprocess now (MNIST-form pictures unchanged).

    .venv/bin/python benchmarks/identity_path.py
"""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
from PIL import Image

from ml import mnist
from ml.decode import decode
from ml.errors import NoDigitFound
from ml.evaluation import batched_probabilities
from ml.normalise import composite, normalise
from ml.predictor import Predictor
from ml.preprocess import preprocess
from ml.registry import ModelRegistry
from ml.storage.filestore import FileObjectStore

ROOT = Path(__file__).resolve().parents[1]


def png(digit: np.ndarray) -> bytes:
    out = io.BytesIO()
    Image.fromarray(digit).save(out, "PNG")
    return out.getvalue()


def normalised_again(data: bytes) -> np.ndarray | None:
    """The upload path before the identity path: None where it answered 422 no_digit_found."""
    decoded = decode(data)
    try:
        return normalise(composite(decoded.luma, decoded.alpha))
    except NoDigitFound:
        return None


def main() -> None:
    data = mnist.load(mnist.DirectorySource(ROOT / "data" / "mnist"))
    registry = ModelRegistry(FileObjectStore(ROOT / "tests" / "fixtures" / "modelstore"))
    predictor = Predictor(registry.load(registry.latest_version()))
    labels = data.y_test
    uploads = [png(digit) for digit in data.x_test]

    def accuracy(images: list[np.ndarray | None]) -> float:
        answered = [i for i, image in enumerate(images) if image is not None]
        digits = np.argmax(predictor.probabilities(np.stack([images[i] for i in answered])), axis=1)
        return float((digits == labels[answered]).sum() / len(labels))  # a refusal is never right

    in_process = float((np.argmax(batched_probabilities(predictor, data.x_test), axis=1) == labels).mean())
    old = [normalised_again(upload) for upload in uploads]
    now = [preprocess(upload) for upload in uploads]
    refused = sum(image is None for image in old)
    print(f"model {predictor.version}, MNIST test set (10,000):")
    print(f"  in process                     {in_process:.2%}")
    print(f"  as PNG, normalised again       {accuracy(old):.2%} ({refused} refused as no digit)")
    print(f"  as PNG, MNIST form unchanged   {accuracy(now):.2%}")


if __name__ == "__main__":
    main()

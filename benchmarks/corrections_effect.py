"""Does the correction loop help on uploads unlike MNIST? A simulation of it, end to end.

1. Model A: the default cnn trained on MNIST only (no UCI digits).
2. "Users" upload the UCI digits' train half, rendered as canvas exports, scans and phone photos
   (ml.devset), through the real preprocessing; every answer A gets wrong is corrected to the right
   digit: the correction holds the 28x28 image predict stored, exactly as POST /label would.
3. Model B: the same training plus those corrections (weight 10), as `include_corrections` does.
4. Both, and the shipped default model (trained with all of the UCI train half), are scored on the
   held-out half (the dev set's uci_digits category, every image) and on MNIST's test set.

    .venv/bin/python benchmarks/corrections_effect.py [--weight 10]
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def uploads(images, labels, category: str, seed: int):
    """(28x28 uint8 as predict stores it, label) for each rendered upload; refused ones are skipped."""
    from ml import devset
    from ml.errors import MLError
    from ml.preprocess import preprocess

    rng = np.random.default_rng(seed)
    out = []
    for image, label in zip(images, labels, strict=True):
        _, data = devset.render(category, image, rng)
        try:
            out.append((np.round(preprocess(data) * 255).astype(np.uint8), int(label)))
        except MLError:
            continue
    return np.stack([a for a, _ in out]), np.array([b for _, b in out])


def accuracy(model_probabilities, labels) -> float:
    return float((np.argmax(model_probabilities, axis=1) == labels).mean())


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--weight", type=int, default=10)
    args = parser.parse_args()

    from ml import mnist, uci
    from ml.corrections import Corrections
    from ml.predictor import Predictor
    from ml.registry import ModelRegistry
    from ml.storage.filestore import FileObjectStore
    from ml.training import TrainConfig, train

    data = mnist.load(mnist.DirectorySource(ROOT / "data" / "mnist"))
    started = time.perf_counter()
    seen_x, seen_y = uploads(*uci.uci_digits("train"), "uci_digits", seed=7)
    held_x, held_y = uploads(*uci.uci_digits("eval"), "uci_digits", seed=2024)
    print(
        f"rendered and preprocessed {len(seen_y)} uploads (train half) and {len(held_y)} held-out "
        f"in {time.perf_counter() - started:.0f} s",
        flush=True,
    )

    def score(name: str, probabilities_of) -> None:
        print(f"{name:<48} held-out UCI uploads {accuracy(probabilities_of(held_x), held_y):.2%}", flush=True)

    keras_probs = lambda model: lambda x: model.predict(x.astype(np.float32)[..., None] / 255.0, verbose=0)  # noqa: E731
    config = TrainConfig(uci_train_half=False)
    a = train(config, data)
    print(f"model A (MNIST only): MNIST test {a.evaluation.accuracy:.2%}, {a.seconds:.0f} s", flush=True)
    wrong = np.argmax(keras_probs(a.model)(seen_x), axis=1) != seen_y
    corrections = Corrections(seen_x[wrong], seen_y[wrong].astype(np.uint8))
    print(f"A got {int(wrong.sum())} of {len(seen_y)} uploads wrong: they become the corrections", flush=True)
    score("model A", keras_probs(a.model))
    b = train(TrainConfig(uci_train_half=False, correction_weight=args.weight), data, corrections=corrections)
    print(
        f"model B (MNIST + {len(corrections)} corrections x{args.weight}): MNIST test {b.evaluation.accuracy:.2%}, "
        f"{b.seconds:.0f} s; on the corrections themselves {b.corrections['accuracy_after']:.2%}",
        flush=True,
    )
    score("model B", keras_probs(b.model))
    registry = ModelRegistry(FileObjectStore(ROOT / "tests" / "fixtures" / "modelstore"))
    shipped = Predictor(registry.load(registry.latest_version()))
    score(f"shipped {shipped.version} (all UCI train images)", lambda x: shipped.probabilities(x / 255.0))


if __name__ == "__main__":
    main()

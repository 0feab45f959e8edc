"""The least each of bench.py's in-process pictures can cost here, beside what ours costs: is a latency target
reachable at all on this machine, whatever preprocessing does?

    .venv/bin/python -m benchmarks.floors [--runs 200]

Per picture, in rounds that interleave the three (so the machine's noise falls on all alike), medians:
- ours: decode, preprocess and predict, as bench.py's in-process section times it;
- the decode floor: the least Pillow does to read the file's pixels at all: a JPEG at its coarsest DCT scale
  (1/8), in luma only, which still entropy-decodes every byte; a PNG opened and loaded (its zlib stream has
  no shortcut);
- the model floor: one 28x28 array through the same model (the input every picture ends as).
The floor is the two added: no preprocessing, however clever, answers faster than reading the file and running
the model once.
"""

from __future__ import annotations

import argparse
import io
import statistics
import sys
import time
from collections.abc import Callable

import numpy as np
from PIL import Image

from benchmarks import bench
from ml import mnist
from ml.predictor import Predictor
from ml.preprocess import preprocess
from ml.registry import ModelRegistry
from ml.storage.filestore import FileObjectStore

# the in-process targets of the performance round, medians in ms
TARGETS = {"280x280 RGBA canvas PNG": 1.0, "1000x1000 phone JPEG": 2.5, "4000x3000 JPEG": 8.0}


def least_decode(data: bytes) -> Image.Image:
    """The file's pixels at the least cost Pillow has for its format."""
    image = Image.open(io.BytesIO(data))
    if image.format == "JPEG":
        image.draft("L", (max(1, image.size[0] // 8), max(1, image.size[1] // 8)))
    image.load()
    return image


def timed_rounds(steps: dict[str, Callable[[], object]], runs: int) -> dict[str, float]:
    """Median ms of each step, the steps taking turns in every round."""
    samples: dict[str, list[float]] = {name: [] for name in steps}
    for _ in range(runs):
        for name, step in steps.items():
            started = time.perf_counter()
            step()
            samples[name].append((time.perf_counter() - started) * 1000)
    return {name: statistics.median(values) for name, values in samples.items()}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=200)
    args = parser.parse_args(argv)
    pictures = bench.images(mnist.load(mnist.DirectorySource(bench.ROOT / "data" / "mnist")))
    registry = ModelRegistry(FileObjectStore(bench.MODEL_STORE))
    predictor = Predictor(registry.load(registry.latest_version(), files=("model.tflite",)))
    one = np.zeros((1, 28, 28), dtype=np.float32)
    print(f"medians of {args.runs} interleaved rounds, ms; model {predictor.version}")
    print()
    print("| picture | bytes | ours | decode floor | model floor | floor | target | target reachable |")
    print("|---|---|---|---|---|---|---|---|")
    for name, target in TARGETS.items():
        data = pictures[name]
        median = timed_rounds(
            {
                "ours": lambda data=data: predictor.predict(preprocess(data)[None]),
                "decode": lambda data=data: least_decode(data),
                "model": lambda: predictor.probabilities(one),
            },
            args.runs,
        )
        floor = median["decode"] + median["model"]
        print(
            f"| {name} | {len(data):,} | {median['ours']:.2f} | {median['decode']:.2f} | {median['model']:.2f} "
            f"| {floor:.2f} | {target:g} | {'yes' if floor <= target else 'no: the floor is above it'} |",
            flush=True,
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())

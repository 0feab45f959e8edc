"""What the test-time shifts cost and buy: the shipped model's members rebuilt with 0, 4 and 8 one-pixel
shifts, each exported to TFLite as predict runs it, timed on one picture at a time (LiteRT, one thread) and
scored on MNIST's test set and, with ``--per-category``, on the realistic dev set.

    .venv/bin/python -m benchmarks.test_time_shifts [--per-category 200]

The shipped model's temperature is applied to all three (it was fitted with the default four shifts).
"""

from __future__ import annotations

import argparse
import statistics
import time
from pathlib import Path

import numpy as np

from ml import devset, mnist
from ml.artifacts import KERAS_FILE
from ml.calibration import Calibration, answers
from ml.errors import MLError
from ml.preprocess import preprocess
from ml.registry import ModelRegistry
from ml.storage.filestore import FileObjectStore

ROOT = Path(__file__).resolve().parents[1]
RUNS = 2000


def interpreter(flatbuffer: bytes, batch: int):
    from ai_edge_litert.interpreter import Interpreter

    it = Interpreter(model_content=flatbuffer, num_threads=1)
    it.resize_tensor_input(it.get_input_details()[0]["index"], [batch, 28, 28, 1])
    it.allocate_tensors()
    return it


def run(it, images: np.ndarray) -> np.ndarray:
    it.set_tensor(it.get_input_details()[0]["index"], images)
    it.invoke()
    return it.get_tensor(it.get_output_details()[0]["index"]).copy()


def probabilities(flatbuffer: bytes, images: np.ndarray, batch: int = 500) -> np.ndarray:
    it = interpreter(flatbuffer, batch)
    padded = np.concatenate([images, np.zeros(((-len(images)) % batch, 28, 28, 1), np.float32)])
    return np.concatenate([run(it, padded[i : i + batch]) for i in range(0, len(padded), batch)])[: len(images)]


def one_at_a_time(flatbuffer: bytes, images: np.ndarray) -> list[float]:
    it = interpreter(flatbuffer, 1)
    times = []
    for i in range(RUNS):
        started = time.perf_counter()
        run(it, images[i % len(images)][None])
        times.append(time.perf_counter() - started)
    return times


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--per-category", type=int, default=0, help="dev-set uploads per category (0: none)")
    args = parser.parse_args()
    data = mnist.load(mnist.DirectorySource(ROOT / "data" / "mnist"))
    test = (data.x_test.astype(np.float32) / 255.0)[..., None]
    dev_x, dev_y, dev_total = [], [], 0
    if args.per_category:
        for sample in devset.generate(data.x_test, data.y_test, args.per_category):
            dev_total += 1
            try:
                dev_x.append(preprocess(sample.data))
                dev_y.append(sample.label)
            except MLError:
                pass  # refused before the model: the same for every variant
    # TensorFlow only now: the uploads above are rendered and preprocessed without its threads about
    from ml.export import keras_from_bytes, to_tflite
    from ml.models import NEIGHBOURS, ensemble

    registry = ModelRegistry(FileObjectStore(ROOT / "tests" / "fixtures" / "modelstore"))
    artifact = registry.load(registry.latest_version(), files=(KERAS_FILE,))
    shipped = keras_from_bytes(artifact.files[KERAS_FILE])
    members = [layer for layer in shipped.layers if layer.name.startswith("member_")]
    calibration = Calibration.from_metadata(artifact.metadata)
    print(f"model {artifact.version}: {len(members)} members, temperature {calibration.temperature}")
    for shifts in (0, 4, 8):
        flatbuffer = to_tflite(ensemble(members, NEIGHBOURS[:shifts]))
        times = sorted(one_at_a_time(flatbuffer, test))
        a = answers(probabilities(flatbuffer, test), calibration)
        line = (
            f"{shifts} shifts: one picture median {statistics.median(times) * 1e6:.0f} us, "
            f"p99 {times[int(0.99 * len(times))] * 1e6:.0f} us ({RUNS} runs); "
            f"MNIST test {((a.digit == data.y_test) & ~a.refused).mean():.2%} ({int(a.refused.sum())} refused)"
        )
        if dev_x:
            d = answers(probabilities(flatbuffer, np.stack(dev_x)[..., None]), calibration)
            right = int(((d.digit == np.asarray(dev_y)) & ~d.refused).sum())
            line += f"; dev set {right / dev_total:.2%} ({right} of {dev_total})"
        print(line, flush=True)


if __name__ == "__main__":
    main()

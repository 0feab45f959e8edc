"""Pages of specks and no digit against dev-set digits, with the speck rules of ``ml.normalise`` on and off.

The speck families here (pepper noise, round dust, short scratches; white and grey paper; PNG and JPEG) are
not the ones the rules were set on (square specks), and the dev set is drawn from another seed than eval's:

    .venv/bin/python -m benchmarks.specks --per-category 100 --seed 7 [--rules off]
"""

from __future__ import annotations

import argparse
import collections
import io
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw, ImageFilter
from skimage.util import random_noise

from ml import devset, mnist
from ml import normalise as rules
from ml.errors import MLError, NoDigitFound
from ml.predictor import Predictor
from ml.preprocess import preprocess
from ml.registry import ModelRegistry
from ml.storage.filestore import FileObjectStore

ROOT = Path(__file__).resolve().parents[1]


def _encoded(grey: np.ndarray, fmt: str) -> bytes:
    out = io.BytesIO()
    Image.fromarray(grey).save(out, fmt)
    return out.getvalue()


def pepper(size: int, amount: float, seed: int, paper: int) -> np.ndarray:
    noisy = random_noise(np.full((size, size), paper / 255), mode="pepper", amount=amount, rng=seed)
    return (noisy * 255).astype(np.uint8)


def dust(size: int, count: int, seed: int, paper: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    page = Image.new("L", (size, size), paper)
    draw = ImageDraw.Draw(page)
    for _ in range(count):
        radius, (x, y) = rng.uniform(0.5, size / 150), rng.uniform(0, size, 2)
        draw.ellipse([x - radius, y - radius, x + radius, y + radius], fill=int(rng.integers(0, 90)))
    return np.asarray(page.filter(ImageFilter.GaussianBlur(0.7)))


def scratches(size: int, count: int, seed: int, paper: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    page = Image.new("L", (size, size), paper)
    draw = ImageDraw.Draw(page)
    for _ in range(count):
        (x, y), length, angle = rng.uniform(0, size, 2), rng.uniform(2, size / 60), rng.uniform(0, np.pi)
        draw.line([x, y, x + length * np.cos(angle), y + length * np.sin(angle)], fill=int(rng.integers(0, 90)))
    return np.asarray(page)


FAMILIES = {
    "pepper": (pepper, (0.005, 0.02, 0.05)),
    "dust": (dust, (30, 150, 600)),
    "scratches": (scratches, (20, 100, 400)),
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--per-category", type=int, default=100)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--rules", choices=("on", "off"), default="on")
    args = parser.parse_args()
    if args.rules == "off":
        rules.MIN_ELONGATION, rules.MAX_RIVALS = 0.0, 10**9
    registry = ModelRegistry(FileObjectStore(ROOT / "tests" / "fixtures" / "modelstore"))
    predictor = Predictor(registry.load(registry.latest_version(), files=("model.tflite",)))
    for name, (make, amounts) in FAMILIES.items():
        pages = no_digit = not_a_digit = 0
        for size in (300, 900, 2000):
            for amount in amounts:
                for seed in range(3):
                    for paper in (255, 200):
                        for fmt in ("PNG", "JPEG"):
                            pages += 1
                            try:
                                array = preprocess(_encoded(make(size, amount, seed, paper), fmt))
                            except MLError:
                                no_digit += 1
                                continue
                            not_a_digit += bool(predictor.predict(array[None])[0].refused)
        print(
            f"{name}: {pages} pages, {no_digit} no_digit_found, {not_a_digit} not_a_digit, "
            f"{pages - no_digit - not_a_digit} answered as a digit",
            flush=True,
        )
    data = mnist.load(mnist.DirectorySource(ROOT / "data" / "mnist"))
    lost, drawn = collections.Counter(), 0
    for sample in devset.generate(data.x_test, data.y_test, per_category=args.per_category, seed=args.seed):
        drawn += 1
        try:
            preprocess(sample.data)
        except NoDigitFound:
            lost[sample.category] += 1
        except MLError:
            pass
    print(f"dev-set digits refused as no digit: {sum(lost.values())} of {drawn} {dict(lost)}")


if __name__ == "__main__":
    main()

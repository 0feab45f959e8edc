"""What the refusal threshold trades: MNIST test read right against each not-a-digit family refused, for the
promoted model at several values of ``refuse_at`` (its own heads, every family seen; dev-set uploads).

    .venv/bin/python -m benchmarks.refusal_threshold [--per-family 100] [--seed 2024]
"""

from __future__ import annotations

import argparse

import numpy as np


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--per-family", type=int, default=100)
    parser.add_argument("--seed", type=int, default=2024)
    parser.add_argument("--thresholds", type=float, nargs="+", default=[0.5, 0.6, 0.7, 0.8, 0.9, 0.95, 0.99])
    args = parser.parse_args(argv)

    from ml import holdout
    from ml.commands import _registry, mnist_data
    from ml.settings import MLSettings

    settings = MLSettings.from_env()
    data = mnist_data(settings)
    families = holdout.drawn_families(data.x_test, args.per_family, args.seed, "eval")  # before TensorFlow
    from ml.quiet import import_tensorflow

    import_tensorflow()
    registry = _registry(settings)
    version = registry.latest_version()
    heads = holdout.Heads.load(registry, version)

    def served(images: np.ndarray) -> np.ndarray:
        f = heads.features(images)
        return heads.probabilities(heads.own(), f, heads.log_odds(f))

    mnist = served(data.x_test)
    kept = {name: holdout._images(prepared) for name, prepared in families.items()}
    scores = {name: served(images)[:, -1] for name, (images, _) in kept.items()}
    print(f"model {version}: MNIST test read right, and each family refused, by refuse_at")
    print(f"{'refuse_at':>9}{'MNIST':>9}{'worst family':>22}{'mean':>8}")
    for threshold in args.thresholds:
        refused = mnist[:, -1] >= threshold
        right = float(((mnist[:, :-1].argmax(axis=1) == data.y_test) & ~refused).mean())
        rates = {
            name: (int((scores[name] >= threshold).sum()) + no_ink) / max(len(families[name]), 1)
            for name, (_, no_ink) in kept.items()
        }
        worst = min(rates, key=rates.__getitem__)
        print(f"{threshold:>9.2f}{right:>9.2%}{worst:>15} {rates[worst]:>6.1%}{sum(rates.values()) / len(rates):>8.1%}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

"""Geometric figures drawn with a pen, outlined or filled: squares, triangles, stars, crosses, hearts...

None of them is a digit, and none is a ring or a bar (a 0 or a 1 to anyone): no circles, and no polygon of
six corners or more, which a pen rounds into a 0. The figures are split in two
like every negative family: training draws the ``train`` ones, the dev set the ``eval`` ones, so the dev
set measures figures the model never saw. Pure functions of their arguments and a seeded generator.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
from PIL import Image, ImageDraw


def _polygon(corners: int, turn: float = -np.pi / 2, inner: float | None = None) -> np.ndarray:
    """A regular polygon's corners in the square box every figure is laid out in (``figure`` scales it), or a
    star's when ``inner`` (its inner radius share) is given."""
    count = corners * (2 if inner else 1)
    angles = turn + np.arange(count) * 2 * np.pi / count
    radius = np.where(np.arange(count) % 2, inner, 1.0) if inner else np.ones(count)
    return np.stack([50 + 45 * radius * np.cos(angles), 50 + 45 * radius * np.sin(angles)], axis=1)


def _heart() -> np.ndarray:
    t = np.linspace(0, 2 * np.pi, 60, endpoint=False)
    x, y = 16 * np.sin(t) ** 3, 13 * np.cos(t) - 5 * np.cos(2 * t) - 2 * np.cos(3 * t) - np.cos(4 * t)
    return np.stack([50 + 2.7 * x, 45 - 2.7 * y], axis=1)


def _cross(arm: float) -> np.ndarray:
    """A plus sign's outline with arms ``arm`` wide."""
    a, b = 50 - arm / 2, 50 + arm / 2
    return np.array(
        [(a, 5), (b, 5), (b, a), (95, a), (95, b), (b, b), (b, 95), (a, 95), (a, b), (5, b), (5, a), (a, a)]
    )


def _random_star(rng: np.random.Generator) -> np.ndarray:
    return _polygon(int(rng.integers(4, 9)), turn=rng.uniform(0, np.pi), inner=rng.uniform(0.25, 0.5))


FIGURES: dict[str, dict[str, Callable[[], np.ndarray]]] = {
    "train": {
        "square": lambda: np.array([(8, 8), (92, 8), (92, 92), (8, 92)], float),
        "triangle": lambda: _polygon(3),
        "plus": lambda: _cross(30),
        "heart": _heart,
        "star6": lambda: _polygon(6, inner=0.5),
        "arrow_block": lambda: np.array([(5, 35), (60, 35), (60, 10), (95, 50), (60, 90), (60, 65), (5, 65)], float),
    },
    "eval": {
        "rectangle": lambda: np.array([(5, 25), (95, 25), (95, 75), (5, 75)], float),
        "diamond": lambda: _polygon(4),
        "trapezoid": lambda: np.array([(25, 20), (75, 20), (95, 80), (5, 80)], float),
        "star": lambda: _polygon(5, inner=0.4),
        "cross_x": lambda: (_cross(26) - 50) @ np.array([[0.7071, -0.7071], [0.7071, 0.7071]]) + 50,
        "triangle_down": lambda: _polygon(3, turn=np.pi / 2),
        "parallelogram": lambda: np.array([(30, 20), (95, 20), (70, 80), (5, 80)], float),
    },
}
RANDOM = {"random_star": _random_star}  # training only: half its figures, each drawn afresh


def figure(rng: np.random.Generator, split: str, height: int = 64) -> np.ndarray:
    """One figure of ``split``'s, white on black about ``height`` px tall: outlined with a pen from thin to
    heavy, or filled, a little turned and stretched as a hand draws it."""
    if split == "train" and rng.random() < 0.5:
        corners = RANDOM[str(rng.choice(sorted(RANDOM)))](rng)
    else:
        corners = FIGURES[split][str(rng.choice(sorted(FIGURES[split])))]()
    angle = rng.uniform(-0.25, 0.25)
    turn = np.array([[np.cos(angle), -np.sin(angle)], [np.sin(angle), np.cos(angle)]])
    points = (corners - 50) @ turn.T * rng.uniform(0.85, 1.15, 2) + rng.normal(0, 1.2, corners.shape)
    scale = (height - 8) / max(float(np.ptp(points[:, 1])), float(np.ptp(points[:, 0])) / 1.5, 1.0)
    pen = max(2, int(round(height * rng.uniform(0.04, 0.16))))
    points = (points - points.min(axis=0)) * scale + pen + 2
    size = np.ceil(points.max(axis=0) + pen + 2).astype(int)
    img = Image.new("L", (int(size[0]), int(size[1])))
    draw = ImageDraw.Draw(img)
    outline = [tuple(p) for p in points]
    if rng.random() < 0.3:
        draw.polygon(outline, fill=255)
    else:
        draw.line([*outline, outline[0], outline[1]], fill=255, width=pen, joint="curve")
    return np.asarray(img)

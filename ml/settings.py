"""The ML core's settings (where MNIST and the models live), and the parsers every setting uses.

The service's settings extend these (``service.config.Settings``), so each environment variable is
read and validated in one place, and the ML core runs on its own (``python -m ml``) without the service.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar
from urllib.parse import urlparse

from ml.parameters import Parameter, ParameterError

N = TypeVar("N", int, float)


class ConfigError(ValueError):
    """An environment variable has a value we cannot use."""


def store_url(value: str, name: str) -> str:
    """``file:///abs``, a path (made absolute) or ``s3://bucket/prefix``."""
    parsed = urlparse(value)
    if parsed.scheme == "s3":
        if not parsed.netloc:
            raise ConfigError(f"{name}={value!r}: an s3:// URL needs a bucket, e.g. s3://models")
        return value
    if parsed.scheme == "file":
        if not parsed.path.startswith("/"):
            raise ConfigError(f"{name}={value!r}: file:// URLs must be absolute (file:///abs/dir)")
        return value
    if parsed.scheme == "":
        return "file://" + str(Path(value).resolve())
    raise ConfigError(f"{name}={value!r}: use file:///abs/dir, a path, or s3://bucket/prefix")


def bounded(env: Mapping[str, str], name: str, default: N, low: N, high: N, parse: type[N] = int) -> N:
    """A bounded int (``parse=int``) or float (``parse=float``), checked as a declared parameter is
    (ml.parameters); empty means the default."""
    raw = env.get(name)
    if raw is None or raw == "":
        return default
    try:
        return Parameter(name, parse, default, name, low, high).parse_text(raw)
    except ParameterError as exc:
        raise ConfigError(f"{name}={raw!r}: {exc}") from None


def choice(env: Mapping[str, str], name: str, default: str, choices: tuple[str, ...]) -> str:
    """One of ``choices``, case-insensitive; returned in the case the choices are written in."""
    value = (env.get(name) or default).strip()
    if value.upper() not in {c.upper() for c in choices}:
        raise ConfigError(f"{name}={value!r}: must be one of {', '.join(choices)}")
    return value.upper() if choices[0].isupper() else value.lower()


@dataclass(frozen=True)
class MLSettings:
    """What training, evaluation and prediction need. Names are the env var names, lower-cased."""

    mnist_dir: Path
    model_store: str
    max_image_pixels: int
    train_data: str = "local"  # or "store": MODEL_STORE's datasets/mnist/

    @staticmethod
    def fields_from_env(env: Mapping[str, str]) -> dict[str, Any]:
        return {
            "mnist_dir": Path(env.get("MNIST_DIR") or "data/mnist").resolve(),
            "model_store": store_url(env.get("MODEL_STORE") or "var/models", "MODEL_STORE"),
            "max_image_pixels": bounded(env, "MAX_IMAGE_PIXELS", 40_000_000, 1, 200_000_000),
            "train_data": choice(env, "TRAIN_DATA", "local", ("local", "store")),
        }

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> MLSettings:
        return cls(**cls.fields_from_env(os.environ if env is None else env))

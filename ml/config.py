"""All configuration, from environment variables, in one place.

Read once at start-up and validated there, so a typo fails loudly before
the first request instead of on it.
"""
from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Mapping
from urllib.parse import urlparse


class ConfigError(ValueError):
    """An environment variable has a value we cannot use."""


def _store_url(value: str, name: str) -> str:
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


def _int(env: Mapping[str, str], name: str, default: int, low: int, high: int) -> int:
    raw = env.get(name)
    if raw is None or raw == "":
        return default
    try:
        value = int(raw)
    except ValueError:
        raise ConfigError(f"{name}={raw!r}: must be a whole number") from None
    if not low <= value <= high:
        raise ConfigError(f"{name}={value}: must be between {low} and {high}")
    return value


@dataclass(frozen=True)
class Settings:
    mnist_dir: Path
    model_store: str
    max_image_pixels: int

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> "Settings":
        env = os.environ if env is None else env
        return cls(
            mnist_dir=Path(env.get("MNIST_DIR") or "data/mnist").resolve(),
            model_store=_store_url(env.get("MODEL_STORE") or "var/models", "MODEL_STORE"),
            max_image_pixels=_int(env, "MAX_IMAGE_PIXELS", 40_000_000, 1, 200_000_000),
        )

"""The ML core's settings (where MNIST and the models live), and the parsers every setting uses.

The service's settings extend these (``service.settings.Settings``), so each environment variable is
read and validated in one place, and the ML core runs on its own (``python -m ml``) without the service.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any, TypeVar, cast
from urllib.parse import urlparse

from ml.parameters import Parameter, ParameterError

N = TypeVar("N", int, float)
S = TypeVar("S", bound="MLSettings")


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


def setting(default: Any, low: Any = None, high: Any = None, choices: tuple[str, ...] = (), read: Any = None) -> Any:
    """A setting's one declaration: its default, and the bounds or choices its environment variable (the
    field's name, upper-cased) must meet; ``read(env, name, default)`` for one that needs its own parsing."""
    return field(default=default, metadata={"low": low, "high": high, "choices": choices, "read": read})


def read_settings(cls: type[S], env: Mapping[str, str]) -> S:
    """An instance of the settings dataclass ``cls`` from ``env``, each field read as it declares."""
    values: dict[str, Any] = {}
    for f in fields(cls):
        name, default, declared = f.name.upper(), cast(Any, f.default), f.metadata
        if declared.get("read"):
            values[f.name] = declared["read"](env, name, default)
        elif declared.get("choices"):
            values[f.name] = choice(env, name, default, declared["choices"])
        elif isinstance(default, bool):
            values[f.name] = choice(env, name, "on" if default else "off", ("on", "off")) == "on"
        elif isinstance(default, int | float):
            values[f.name] = bounded(env, name, default, declared["low"], declared["high"], parse=type(default))
        elif isinstance(default, Path):
            values[f.name] = Path(env.get(name) or default).resolve()
        else:  # text, or None when unset
            values[f.name] = env.get(name) or default
    return cls(**values)


def _store_url(env: Mapping[str, str], name: str, default: str) -> str:
    return store_url(env.get(name) or default, name)


@dataclass(frozen=True)
class MLSettings:
    """What training, evaluation and prediction need. Names are the env var names, lower-cased."""

    mnist_dir: Path = setting(Path("data/mnist"))
    model_store: str = setting("var/models", read=_store_url)  # file:///abs, a path, or s3://bucket/prefix
    max_image_pixels: int = setting(40_000_000, 1, 200_000_000)
    train_data: str = setting("local", choices=("local", "store"))  # or "store": MODEL_STORE's datasets/mnist/

    @classmethod
    def from_env(cls: type[S], env: Mapping[str, str] | None = None) -> S:
        return read_settings(cls, os.environ if env is None else env)

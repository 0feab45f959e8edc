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


def _number(env: Mapping[str, str], name: str, default, low, high, parse=int):
    """A bounded int (``parse=int``) or float (``parse=float``); empty means the default."""
    raw = env.get(name)
    if raw is None or raw == "":
        return default
    try:
        value = parse(raw)
    except ValueError:
        raise ConfigError(f"{name}={raw!r}: must be {'a whole number' if parse is int else 'a number'}") from None
    if not low <= value <= high:
        raise ConfigError(f"{name}={value}: must be between {low} and {high}")
    return value


def _log_url(value: str) -> str:
    parsed = urlparse(value)
    if parsed.scheme == "sqlite":
        path = parsed.netloc + parsed.path
        if not path:
            raise ConfigError(f"PREDICTION_LOG={value!r}: sqlite needs a path, e.g. sqlite:///abs/predictions.db")
        return "sqlite://" + (path if path.startswith("/") else str(Path(path).resolve()))
    if parsed.scheme == "cassandra":
        if not parsed.hostname:
            raise ConfigError(f"PREDICTION_LOG={value!r}: cassandra needs hosts, e.g. cassandra://h1,h2:9042/digits")
        keyspace = parsed.path.strip("/")
        if keyspace and not keyspace.replace("_", "").isalnum():
            raise ConfigError(f"PREDICTION_LOG={value!r}: keyspace {keyspace!r} must be letters, digits and _")
        return value
    if parsed.scheme == "":
        return "sqlite://" + str(Path(value).resolve())
    raise ConfigError(f"PREDICTION_LOG={value!r}: use sqlite:///path or cassandra://host1,host2:9042/keyspace")


def _choice(env: Mapping[str, str], name: str, default: str, choices: tuple[str, ...]) -> str:
    value = (env.get(name) or default).strip()
    if value.upper() not in {c.upper() for c in choices}:
        raise ConfigError(f"{name}={value!r}: must be one of {', '.join(choices)}")
    return value.upper() if choices[0].isupper() else value.lower()


CONSISTENCY_LEVELS = ("LOCAL_QUORUM", "ONE", "LOCAL_ONE", "QUORUM", "ALL", "TWO", "THREE", "EACH_QUORUM")


@dataclass(frozen=True)
class Settings:
    """Every setting of both functions and the CLI. Names are the env var names, lower-cased."""

    mnist_dir: Path
    model_store: str
    max_image_pixels: int
    max_request_pixels: int = 50_000_000  # all images of one request together (64 files x 40 MP would be 2.5 GP)
    prediction_log: str = "sqlite://" + str(Path("var/predictions.db").resolve())
    cassandra_username: str | None = None
    cassandra_password: str | None = None
    cassandra_consistency: str = "LOCAL_QUORUM"
    cassandra_local_dc: str = "datacenter1"  # the data center LOCAL_* consistency and routing prefer
    train_token: str | None = None
    train_data: str = "local"  # or "store": MODEL_STORE's datasets/mnist/
    max_upload_bytes: int = 4 * 1024 * 1024
    max_files_per_request: int = 64
    model_refresh_seconds: int = 30
    inline_image_bytes: int = 1024 * 1024
    train_lock_file: Path = Path("var/train.lock")
    spool_dir: Path = Path("var/spool")
    spool_max_bytes: int = 64 * 1024 * 1024
    predictions_read: str = "public"  # public | token | off: who may read /predictions...
    predictions_token: str | None = None
    corrections_token: str | None = None  # set: only its holder may correct answers (they feed training)
    low_confidence: float = 0.9  # answers below this are "low confidence" in history and /stats
    log_format: str = "json"  # json: one object per line with the request id; text: the human format
    log_level: str = "INFO"
    metrics: bool = True
    read_timeout_seconds: float = 10.0  # scripts/serve.sh: headers, then the body, must each arrive within this
    workers: int = 0  # scripts/serve.sh: processes per function; 0 = 2 for predict (one per core), 1 for train  # /metrics (Prometheus) and, on Lambda, CloudWatch EMF lines

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> "Settings":
        env = os.environ if env is None else env
        settings = cls(
            mnist_dir=Path(env.get("MNIST_DIR") or "data/mnist").resolve(),
            model_store=_store_url(env.get("MODEL_STORE") or "var/models", "MODEL_STORE"),
            max_image_pixels=_number(env, "MAX_IMAGE_PIXELS", 40_000_000, 1, 200_000_000),
            max_request_pixels=_number(env, "MAX_REQUEST_PIXELS", 50_000_000, 1, 400_000_000),
            prediction_log=_log_url(env.get("PREDICTION_LOG") or "var/predictions.db"),
            cassandra_username=env.get("CASSANDRA_USERNAME") or None,
            cassandra_password=env.get("CASSANDRA_PASSWORD") or None,
            cassandra_consistency=_choice(env, "CASSANDRA_CONSISTENCY", "LOCAL_QUORUM", CONSISTENCY_LEVELS),
            cassandra_local_dc=(env.get("CASSANDRA_LOCAL_DC") or "datacenter1").strip(),
            train_token=env.get("TRAIN_TOKEN") or None,
            train_data=_choice(env, "TRAIN_DATA", "local", ("local", "store")),
            max_upload_bytes=_number(env, "MAX_UPLOAD_BYTES", 4 * 1024 * 1024, 1024, 6 * 1024 * 1024),
            max_files_per_request=_number(env, "MAX_FILES_PER_REQUEST", 64, 1, 1000),
            model_refresh_seconds=_number(env, "MODEL_REFRESH_SECONDS", 30, 0, 86400),
            inline_image_bytes=_number(env, "INLINE_IMAGE_BYTES", 1024 * 1024, 0, 16 * 1024 * 1024),
            train_lock_file=Path(env.get("TRAIN_LOCK_FILE") or "var/train.lock").resolve(),
            spool_dir=Path(env.get("SPOOL_DIR") or "var/spool").resolve(),
            spool_max_bytes=_number(env, "SPOOL_MAX_BYTES", 64 * 1024 * 1024, 1024, 2**40),
            predictions_read=_choice(env, "PREDICTIONS_READ", "public", ("public", "token", "off")),
            predictions_token=env.get("PREDICTIONS_TOKEN") or None,
            corrections_token=env.get("CORRECTIONS_TOKEN") or None,
            low_confidence=_number(env, "LOW_CONFIDENCE", 0.9, 0.0, 1.0, parse=float),
            log_format=_choice(env, "LOG_FORMAT", "json", ("json", "text")),
            log_level=_choice(env, "LOG_LEVEL", "INFO", ("DEBUG", "INFO", "WARNING", "ERROR")),
            metrics=_choice(env, "METRICS", "on", ("on", "off")) == "on",
            read_timeout_seconds=_number(env, "READ_TIMEOUT_SECONDS", 10.0, 0.5, 300.0, parse=float),
            workers=_number(env, "WORKERS", 0, 0, 64),
        )
        if settings.predictions_read == "token" and not settings.predictions_token:
            raise ConfigError("PREDICTIONS_READ=token needs PREDICTIONS_TOKEN")
        return settings

    def public(self) -> dict[str, str]:
        """Settings safe to show (no secrets): for /healthz and start-up logs."""
        parsed = urlparse(self.prediction_log)
        log = self.prediction_log if parsed.scheme == "sqlite" else f"cassandra://{parsed.hostname}/{parsed.path.strip('/')}"
        return {"model_store": self.model_store, "prediction_log": log, "train_data": self.train_data}

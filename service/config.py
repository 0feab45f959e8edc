"""All configuration of the service, from environment variables, in one place.

Read once at start-up and validated there, so a typo fails loudly before the first request instead of on
it. The ML core's own settings (MNIST_DIR, MODEL_STORE, MAX_IMAGE_PIXELS, TRAIN_DATA) are declared in
``ml.settings`` and inherited here.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlparse

from ml.settings import ConfigError, MLSettings, bounded, choice

__all__ = ["ConfigError", "Settings"]


def _existing_file(env: Mapping[str, str], name: str) -> Path | None:
    value = (env.get(name) or "").strip()
    if not value:
        return None
    if not Path(value).is_file():
        raise ConfigError(f"{name}={value!r}: no such file")
    return Path(value).resolve()


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


# Writes are always LOCAL_QUORUM (service.predlog.cql): the one level Amazon Keyspaces takes for writes, and
# the one that survives a lost node without a record waiting. Reads may trade that for speed.
READ_CONSISTENCY_LEVELS = ("LOCAL_QUORUM", "LOCAL_ONE", "QUORUM", "ONE")


@dataclass(frozen=True)
class Settings(MLSettings):
    """Every setting of both functions and the CLI: the ML core's, then the service's. Names are the env
    var names, lower-cased."""

    max_request_pixels: int = 50_000_000  # all images of one request together (64 files x 40 MP would be 2.5 GP)
    prediction_log: str = "sqlite://" + str(Path("var/predictions.db").resolve())
    cassandra_username: str | None = None
    cassandra_password: str | None = None
    cassandra_read_consistency: str = "LOCAL_QUORUM"
    cassandra_local_dc: str | None = None  # the data centre LOCAL_* consistency and routing use: required
    cassandra_tls_ca: Path | None = None  # a CA bundle: TLS with each node's certificate checked
    cassandra_protocol_version: int = 0  # 0: negotiated with the cluster
    train_token: str | None = None
    max_upload_bytes: int = 4 * 1024 * 1024
    max_files_per_request: int = 64
    model_refresh_seconds: int = 30
    inline_image_bytes: int = 4096  # larger originals go to the object store: partitions stay bounded (docs/scaling.md)
    train_lock_file: Path = Path("var/train.lock")
    spool_dir: Path = Path("var/spool")
    spool_max_bytes: int = 64 * 1024 * 1024
    predictions_read: str = "public"  # public | token | off: who may read /predictions...
    predictions_token: str | None = None
    corrections_token: str | None = None  # set: only its holder may correct answers (they feed training)
    low_confidence: float = 0.9  # answers below this are "low confidence" in history and /stats
    log_format: str = "json"  # json: one object per line with the request id; text: the human format
    log_level: str = "INFO"
    metrics: bool = True  # /metrics (Prometheus) and, on Lambda, CloudWatch EMF lines
    read_timeout_seconds: float = 10.0  # scripts/serve.sh: headers, then the body, must each arrive within this
    workers: int = 0  # scripts/serve.sh: processes per function; 0 = 2 for predict (one per core), 1 for train

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> Settings:
        env = os.environ if env is None else env
        settings = cls(
            **MLSettings.fields_from_env(env),
            max_request_pixels=bounded(env, "MAX_REQUEST_PIXELS", 50_000_000, 1, 400_000_000),
            prediction_log=_log_url(env.get("PREDICTION_LOG") or "var/predictions.db"),
            cassandra_username=env.get("CASSANDRA_USERNAME") or None,
            cassandra_password=env.get("CASSANDRA_PASSWORD") or None,
            cassandra_read_consistency=choice(
                env, "CASSANDRA_READ_CONSISTENCY", "LOCAL_QUORUM", READ_CONSISTENCY_LEVELS
            ),
            cassandra_local_dc=(env.get("CASSANDRA_LOCAL_DC") or "").strip() or None,
            cassandra_tls_ca=_existing_file(env, "CASSANDRA_TLS_CA"),
            cassandra_protocol_version=bounded(env, "CASSANDRA_PROTOCOL_VERSION", 0, 0, 5),
            train_token=env.get("TRAIN_TOKEN") or None,
            max_upload_bytes=bounded(env, "MAX_UPLOAD_BYTES", 4 * 1024 * 1024, 1024, 6 * 1024 * 1024),
            max_files_per_request=bounded(env, "MAX_FILES_PER_REQUEST", 64, 1, 1000),
            model_refresh_seconds=bounded(env, "MODEL_REFRESH_SECONDS", 30, 0, 86400),
            inline_image_bytes=bounded(env, "INLINE_IMAGE_BYTES", 4096, 0, 1024 * 1024),
            train_lock_file=Path(env.get("TRAIN_LOCK_FILE") or "var/train.lock").resolve(),
            spool_dir=Path(env.get("SPOOL_DIR") or "var/spool").resolve(),
            spool_max_bytes=bounded(env, "SPOOL_MAX_BYTES", 64 * 1024 * 1024, 1024, 2**40),
            predictions_read=choice(env, "PREDICTIONS_READ", "public", ("public", "token", "off")),
            predictions_token=env.get("PREDICTIONS_TOKEN") or None,
            corrections_token=env.get("CORRECTIONS_TOKEN") or None,
            low_confidence=bounded(env, "LOW_CONFIDENCE", 0.9, 0.0, 1.0, parse=float),
            log_format=choice(env, "LOG_FORMAT", "json", ("json", "text")),
            log_level=choice(env, "LOG_LEVEL", "INFO", ("DEBUG", "INFO", "WARNING", "ERROR")),
            metrics=choice(env, "METRICS", "on", ("on", "off")) == "on",
            read_timeout_seconds=bounded(env, "READ_TIMEOUT_SECONDS", 10.0, 0.5, 300.0, parse=float),
            workers=bounded(env, "WORKERS", 0, 0, 64),
        )
        cassandra = settings.prediction_log.startswith("cassandra:")
        if cassandra and "CASSANDRA_CONSISTENCY" in env:  # retired: refused, so a deployment setting it hears why
            raise ConfigError(
                "CASSANDRA_CONSISTENCY is no longer read: writes are always LOCAL_QUORUM; set "
                f"CASSANDRA_READ_CONSISTENCY for reads ({', '.join(READ_CONSISTENCY_LEVELS)})"
            )
        if cassandra and not settings.cassandra_local_dc:
            raise ConfigError(
                "CASSANDRA_LOCAL_DC is required with a Cassandra log: the data centre this function is in "
                "(a local node: datacenter1; Amazon Keyspaces: the region, e.g. eu-west-1)"
            )
        if settings.predictions_read == "token" and not settings.predictions_token:
            raise ConfigError("PREDICTIONS_READ=token needs PREDICTIONS_TOKEN")
        return settings

    def without_secrets(self) -> dict[str, str]:
        """Settings safe to show (no secrets): for /healthz and start-up logs."""
        parsed = urlparse(self.prediction_log)
        shown_log = (
            self.prediction_log
            if parsed.scheme == "sqlite"
            else f"cassandra://{parsed.hostname}/{parsed.path.strip('/')}"
        )
        return {"model_store": self.model_store, "prediction_log": shown_log, "train_data": self.train_data}

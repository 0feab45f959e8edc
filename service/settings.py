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

from ml.settings import ConfigError, MLSettings, read_settings, setting
from service import cassandra_url
from service.secrets import read_secret

__all__ = ["ConfigError", "Settings"]


def _existing_file(env: Mapping[str, str], name: str, default: None = None) -> Path | None:
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
        try:
            cassandra_url.parse(value)
        except ValueError as exc:
            raise ConfigError(f"PREDICTION_LOG={exc}") from None
        return value
    if parsed.scheme == "":
        return "sqlite://" + str(Path(value).resolve())
    raise ConfigError(f"PREDICTION_LOG={value!r}: use sqlite:///path or cassandra://host1,host2:9042/keyspace")


# Writes are always LOCAL_QUORUM (service.predlog.cql): the one level Amazon Keyspaces takes for writes, and
# the one that survives a lost node without a record waiting. Reads may trade that for speed.
READ_CONSISTENCY_LEVELS = ("LOCAL_QUORUM", "LOCAL_ONE", "QUORUM", "ONE")


def _prediction_log(env: Mapping[str, str], name: str, default: str) -> str:
    return _log_url(env.get(name) or default)


def _stripped(env: Mapping[str, str], name: str, default: str | None) -> str | None:
    return (env.get(name) or "").strip() or default


@dataclass(frozen=True)
class Settings(MLSettings):
    """Every setting of both functions and the CLI: the ML core's, then the service's. Names are the env
    var names, lower-cased; each is declared once, with its default and what it accepts."""

    max_request_pixels: int = setting(50_000_000, 1, 400_000_000)  # all images of one request together
    prediction_log: str = setting("var/predictions.db", read=_prediction_log)  # sqlite:///path or cassandra://
    # secrets: the value itself, or (on Lambda) the ARN of its secret in *_SECRET_ARN (service.secrets)
    cassandra_username: str | None = setting(None, read=read_secret)
    cassandra_password: str | None = setting(None, read=read_secret)
    cassandra_read_consistency: str = setting("LOCAL_QUORUM", choices=READ_CONSISTENCY_LEVELS)
    cassandra_local_dc: str | None = setting(None, read=_stripped)  # LOCAL_* consistency and routing: required
    cassandra_tls_ca: Path | None = setting(None, read=_existing_file)  # a CA bundle: TLS, certificates checked
    cassandra_protocol_version: int = setting(0, 0, 5)  # 0: negotiated with the cluster
    train_token: str | None = setting(None, read=read_secret)
    max_upload_bytes: int = setting(4 * 1024 * 1024, 1024, 6 * 1024 * 1024)  # a Lambda request's own limit above
    max_files_per_request: int = setting(64, 1, 1000)
    model_refresh_seconds: int = setting(30, 0, 86400)
    # larger originals go to the object store: partitions stay bounded (docs/scaling.md)
    inline_image_bytes: int = setting(4096, 0, 1024 * 1024)
    train_lock_file: Path = setting(Path("var/train.lock"))
    # where the train function runs: one epoch of one member over all of MNIST, and the rest of a training, in
    # seconds (benchmarks/training_time.py measures both); set, a training that cannot end before the
    # function's time limit (Lambda's) is refused at once instead of being killed. 0: no bound
    train_seconds_per_epoch: float = setting(0.0, 0.0, 86400.0)
    train_seconds_fixed: float = setting(0.0, 0.0, 86400.0)
    spool_dir: Path = setting(Path("var/spool"))
    spool_max_bytes: int = setting(64 * 1024 * 1024, 1024, 2**40)
    # s3://bucket/prefix/: the spool in an object store, durable beyond one process's disk (Lambda's /tmp);
    # empty: files in SPOOL_DIR
    spool_store: str | None = setting(None, read=_stripped)
    predictions_read: str = setting("public", choices=("public", "token", "off"))  # who may read /predictions...
    predictions_token: str | None = setting(None, read=read_secret)
    corrections_token: str | None = setting(
        None, read=read_secret
    )  # set: only its holder may correct answers (they feed training)
    low_confidence: float = setting(0.9, 0.0, 1.0)  # answers below this are "low confidence" in history and /stats
    log_format: str = setting("json", choices=("json", "text"))  # json: one object per line; text: for people
    log_level: str = setting("INFO", choices=("DEBUG", "INFO", "WARNING", "ERROR"))
    metrics: bool = setting(True)  # METRICS=on|off: /metrics (Prometheus) and, on Lambda, CloudWatch EMF lines
    read_timeout_seconds: float = setting(10.0, 0.5, 300.0)  # scripts/serve.sh: headers, then the body, each
    workers: int = setting(0, 0, 64)  # scripts/serve.sh: processes per function; 0: 2 for predict, 1 for train

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> Settings:
        env = os.environ if env is None else env
        settings = read_settings(cls, env)
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
        # every host with its port, as connected to; the user and password before "@" and the query's options
        # (which may name certificate files) stay out
        hosts = parsed.netloc.rpartition("@")[2]
        shown_log = (
            self.prediction_log if parsed.scheme == "sqlite" else f"cassandra://{hosts}/{parsed.path.strip('/')}"
        )
        return {"model_store": self.model_store, "prediction_log": shown_log, "train_data": self.train_data}

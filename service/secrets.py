"""Secrets read at start from AWS Secrets Manager, named by ARN in the environment.

On Lambda the environment carries only each secret's ARN (``TRAIN_TOKEN_SECRET_ARN``...): anyone allowed to
read a function's configuration would read a value placed there. The settings ask here for a secret when its
plain variable (``TRAIN_TOKEN``...) is unset, so local runs keep setting the value itself. Each ARN is read
once per process (an execution environment on Lambda): a rotated secret reaches the next environment.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Mapping

from ml.settings import ConfigError

# the setting -> (the variable naming its secret's ARN, the key of the secret's JSON object; None: the string)
SECRET_SOURCES: dict[str, tuple[str, str | None]] = {
    "TRAIN_TOKEN": ("TRAIN_TOKEN_SECRET_ARN", None),
    "PREDICTIONS_TOKEN": ("PREDICTIONS_TOKEN_SECRET_ARN", None),
    "CORRECTIONS_TOKEN": ("CORRECTIONS_TOKEN_SECRET_ARN", None),
    "CASSANDRA_USERNAME": ("CASSANDRA_SECRET_ARN", "username"),
    "CASSANDRA_PASSWORD": ("CASSANDRA_SECRET_ARN", "password"),
}

_cache: dict[str, str] = {}
_lock = threading.Lock()


def _fetch(arn: str, variable: str) -> str:
    """The secret's string from Secrets Manager in the ARN's own region; the endpoint may be redirected with
    ``AWS_ENDPOINT_URL_SECRETS_MANAGER``, as every botocore client allows."""
    import boto3
    from botocore.config import Config
    from botocore.exceptions import BotoCoreError, ClientError

    region = arn.split(":")[3] if arn.count(":") >= 6 else ""
    if not arn.startswith("arn:") or not region:
        raise ConfigError(f"{variable}={arn!r}: not a Secrets Manager ARN (arn:aws:secretsmanager:region:...)")
    # start-up waits on this call: a few seconds, one retry, then the function fails to start and says why
    config = Config(connect_timeout=2, read_timeout=3, retries={"max_attempts": 2, "mode": "standard"})
    client = boto3.client("secretsmanager", region_name=region, config=config)
    try:
        answer = client.get_secret_value(SecretId=arn)
    except (BotoCoreError, ClientError) as exc:
        raise ConfigError(f"{variable}={arn!r}: the secret cannot be read ({exc})") from None
    if "SecretString" not in answer:
        raise ConfigError(f"{variable}={arn!r}: the secret holds binary data, not a string")
    return answer["SecretString"]


def secret_string(arn: str, variable: str) -> str:
    """The secret's string, read once per process."""
    with _lock:
        if arn not in _cache:
            _cache[arn] = _fetch(arn, variable)
        return _cache[arn]


def forget() -> None:
    """Drop what was read (the next start reads every secret again)."""
    with _lock:
        _cache.clear()


def read_secret(env: Mapping[str, str], name: str, default: str | None) -> str | None:
    """A secret setting (a ``read`` of ``ml.settings.setting``): its plain variable, else its secret's value."""
    value = env.get(name)
    if value:
        return value
    variable, key = SECRET_SOURCES[name]
    arn = (env.get(variable) or "").strip()
    if not arn:
        return default
    text = secret_string(arn, variable)
    if key is None:
        return text
    try:
        found = json.loads(text)[key]
    except (ValueError, TypeError, KeyError):
        raise ConfigError(f"{variable}={arn!r}: the secret is not a JSON object with {key!r}") from None
    if not isinstance(found, str):
        raise ConfigError(f"{variable}={arn!r}: the secret's {key!r} is not a string")
    return found

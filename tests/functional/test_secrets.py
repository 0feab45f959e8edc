"""Secrets named by ARN are read at start from Secrets Manager over HTTP (moto's server, a real HTTP server on
loopback: the client is botocore's, unchanged, signing each call), once per ARN, and never from the template's
text; a plain variable still wins, for local runs."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from service import secrets
from service.settings import ConfigError, Settings

REGION = "eu-west-1"


def _name(what: str) -> str:
    import uuid

    return f"{what}-{uuid.uuid4().hex[:8]}"


@pytest.fixture
def secrets_manager(monkeypatch) -> Iterator[tuple[object, list[str]]]:
    """A Secrets Manager on loopback behind a front that records each call's target. Its store lives in this
    process across servers: each test names its secrets uniquely (``_name``)."""
    import boto3
    from moto.server import ThreadedMotoServer

    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    endpoint = f"http://{host}:{port}"
    calls: list[str] = []
    counter = _CountingFront(endpoint, calls)
    for name, value in {
        "AWS_ENDPOINT_URL_SECRETS_MANAGER": counter.url,
        "AWS_ACCESS_KEY_ID": "test-key",
        "AWS_SECRET_ACCESS_KEY": "test-secret",
    }.items():
        monkeypatch.setenv(name, value)
    secrets.forget()
    client = boto3.client("secretsmanager", endpoint_url=endpoint, region_name=REGION)
    try:
        yield client, calls
    finally:
        secrets.forget()
        counter.close()
        server.stop()


class _CountingFront:
    """Forwards each request to Secrets Manager and records its X-Amz-Target: how many reads reached it."""

    def __init__(self, upstream: str, calls: list[str]):
        import requests

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):  # noqa: N802 (http.server's name)
                body = self.rfile.read(int(self.headers["Content-Length"]))
                calls.append(self.headers.get("X-Amz-Target", ""))
                headers = {k: v for k, v in self.headers.items() if k.lower() != "host"}
                answer = requests.post(upstream + self.path, data=body, headers=headers, timeout=10)
                self.send_response(answer.status_code)
                for key in ("Content-Type", "x-amzn-RequestId"):
                    if key in answer.headers:
                        self.send_header(key, answer.headers[key])
                self.send_header("Content-Length", str(len(answer.content)))
                self.end_headers()
                self.wfile.write(answer.content)

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


def test_every_secret_is_read_from_its_arn_once(secrets_manager):
    client, calls = secrets_manager
    arns = {
        "TRAIN_TOKEN_SECRET_ARN": client.create_secret(Name=_name("train"), SecretString="train-secret-value")["ARN"],
        "PREDICTIONS_TOKEN_SECRET_ARN": client.create_secret(Name=_name("reader"), SecretString="reader-value")["ARN"],
        "CORRECTIONS_TOKEN_SECRET_ARN": client.create_secret(Name=_name("fix"), SecretString="corrections-value")[
            "ARN"
        ],
        "CASSANDRA_SECRET_ARN": client.create_secret(
            Name=_name("cassandra"), SecretString=json.dumps({"username": "digits", "password": "pw-from-the-secret"})
        )["ARN"],
    }
    env = {**arns, "PREDICTIONS_READ": "token"}
    settings = Settings.from_env(env)
    assert settings.train_token == "train-secret-value"
    assert settings.predictions_token == "reader-value" and settings.corrections_token == "corrections-value"
    assert (settings.cassandra_username, settings.cassandra_password) == ("digits", "pw-from-the-secret")
    # one read per ARN: the Cassandra secret's two keys share one call; a second start in the process reads none
    assert calls == ["secretsmanager.GetSecretValue"] * 4
    Settings.from_env(env)
    assert len(calls) == 4


def test_a_plain_variable_wins_and_nothing_is_read(secrets_manager):
    client, calls = secrets_manager
    arn = client.create_secret(Name=_name("train"), SecretString="from-the-secret")["ARN"]
    settings = Settings.from_env({"TRAIN_TOKEN": "local-token", "TRAIN_TOKEN_SECRET_ARN": arn})
    assert settings.train_token == "local-token" and calls == []


@pytest.mark.parametrize(
    "value, words",
    [
        ("not-json", "not a JSON object with 'username'"),
        (json.dumps({"user": "x"}), "not a JSON object with 'username'"),
        (json.dumps({"username": 7, "password": "p"}), "'username' is not a string"),
    ],
)
def test_a_cassandra_secret_of_the_wrong_shape_is_refused_at_start(secrets_manager, value, words):
    client, _ = secrets_manager
    arn = client.create_secret(Name=_name("cassandra"), SecretString=value)["ARN"]
    with pytest.raises(ConfigError) as refused:
        Settings.from_env({"CASSANDRA_SECRET_ARN": arn})
    assert words in str(refused.value) and "CASSANDRA_SECRET_ARN" in str(refused.value)


def test_a_missing_secret_or_a_bad_arn_fails_the_start_naming_the_variable(secrets_manager):
    missing = f"arn:aws:secretsmanager:{REGION}:123456789012:secret:nothing-here-AbCdEf"
    with pytest.raises(ConfigError) as refused:
        Settings.from_env({"TRAIN_TOKEN_SECRET_ARN": missing})
    assert "TRAIN_TOKEN_SECRET_ARN" in str(refused.value) and "ResourceNotFoundException" in str(refused.value)
    with pytest.raises(ConfigError) as refused:
        Settings.from_env({"CORRECTIONS_TOKEN_SECRET_ARN": "my-token"})
    assert "not a Secrets Manager ARN" in str(refused.value)

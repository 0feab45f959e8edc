"""`make stack`: what infra/docker-compose.yml runs, without Docker.

SeaweedFS stands in for MinIO (S3 on 127.0.0.1:9000, bucket created, MNIST mirrored into it as the
compose file's minio-init does), one Cassandra 5.0 node from Maven Central (127.0.0.1:9042, schema
applied), and the train and predict functions with exactly the environment variable names of the
compose file's ``x-app-env`` block (the values that name Docker hosts point at 127.0.0.1 instead).
If the S3 store holds no model, the one this repository ships is published into it (as ``make run`` does),
or one is trained with ``--train`` (``make stack TRAIN=1``). Ports come from PREDICT_PORT, TRAIN_PORT,
S3_PORT, CASSANDRA_PORT and CASSANDRA_STORAGE_PORT. One Ctrl-C stops every process it started.

    .venv/bin/python -m scripts.stack [--train | --publish-from DIR]
"""

from __future__ import annotations

import argparse
import os
import re
import signal
import subprocess
import sys
import time
from collections.abc import Iterator, Mapping
from contextlib import ExitStack, contextmanager
from pathlib import Path

import requests

from scripts.cassandra_node import CassandraNode, NodeError, apply_schema, classpath
from scripts.servers import function_server, seaweedfs
from scripts.starter_model import SHIPPED, publish_starter

ROOT = Path(__file__).resolve().parents[1]
COMPOSE = ROOT / "infra" / "docker-compose.yml"
BUCKET = "digits"


def interpolate(value: str, environ: Mapping[str, str]) -> str:
    """Compose's ``${NAME}`` and ``${NAME:-default}`` (an empty NAME takes the default, as compose does)."""
    return re.sub(r"\$\{(\w+)(?::-([^}]*))?\}", lambda m: environ.get(m[1]) or m[2] or "", value)


def compose_app_env(environ: Mapping[str, str] = os.environ) -> dict[str, str]:
    """The compose file's shared environment block, as the functions there see it."""
    import yaml

    document = yaml.safe_load(COMPOSE.read_text())
    return {name: interpolate(str(value), environ) for name, value in document["x-app-env"].items()}


def stack_env(s3: dict, cassandra_port: int, state: Path, train_token: str) -> dict[str, str]:
    """Compose's variables, with every value that names a Docker host or volume made local."""
    env = compose_app_env()
    env.update(
        AWS_ENDPOINT_URL_S3=s3["AWS_ENDPOINT_URL_S3"],
        AWS_ACCESS_KEY_ID=s3["AWS_ACCESS_KEY_ID"],
        AWS_SECRET_ACCESS_KEY=s3["AWS_SECRET_ACCESS_KEY"],
        PREDICTION_LOG=f"cassandra://127.0.0.1:{cassandra_port}/digits",
        MNIST_DIR=str(state / "mnist-cache"),  # TRAIN_DATA=store: the train function fetches MNIST from S3
        SPOOL_DIR=str(state / "spool"),
        TRAIN_TOKEN=train_token,
    )
    return env


def seed_bucket(env: dict[str, str]) -> None:
    """Create the bucket and mirror data/mnist into datasets/mnist/ (the compose file's minio-init)."""
    from scripts.servers import s3_client

    client = s3_client(env)
    if BUCKET not in [b["Name"] for b in client.list_buckets().get("Buckets", [])]:
        client.create_bucket(Bucket=BUCKET)
    mnist = ROOT / "data" / "mnist"
    for path in sorted(mnist.glob("*-ubyte*")):
        client.upload_file(str(path), BUCKET, f"datasets/mnist/{path.name}")


def ensure_model(store_url: str, publish_from: Path, train: bool = False) -> str:
    """The promoted version in the S3 store: when there is none, published from a file store (the shipped
    model unless told otherwise) or, with ``train``, trained."""
    from ml.registry import ModelRegistry
    from ml.storage import open_object_store

    registry = ModelRegistry(open_object_store(store_url))
    version = registry.latest_version()
    if version:
        return version
    if not train:
        version = publish_starter(store_url, publish_from.resolve())
        print(f"no model in {store_url} yet: published {version} from {publish_from}", file=sys.stderr)
        return version or ""
    print(f"no model in {store_url} yet: training the default one (progress below)...", file=sys.stderr)
    subprocess.run(
        [sys.executable, "-m", "ml", "train"],
        env={**os.environ, "MNIST_DIR": str(ROOT / "data" / "mnist")},
        cwd=ROOT,
        check=True,
    )
    return registry.latest_version() or ""


def ready_message(version: str, health: dict, predict: str, train: str, token: str, s3_port: int, state: Path) -> str:
    log = health["prediction_log"]["url"]
    return f"""
stack ready: model {version}
  prediction log {log} reachable={health["prediction_log"]["reachable"]}   (CASSANDRA_PORT)
  model store    {health["model_store"]["url"]} on http://127.0.0.1:{s3_port} reachable={health["model_store"]["reachable"]}   (S3_PORT)
predict: {predict}   curl -F file=@tests/fixtures/golden/3_canvas.png {predict}   (PREDICT_PORT)
train:   {train}   curl -X POST -H "Authorization: Bearer {token}" {train}   (TRAIN_PORT)
the newest records, from another terminal:
  PREDICTION_LOG={log} CASSANDRA_LOCAL_DC={os.environ["CASSANDRA_LOCAL_DC"]} .venv/bin/python -m service log tail
logs in {state}; Ctrl-C stops everything."""


@contextmanager
def cassandra(state: Path, port: int, storage_port: int) -> Iterator[CassandraNode]:
    node = CassandraNode(state / "cassandra", native_port=port, storage_port=storage_port)
    node.start(classpath())
    try:
        print(f"Cassandra ready after {node.wait_ready():.1f} s (log {node.log_file})", file=sys.stderr)
        yield node
    finally:
        node.stop()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="the compose stack without Docker (Ctrl-C stops everything)")
    parser.add_argument("--state", type=Path, default=ROOT / "var" / "stack", help="data of S3, Cassandra, logs")
    first_model = parser.add_mutually_exclusive_group()
    first_model.add_argument(
        "--publish-from",
        type=Path,
        default=SHIPPED,
        help="with no model in S3: publish this file store's model (default: the one this repository ships)",
    )
    first_model.add_argument("--train", action="store_true", help="with no model in S3: train one (minutes)")
    parser.add_argument("--exit-when-ready", action="store_true", help="stop everything once it answers (tests)")
    args = parser.parse_args(argv)
    predict_port = int(os.environ.get("PREDICT_PORT", "8080"))
    train_port = int(os.environ.get("TRAIN_PORT", "8081"))
    s3_port = int(os.environ.get("S3_PORT", "9000"))
    cassandra_port = int(os.environ.get("CASSANDRA_PORT", "9042"))
    state = args.state.resolve()
    state.mkdir(parents=True, exist_ok=True)
    token_file = state / "train-token"
    if not os.environ.get("TRAIN_TOKEN") and not token_file.exists():
        import secrets

        token_file.write_text(secrets.token_urlsafe(24))
    train_token = os.environ.get("TRAIN_TOKEN") or token_file.read_text().strip()
    signal.signal(signal.SIGTERM, lambda *_: (_ for _ in ()).throw(KeyboardInterrupt()))
    # a background job of a non-interactive shell starts with SIGINT ignored: the stack still stops on one
    signal.signal(signal.SIGINT, signal.default_int_handler)

    with ExitStack() as running:
        try:
            print(f"starting SeaweedFS (S3 on 127.0.0.1:{s3_port})...", file=sys.stderr)
            app = compose_app_env()
            s3 = running.enter_context(
                seaweedfs(state / "s3", {"s3.port": s3_port}, app["AWS_ACCESS_KEY_ID"], app["AWS_SECRET_ACCESS_KEY"])
            )
            env = stack_env(s3, cassandra_port, state, train_token)
            os.environ.update(env)  # this launcher's environment is the stack's: boto3, ml train, the functions
            seed_bucket(env)
            print(f"starting Cassandra on 127.0.0.1:{cassandra_port}...", file=sys.stderr)
            node = running.enter_context(
                cassandra(state, cassandra_port, int(os.environ.get("CASSANDRA_STORAGE_PORT", "7000")))
            )
            apply_schema(node, "digits")
            version = ensure_model(env["MODEL_STORE"], args.publish_from, args.train)
            predict = running.enter_context(
                function_server("predict", {}, state, predict_port, state / "predict.log", 120)
            )
            train = running.enter_context(
                function_server(
                    "train", {"TRAIN_LOCK_FILE": str(state / "train.lock")}, state, train_port, state / "train.log", 120
                )
            )
            health = requests.get(predict + "/healthz", timeout=10).json()
            print(
                ready_message(version, health, predict, train, train_token, s3_port, state), file=sys.stderr, flush=True
            )
            if args.exit_when_ready:
                return 0 if health["status"] == "ok" else 1
            while True:
                time.sleep(3600)
        except KeyboardInterrupt:
            print("\nstopping the stack...", file=sys.stderr)
            return 0
        except (NodeError, RuntimeError, subprocess.CalledProcessError) as exc:
            print(f"error: {exc}", file=sys.stderr)
            return 1
        finally:
            signal.signal(signal.SIGINT, signal.SIG_IGN)  # a second Ctrl-C must not cut the clean stop short
    return 0


if __name__ == "__main__":
    sys.exit(main())

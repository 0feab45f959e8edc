"""`make lambda`: both functions under AWS's own Lambda runtime pieces, behind local function URLs.

Each function runs as Lambda runs it: AWS's Runtime Interface Emulator (built once from the Go module proxy
into var/lambda/bin) starts ``python -m awslambdaric main.lambda_handler`` on Python 3.12 in the function's
folder; predict imports only the built layer (``build/layer/python``, Lambda's /opt/python), train the train
image's dependencies (requirements/run.txt) and the repository, as its image holds them. The environment is
the template's (its plain values; what it resolves from AWS is made local the way `make run` does), and in
front of each runtime a function URL (scripts/function_url.py) on PREDICT_PORT / TRAIN_PORT.

What it does not emulate: IAM auth on the train URL, concurrency (one execution environment per function),
the memory cap. One Ctrl-C stops everything.

    .venv/bin/python -m scripts.lambda_local [--exit-when-ready]
"""

from __future__ import annotations

import argparse
import hashlib
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import ExitStack, contextmanager
from pathlib import Path

import requests

from scripts.cassandra_node import free_port
from scripts.function_url import FunctionUrl
from scripts.servers import dies_with_parent

ROOT = Path(__file__).resolve().parents[1]
STATE = ROOT / "var" / "lambda"
RIE_MODULE = "github.com/aws/aws-lambda-runtime-interface-emulator/cmd/aws-lambda-rie"
RIE_VERSION = "v0.0.0-20261030222936-bef5c4ba774d"  # v1.23's code: the tagged module is not on the proxy here
RIE = STATE / "bin" / "aws-lambda-rie"
LAYER = ROOT / "build" / "layer" / "python"
RUNTIME_PYTHON = "3.12"
# what each function's Python environment is installed from: the layer's runtime pieces only for predict
# (its dependencies are in the layer), the train image's requirements for train
REQUIREMENTS = {
    "predict": ["requirements/lambda.txt"],
    "train": ["requirements/run.txt", "requirements/lambda.txt"],
}


def say(text: str) -> None:
    print(text, file=sys.stderr, flush=True)


def ensure_rie() -> Path:
    """The emulator binary, built from the Go module proxy the first time."""
    if not RIE.exists():
        if shutil.which("go") is None:
            raise RuntimeError("Go is not installed: it builds AWS's Runtime Interface Emulator")
        say(f"building AWS's Runtime Interface Emulator ({RIE_MODULE}@{RIE_VERSION}, first time only)...")
        env = {**os.environ, "GOBIN": str(RIE.parent), "CGO_ENABLED": "0"}
        subprocess.run(["go", "install", f"{RIE_MODULE}@{RIE_VERSION}"], env=env, check=True)
    return RIE


def build_layer() -> None:
    """The layer as `make layer` builds it, from this checkout's code: rebuilt on every start, so that predict
    runs what is here now."""
    from layers.build import LAMBDA_LIMIT, build

    say("building the Lambda layer (build/layer.zip)...")
    _, unzipped = build(RUNTIME_PYTHON, ROOT / "build")
    if unzipped > LAMBDA_LIMIT:
        raise RuntimeError(f"the layer is {unzipped / 2**20:.0f} MiB unzipped, over Lambda's limit")


def ensure_runtime(function: str) -> Path:
    """A Python 3.12 environment for ``function``, (re)installed when its requirement files change."""
    from layers.build import runtime_interpreter

    home = STATE / function
    files = REQUIREMENTS[function]
    digest = hashlib.sha256(b"".join((ROOT / name).read_bytes() for name in files)).hexdigest()
    stamp = home / ".installed"
    if stamp.exists() and stamp.read_text() == digest:
        return home / "bin" / "python"
    interpreter = runtime_interpreter(RUNTIME_PYTHON)
    if interpreter is None:
        raise RuntimeError(
            f"no Python {RUNTIME_PYTHON} here (pyenv install {RUNTIME_PYTHON}): Lambda's runtime runs it"
        )
    say(f"installing the {function} function's Lambda runtime (Python {RUNTIME_PYTHON}, {', '.join(files)})...")
    shutil.rmtree(home, ignore_errors=True)
    subprocess.run([interpreter, "-m", "venv", str(home)], check=True)
    for name in files:
        pip = [str(home / "bin" / "pip"), "install", "--quiet", "--require-hashes", "--no-deps", "-r", name]
        subprocess.run(pip, cwd=ROOT, check=True)
    stamp.write_text(digest)
    return home / "bin" / "python"


def template_environment(function: str) -> dict[str, str]:
    """The function's environment as template.yaml sets it: Globals, then its own, plain values only (a value
    the template resolves from AWS at deploy time is left to ``local_environment``)."""
    import yaml

    class Loader(yaml.SafeLoader):
        pass

    Loader.add_multi_constructor("!", lambda loader, suffix, node: None)  # CloudFormation's intrinsics
    template = yaml.load((ROOT / "template.yaml").read_text(), Loader=Loader)
    resource = template["Resources"][f"{function.title()}Function"]["Properties"]
    merged = {
        **template["Globals"]["Function"]["Environment"]["Variables"],
        **resource.get("Environment", {}).get("Variables", {}),
    }
    env = {name: str(value) for name, value in merged.items() if isinstance(value, str)}
    env["AWS_LAMBDA_FUNCTION_TIMEOUT"] = str(resource.get("Timeout", 3))
    env["AWS_LAMBDA_FUNCTION_MEMORY_SIZE"] = str(resource.get("MemorySize", 128))
    return env


def _token(data: Path, name: str) -> str:
    path = data / name
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(secrets.token_urlsafe(24))
    return path.read_text().strip()


def local_environment(function: str, data: Path) -> dict[str, str]:
    """What AWS would give the function, made local: `make run`'s embedded stores (or the caller's), tokens
    kept under var/lambda, Lambda's own variables; anything set in this environment wins."""
    env = template_environment(function)
    env.update(
        MODEL_STORE=f"file://{ROOT / 'var' / 'models'}",
        PREDICTION_LOG=f"sqlite://{ROOT / 'var' / 'predictions.db'}",
        MNIST_DIR=str(ROOT / "data" / "mnist"),
        TRAIN_DATA="local",
        SPOOL_DIR=str(data / "spool"),
        # the template's S3 prefix, made local: a spool that outlives an execution environment
        SPOOL_STORE=f"file://{data / 'spool-store'}",
        TRAIN_LOCK_FILE=str(data / "train.lock"),
        TRAIN_TOKEN=_token(data, "train-token"),
        PREDICTIONS_TOKEN=_token(data, "predictions-token"),
        CORRECTIONS_TOKEN=_token(data, "corrections-token"),
        LOG_FORMAT="text",
        AWS_LAMBDA_FUNCTION_NAME=function,
        AWS_REGION="us-east-1",
        AWS_DEFAULT_REGION="us-east-1",
    )
    for name in list(env):
        if name in os.environ and not name.startswith("AWS_LAMBDA_"):
            env[name] = os.environ[name]
    return {name: value for name, value in env.items() if not name.endswith("_SECRET_ARN")}


def _stat(pid: int | str) -> list[str]:
    """/proc/<pid>/stat after the command's name: [state, parent, process group, ...]; [] once gone."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()
    except OSError:
        return []


def kill_environment(emulator: int) -> None:
    """SIGKILL to the emulator's process group and to the runtime it started, which the emulator puts in a
    group of its own: what Lambda does to an execution environment it recycles. Returns once they are dead,
    so that no request reaches one that is dying."""
    groups = {emulator}
    groups |= {
        int(fields[2])
        for pid in os.listdir("/proc")
        if pid.isdigit() and (fields := _stat(pid))[1:2] == [str(emulator)]
    }
    for group in groups:
        try:
            os.killpg(group, signal.SIGKILL)
        except ProcessLookupError:
            pass
    deadline = time.monotonic() + 10
    while any(_stat(group)[:1] not in ([], ["Z"]) for group in groups) and time.monotonic() < deadline:
        time.sleep(0.05)


class Runtime:
    """One function's execution environment: RIE and the runtime interface client it starts, on a free port,
    its output (START/END/REPORT lines and the function's own log) in ``log``."""

    def __init__(self, function: str, python: Path, env: dict[str, str], log: Path) -> None:
        self.function, self.python, self.env, self.log = function, python, env, log
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.proc: subprocess.Popen | None = None
        # the emulator is told to die with the thread that starts it (dies_with_parent): always this one, which
        # lives as long as the runtime, never a request's thread that ends with its request
        self._launcher = ThreadPoolExecutor(1, thread_name_prefix=f"{function}-launcher")

    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def start(self) -> None:
        self._launcher.submit(self._start).result()

    def _start(self) -> None:
        self.kill()  # what is left of an environment that stopped answering: its port is the new one's
        task_root = ROOT / "functions" / self.function
        # predict sees the layer alone (Lambda's /opt/python); train the repository, as its image holds it
        code = LAYER if self.function == "predict" else ROOT
        env = {
            "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
            "HOME": os.environ.get("HOME", "/tmp"),
            "LANG": "C.UTF-8",
            **self.env,
            "PYTHONPATH": f"{task_root}:{code}",
            "LAMBDA_TASK_ROOT": str(task_root),
            "_HANDLER": "main.lambda_handler",
        }
        command = [
            str(ensure_rie()),
            "--runtime-interface-emulator-address",
            f"127.0.0.1:{self.port}",
            "--runtime-api-address",
            f"127.0.0.1:{free_port()}",
            str(self.python),
            "-m",
            "awslambdaric",
            "main.lambda_handler",
        ]
        out = open(self.log, "ab")
        self.proc = subprocess.Popen(
            dies_with_parent(command), cwd=task_root, env=env, stdout=out, stderr=subprocess.STDOUT,
            start_new_session=True,
        )  # fmt: skip
        out.close()
        (self.log.parent / f"{self.function}.pid").write_text(str(self.proc.pid))  # its process group
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:  # RIE listens once it has started; the function starts on first use
            if self.proc.poll() is not None:
                raise RuntimeError(f"the {self.function} runtime exited: see {self.log}")
            try:  # a connection only: any request to RIE is an invocation
                socket.create_connection(("127.0.0.1", self.port), timeout=1).close()
                return
            except OSError:
                time.sleep(0.1)
        raise RuntimeError(f"the {self.function} runtime did not listen within 30 s: see {self.log}")

    def kill(self) -> None:
        """As Lambda recycles an environment: at once, whatever it is doing."""
        if self.proc is not None and self.proc.poll() is None:
            kill_environment(self.proc.pid)
            self.proc.wait()

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.kill()
        self._launcher.shutdown()


@contextmanager
def function_url(function: str, port: int, data: Path) -> Iterator[tuple[str, Runtime]]:
    """``function`` under its runtime, behind a function URL on ``port``: (the URL, the runtime)."""
    python = ensure_runtime(function)
    runtime = Runtime(function, python, local_environment(function, data), data / f"{function}.log")
    runtime.start()
    (data / f"{function}.rie").write_text(runtime.url)  # the emulator itself, for invoking it without the front
    timeout = float(runtime.env["AWS_LAMBDA_FUNCTION_TIMEOUT"])
    front = FunctionUrl(port, runtime, timeout)
    thread = threading.Thread(target=front.serve_forever, name=f"{function}-url", daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{front.server_address[1]}", runtime
    finally:
        front.shutdown()
        front.server_close()
        runtime.stop()


def publish_shipped_model() -> None:
    from scripts.starter_model import publish_starter

    store = os.environ.get("MODEL_STORE") or f"file://{ROOT / 'var' / 'models'}"
    version = publish_starter(store)
    if version:
        say(f"no model in {store} yet: published the shipped one ({version})")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="both functions under AWS's Lambda runtime, behind function URLs")
    parser.add_argument("--exit-when-ready", action="store_true", help="stop once both answer (tests)")
    parser.add_argument("--state", type=Path, default=STATE / "run", help="tokens, spool, the runtimes' logs")
    args = parser.parse_args(argv)
    data = args.state.resolve()
    data.mkdir(parents=True, exist_ok=True)
    signal.signal(signal.SIGTERM, lambda *_: (_ for _ in ()).throw(KeyboardInterrupt()))
    signal.signal(signal.SIGINT, signal.default_int_handler)  # heard even when started in the background
    with ExitStack() as running:
        try:
            ensure_rie()
            build_layer()
            publish_shipped_model()
            ports = {
                name: int(os.environ.get(f"{name.upper()}_PORT", default))
                for name, default in (("predict", 8080), ("train", 8081))
            }
            urls = {name: running.enter_context(function_url(name, ports[name], data))[0] for name in ports}
            health = requests.get(urls["predict"] + "/healthz", timeout=120)
            say(ready_message(urls, health.status_code, data))
            if args.exit_when_ready:
                return 0 if health.status_code == 200 else 1
            while True:
                time.sleep(3600)
        except KeyboardInterrupt:
            say("\nstopped both functions")
            from ml.interrupts import interrupted_status

            return interrupted_status()
        except (RuntimeError, subprocess.CalledProcessError, OSError) as exc:
            say(f"error: {exc}")
            return 1
        finally:
            signal.signal(signal.SIGINT, signal.SIG_IGN)
    return 0


def ready_message(urls: dict[str, str], health: int, data: Path) -> str:
    return f"""
both functions run under AWS's Lambda runtime (RIE + awslambdaric, Python {RUNTIME_PYTHON}); /healthz {health}
predict: {urls["predict"]}   curl -F file=@tests/fixtures/golden/3_canvas.png {urls["predict"]}
  the history and corrections take the tokens in {data}/predictions-token and corrections-token
train:   {urls["train"]}   curl -X POST -H "Authorization: Bearer {_token(data, "train-token")}" {urls["train"]}
logs (START/END/REPORT and the functions' own) in {data}; Ctrl-C stops both."""


if __name__ == "__main__":
    sys.exit(main())

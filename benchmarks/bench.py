"""Benchmarks: the seed's way beside ours, in the same run. Prints figures and writes BENCHMARKS.md.

    .venv/bin/python benchmarks/bench.py [--quick] [--training] [--out BENCHMARKS.md]

Medians are the headline; p90/p99/min/max and the number of runs are printed with them.
"""

from __future__ import annotations

import argparse
import io
import os
import re
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import requests
from PIL import Image

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from benchmarks import seed  # noqa: E402
from ml import devset, mnist  # noqa: E402
from ml.predictor import Predictor  # noqa: E402
from ml.preprocess import preprocess  # noqa: E402
from ml.registry import ModelRegistry  # noqa: E402
from ml.storage.filestore import FileObjectStore  # noqa: E402
from scripts.servers import free_port, seaweedfs, stop  # noqa: E402

MODEL_STORE = ROOT / "tests" / "fixtures" / "modelstore"
LINES: list[str] = []


KEEP_MARKER = "<!-- below: sections written by other benchmark scripts; bench.py keeps them -->"


def say(line: str = "") -> None:
    print(line, flush=True)
    LINES.append(line)


def stats(samples: list[float]) -> dict[str, float]:
    s = sorted(samples)
    pick = lambda q: s[min(len(s) - 1, int(round(q * (len(s) - 1))))]  # noqa: E731
    return {
        "median": statistics.median(s),
        "p90": pick(0.9),
        "p99": pick(0.99),
        "min": s[0],
        "max": s[-1],
        "runs": len(s),
    }


def fmt(st: dict[str, float], unit: str = "ms") -> str:
    return (
        f"median {st['median']:.3f} {unit}, p90 {st['p90']:.3f}, p99 {st['p99']:.3f}, "
        f"min {st['min']:.3f}, max {st['max']:.3f}, runs {st['runs']}"
    )


def timed(fn, runs: int) -> dict[str, float]:
    fn()  # warm
    samples = []
    for _ in range(runs):
        started = time.perf_counter()
        fn()
        samples.append((time.perf_counter() - started) * 1000)
    return stats(samples)


def images(data: mnist.Mnist) -> dict[str, bytes]:
    rng = np.random.default_rng(1)
    out = io.BytesIO()
    Image.fromarray(data.x_test[0]).save(out, "PNG")
    _, phone = devset._photo(data.x_test[1], rng, (1000, 1000), (0.25, 0.4), centred=False)
    _, huge = devset._photo(data.x_test[2], rng, (4000, 3000), (0.08, 0.12), centred=False)
    return {
        "28x28 PNG": out.getvalue(),
        "280x280 RGBA canvas PNG": (ROOT / "tests/fixtures/golden/3_canvas.png").read_bytes(),
        "1000x1000 phone JPEG": phone,
        "4000x3000 JPEG": huge,
    }


def in_process(pictures: dict[str, bytes], predictor: Predictor, weights: Path, quick: bool) -> float:
    say("## 1. In-process predict latency (decode + preprocess + infer), one image")
    say("")
    seed_28 = None
    for name, data in pictures.items():
        ours = timed(lambda data=data: predictor.predict(preprocess(data)[None]), 30 if quick else 200)
        seed_runs = 5 if quick or name.startswith("4000") else 20  # the seed takes ~19 s on the largest
        theirs = timed(lambda data=data: seed.predict(data, weights), seed_runs)
        seed_28 = seed_28 or theirs["median"]
        say(f"- {name}: ours {fmt(ours)}")
        say(f"  seed {fmt(theirs)}; ours is {theirs['median'] / ours['median']:.0f}x faster (median)")
    say("")
    return seed_28


def batch(pictures: dict[str, bytes], predictor: Predictor, weights: Path) -> None:
    say("## 2. Batch: 64 canvas images in one call")
    data = pictures["280x280 RGBA canvas PNG"]
    started = time.perf_counter()
    predictor.predict(np.stack([preprocess(data) for _ in range(64)]))
    ours = 64 / (time.perf_counter() - started)
    started = time.perf_counter()
    for _ in range(8):
        seed.predict(data, weights)
    theirs = 8 / (time.perf_counter() - started)
    say(f"- ours {ours:.0f} images/s; seed {theirs:.1f} images/s (one request each); ratio {ours / theirs:.0f}x")
    say("")


def lua_body(data: bytes) -> tuple[Path, str]:
    boundary = "----bench0123456789"
    body = (
        (
            f'--{boundary}\r\nContent-Disposition: form-data; name="file"; filename="d.png"\r\n'
            f"Content-Type: image/png\r\n\r\n"
        ).encode()
        + data
        + f"\r\n--{boundary}--\r\n".encode()
    )
    escaped = "".join(f"\\{b}" for b in body)
    script = Path(tempfile.mkstemp(suffix=".lua")[1])
    script.write_text(
        f'wrk.method = "POST"\nwrk.body = "{escaped}"\n'
        f'wrk.headers["Content-Type"] = "multipart/form-data; boundary={boundary}"\n'
    )
    return script, boundary


RUNTIMES = {  # label -> (command, environment): the launcher now, and functions-framework's server before it
    "scripts/serve.sh (gunicorn + 2 uvicorn workers)": (["scripts/serve.sh", "predict"], {"WORKERS": "2"}),
    "functions-framework (gunicorn, 2 workers x 1 thread; before)": (
        [
            str(Path(sys.executable).with_name("functions-framework")),
            "--source",
            "functions/predict/main.py",
            "--target",
            "predict",
        ],
        {"WORKERS": "2", "THREADS": "1"},
    ),
}
SERVE = next(iter(RUNTIMES))


def start_predict(env: dict[str, str], tmp: Path, runtime: str = SERVE) -> tuple[subprocess.Popen, str]:
    port = free_port()
    command, runtime_env = RUNTIMES[runtime]
    proc = subprocess.Popen(
        [*command, "--host", "127.0.0.1", "--port", str(port)],
        cwd=ROOT,
        env={**os.environ, **runtime_env, **env},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    return proc, f"http://127.0.0.1:{port}"


def pss_mb(proc: subprocess.Popen) -> float:
    """Proportional set size of the process and its children (gunicorn workers)."""
    pids = [proc.pid]
    children = Path(f"/proc/{proc.pid}/task/{proc.pid}/children")
    if children.exists():
        pids += [int(p) for p in children.read_text().split()]
    total = 0
    for pid in pids:
        try:
            rollup = Path(f"/proc/{pid}/smaps_rollup").read_text()
            total += int(re.search(r"^Pss:\s+(\d+) kB", rollup, re.MULTILINE).group(1))
        except (OSError, AttributeError):
            pass
    return total / 1024


def trickle(url: str, count: int, data: bytes) -> list[socket.socket]:
    """``count`` uploads that send their headers and then nothing (a phone on a dead link)."""
    host, port = url.removeprefix("http://").split(":")
    socks = []
    for _ in range(count):
        sock = socket.create_connection((host, int(port)))
        sock.sendall(
            f"POST / HTTP/1.1\r\nHost: x\r\nContent-Type: image/png\r\nContent-Length: {len(data)}\r\n\r\n".encode()
            + data[:10]
        )
        socks.append(sock)
    return socks


def http(pictures: dict[str, bytes], seed_median: float, tmp: Path, quick: bool) -> None:
    say("## 3. HTTP: the predict function, wrk on the same 2 cores (28x28 PNG uploads)")
    wrk = shutil.which("wrk")
    if wrk is None:
        say("- wrk is not installed (`apt-get install wrk`): skipped")
        say("")
        return
    script, _ = lua_body(pictures["28x28 PNG"])
    duration = "3s" if quick else "10s"
    for n, runtime in enumerate(RUNTIMES):
        env = {
            "MODEL_STORE": f"file://{MODEL_STORE}",
            "PREDICTION_LOG": f"sqlite://{tmp / f'h{n}.db'}",
            "READ_TIMEOUT_SECONDS": "60",  # the slow uploads below stay connected for the whole run
        }
        proc, url = start_predict(env, tmp, runtime)
        try:
            _wait(url)
            requests.post(url, files={"file": ("d.png", pictures["28x28 PNG"])}, timeout=30)
            say(f"- {runtime}:")
            for clients in (1, 4, 16, 64, "16 + 4 slow uploads"):
                slow = trickle(url, 4, pictures["28x28 PNG"]) if isinstance(clients, str) else []
                connections = 16 if slow else clients
                out = subprocess.run(
                    [
                        wrk,
                        "-t",
                        str(min(connections, 2)),
                        "-c",
                        str(connections),
                        "-d",
                        duration,
                        "--timeout",
                        "5s",
                        "--latency",
                        "-s",
                        str(script),
                        url,
                    ],
                    capture_output=True,
                    text=True,
                ).stdout
                for sock in slow:
                    sock.close()
                found = re.search(r"Requests/sec:\s+([\d.]+)", out)
                rps = float(found.group(1)) if found else 0.0
                lat = dict(re.findall(r"^\s+(50|90|99)%\s+([\d.]+\w+)", out, re.MULTILINE))
                errors = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
                timeouts = re.search(r"timeout (\d+)", out)
                line = f"  {clients:>2} clients: {rps:,.0f} req/s, p50 {lat.get('50')}, p90 {lat.get('90')}, p99 {lat.get('99')}"
                if clients == 1:
                    p50 = _ms(lat.get("50", "0ms"))
                    line += f"; seed in-process median / our HTTP p50 = {seed_median / p50:.0f}x"
                say(
                    line
                    + (f", NON-2xx {errors.group(1)}" if errors else "")
                    + (f", {timeouts.group(1)} timed out (5 s)" if timeouts and timeouts.group(1) != "0" else "")
                )
            say(f"  PSS of the predict processes after load: {pss_mb(proc):.0f} MB")
        finally:
            stop(proc)
    say("")


def _ms(value: str) -> float:
    number, unit = re.match(r"([\d.]+)(\w+)", value).groups()
    return float(number) * {"us": 0.001, "ms": 1.0, "s": 1000.0}[unit]


def _wait(url: str, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            requests.get(url + "/healthz", timeout=1)
            return
        except requests.ConnectionError:
            time.sleep(0.01)
    raise RuntimeError(f"{url} did not start")


def cold_start(pictures: dict[str, bytes], tmp: Path, runs: int) -> None:
    say("## 4. Cold start: process start -> first prediction answered over HTTP")
    data = pictures["28x28 PNG"]

    def measure(env: dict[str, str]) -> tuple[dict[str, float], float]:
        samples, pss = [], 0.0
        for i in range(runs):
            started = time.perf_counter()
            proc, url = start_predict({**env, "PREDICTION_LOG": f"sqlite://{tmp / f'c{i}.db'}"}, tmp)
            try:
                while True:
                    try:
                        answer = requests.post(url, files={"file": ("d.png", data)}, timeout=30)
                        if answer.status_code == 200:
                            break
                    except requests.ConnectionError:
                        time.sleep(0.005)
                samples.append((time.perf_counter() - started) * 1000)
                pss = pss_mb(proc)
            finally:
                stop(proc)
        return stats(samples), pss

    st, pss = measure({"MODEL_STORE": f"file://{MODEL_STORE}"})
    say(f"- file store: {fmt(st)}; PSS {pss:.0f} MB")
    with seaweedfs(tmp / "s3") as env:
        env.pop("ports")
        import boto3
        from botocore.config import Config

        os.environ.update(env)
        boto3.client("s3", config=Config(s3={"addressing_style": "path"})).create_bucket(Bucket="bench")
        from ml.storage.s3store import S3ObjectStore

        source = ModelRegistry(FileObjectStore(MODEL_STORE))
        target = ModelRegistry(S3ObjectStore("bench", "m"))
        version = source.latest_version()
        target.publish(source.load(version))
        target.promote(version)
        st, pss = measure({**env, "MODEL_STORE": "s3://bench/m"})
        say(f"- S3 store (SeaweedFS): {fmt(st)}; PSS {pss:.0f} MB")
    say("")


def log_writes(tmp: Path) -> None:
    from service.predlog import new_prediction_id
    from service.predlog.base import PredictionRecord, created_at_of
    from service.predlog.sqlite import SqlitePredictionLog

    say("## 6. Prediction-log write cost (per record)")
    log = SqlitePredictionLog(tmp / "bench.db")
    log.ensure_schema()
    image = (ROOT / "tests/fixtures/golden/3_canvas.png").read_bytes()

    def write():
        pid = new_prediction_id()
        log.write(
            PredictionRecord(
                pid,
                created_at_of(pid),
                "d.png",
                "image/png",
                3,
                0.99,
                [0.1] * 10,
                "v",
                1.0,
                bytes(784),
                image,
                None,
                len(image),
            )
        )

    say(f"- SQLite (WAL, synchronous=NORMAL): {fmt(timed(write, 500))}")
    say("- Cassandra: on a real node, in the section of `python -m benchmarks.cassandra_log` below")
    say("")


def training() -> None:
    say("## 5. Training the default model (8 epochs, full MNIST)")
    with tempfile.TemporaryDirectory() as store:
        started = time.perf_counter()
        out = subprocess.run(
            [sys.executable, "-m", "ml", "train"],
            cwd=ROOT,
            capture_output=True,
            text=True,
            env={**os.environ, "MODEL_STORE": store},
        )
        wall = time.perf_counter() - started
    line = re.search(r"test accuracy ([\d.]+) in (\d+) s", out.stdout)
    say(f"- {line.group(0) if line else out.stdout[-300:]} (process wall time {wall:.0f} s)")
    say("")


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--quick", action="store_true", help="fewer runs (a smoke run)")
    parser.add_argument("--training", action="store_true", help="also train the default model (~3 min)")
    parser.add_argument("--out", type=Path, default=ROOT / "BENCHMARKS.md")
    args = parser.parse_args()
    data = mnist.load(mnist.DirectorySource(ROOT / "data" / "mnist"))
    registry = ModelRegistry(FileObjectStore(MODEL_STORE))
    predictor = Predictor(registry.load(registry.latest_version(), files=("model.tflite",)))
    pictures = images(data)
    say(f"# Benchmarks ({time.strftime('%Y-%m-%d')}, {os.cpu_count()} cores, model {predictor.version})")
    say("")
    say(f"Command: `{' '.join(['.venv/bin/python', 'benchmarks/bench.py', *sys.argv[1:]])}`")
    say("")
    with tempfile.TemporaryDirectory() as tmp_name:
        tmp = Path(tmp_name)
        weights = seed.make_weights(tmp / "seed.weights.h5", data.x_train, data.y_train)
        seed_median = in_process(pictures, predictor, weights, args.quick)
        batch(pictures, predictor, weights)
        http(pictures, seed_median, tmp, args.quick)
        cold_start(pictures, tmp, 3 if args.quick else 5)
        if args.training:
            training()
        log_writes(tmp)
    kept = ""  # the sections other benchmark scripts wrote below the marker stay
    if args.out.exists() and KEEP_MARKER in args.out.read_text():
        kept = KEEP_MARKER + args.out.read_text().split(KEEP_MARKER, 1)[1]
    args.out.write_text("\n".join(LINES) + "\n" + kept)
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

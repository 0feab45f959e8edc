"""Flame graphs of the predict function under load, one per picture: `make profile`.

    .venv/bin/python -m benchmarks.profile [--seconds 20] [--out docs/profile] [--tag before]

For each picture (MNIST's 28x28 PNG, the page's 280x280 canvas PNG, a 4000x3000 phone JPEG), the predict function
is started as `scripts/serve.sh` runs it (gunicorn, two uvicorn workers, the SQLite log), warmed, and loaded by
wrk with 16 clients (4 for the photo) sending the picture as the raw body, while py-spy samples both workers
from outside (no code changes: `py-spy record --subprocesses` on the gunicorn master). Each flame graph is
written to ``<out>/<picture>[-<tag>].svg``, and the share of the workers' samples each cost of FRAMES took is
printed (the width of a frame in the graph is the same share of all samples).
"""

from __future__ import annotations

import argparse
import html
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

from benchmarks import bench, load
from ml import mnist
from scripts.servers import stop

PICTURES = {  # file name -> bench.images' name, wrk's clients
    "mnist-28x28-png": ("28x28 PNG", 16),
    "canvas-280x280-png": ("280x280 RGBA canvas PNG", 16),
    # few enough that none is refused: a worker decodes one large picture at a time and queues only a few more
    "photo-4000x3000-jpeg": ("4000x3000 JPEG", 4),
}


# frames whose share of the workers' samples is printed after each recording: where a request's time goes
FRAMES = {
    "the model (LiteRT)": "Interpreter.invoke",
    "preprocessing (decode, locate, normalise)": "Recogniser._preprocess",
    "the record (its id, fields, an original kept in the store)": "Recogniser._record",
    "the log's group write": "GroupCommit._flush",
    "the cost check before decoding": "costly.<locals>.judge",
    "metrics": "Observer.observe",
    "the access line": "access",
    "the answer's JSON": "json_response",
    "sending the answer": "send_asgi",
}
_FRAME = re.compile(r'<title>([^<]*) \([\d,]+ samples?, [\d.]+%\)</title><rect [^>]*fg:w="(\d+)"')


def shares(svg: Path) -> dict[str, float]:
    """Each of FRAMES' share of the workers' samples in a py-spy flame graph (a frame under itself counted once
    per level: none of these recurses)."""
    found: dict[str, int] = {}
    for title, width in _FRAME.findall(svg.read_text()):
        name = re.sub(r" \([^()]*:\d+\)$", "", html.unescape(title))
        found[name] = found.get(name, 0) + int(width)
    workers = sum(width for name, width in found.items() if "worker [gunicorn]" in name)
    return {label: found.get(frame, 0) / max(workers, 1) for label, frame in FRAMES.items()}


def raw_body_script(data: bytes, content_type: str) -> Path:
    """A wrk Lua script that POSTs ``data`` as the whole body (what curl --data-binary sends)."""
    escaped = "".join(f"\\{b}" for b in data)
    handle = tempfile.NamedTemporaryFile("w", suffix=".lua", delete=False)
    with handle:
        handle.write(f'wrk.method = "POST"\nwrk.body = "{escaped}"\nwrk.headers["Content-Type"] = "{content_type}"\n')
    return Path(handle.name)


def profile(name: str, data: bytes, clients: int, out: Path, seconds: int, tmp: Path) -> Path:
    content_type = "image/jpeg" if "jpeg" in name else "image/png"
    command, env, path = bench.servers(tmp)[bench.OURS]
    proc, url = bench.serve_warm(
        command, {**env, "PREDICTION_LOG": f"sqlite://{tmp / name}.db"}, path, data, content_type
    )
    script = raw_body_script(data, content_type)
    svg = out / f"{name}.svg"
    try:
        spy = subprocess.Popen(
            [
                shutil.which("py-spy") or str(Path(sys.executable).with_name("py-spy")),
                "record",
                "--subprocesses",
                "--pid",
                str(proc.pid),
                "--duration",
                str(seconds + 2),
                "--rate",
                "250",
                "--format",
                "flamegraph",
                "--output",
                str(svg),
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            text=True,
        )
        result = load.run_wrk(url, script, clients, seconds, proc.pid)
        _, err = spy.communicate(timeout=seconds + 60)
        if spy.returncode != 0:
            raise RuntimeError(f"py-spy failed: {err.strip()}")
        print(f"{name}, {clients} clients: {result.rps:,.0f} req/s, p99 {result.p99_ms:.1f} ms -> {svg}")
        print(f"  {result.non_2xx} answers not 2xx; py-spy's share of the workers' samples, per cost:")
        for label, share in shares(svg).items():
            print(f"  {share:6.1%}  {label}")
    finally:
        stop(proc)
        script.unlink()
    return svg


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=int, default=20, help="of load (and sampling) per picture")
    parser.add_argument("--out", type=Path, default=Path("docs/profile"), help="folder of the flame graphs")
    parser.add_argument("--tag", default="", help="added to each file name (before, after...)")
    args = parser.parse_args(argv)
    if shutil.which("wrk") is None:
        parser.error("wrk is not installed (apt-get install wrk; `make profile` does it)")
    pictures = bench.images(mnist.load(mnist.DirectorySource(bench.ROOT / "data" / "mnist")))
    args.out.mkdir(parents=True, exist_ok=True)
    suffix = f"-{args.tag}" if args.tag else ""
    with tempfile.TemporaryDirectory() as tmp:
        for name, (picture, clients) in PICTURES.items():
            profile(f"{name}{suffix}", pictures[picture], clients, args.out, args.seconds, Path(tmp))
    return 0


if __name__ == "__main__":
    sys.exit(main())

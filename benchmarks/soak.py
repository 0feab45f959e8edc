"""Soak: 60 s of 18 clients on the predict function as people run it (scripts/serve.sh, SQLite log),
4 of them hostile or slow, 2 replaying the costliest valid request (64 tiny PNGs declaring 880x880 pixels
each, inside every per-request budget) in a loop, and the log locked by another writer for 12 s in the middle.

The hostile clients rotate through every class of the hardening issue: uploads that trickle in a
byte at a time, a JPEG of 2,000 scans, 40-megapixel 1-bit and 16-bit PNGs of a few KB, one request
of many large images, JSON nested 100,000 deep, a 1 MB request line, an HTML "image" whose original
is then fetched back, and a correction posted as a form. The 12 ordinary clients upload a digit and
time it. Passes when:

- no answered-200 prediction id is missing from the log (after the spool has drained),
- there is no 5xx,
- ordinary requests' p50 is at most 250 ms and their p99 at most 1 s, and their throughput while the log is locked is at least half
  of what it was before,
- the RSS of the predict processes is back within 20 % of its start;

then one worker is asked for --random-paths made-up paths (files, routes, ids never asked for before), and
passes when its RSS is within 10 % of what it was after a warm-up (nothing a client names is kept).

    .venv/bin/python benchmarks/soak.py [--seconds 60] [--lock-seconds 12] [--cheap-clients 2] [--random-paths 100000]
"""

from __future__ import annotations

import argparse
import io
import shutil
import socket
import sqlite3
import statistics
import sys
import tempfile
import threading
import time
from collections import Counter
from pathlib import Path

import numpy as np
import requests
from PIL import Image

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from scripts.servers import function_server, raw_exchange  # noqa: E402
from tests.fixtures.images import costly_parts  # noqa: E402

NORMAL_CLIENTS, HOSTILE_CLIENTS = 12, 4


def rss_mb(pid: int) -> float:
    pids = [pid] + [int(p) for p in Path(f"/proc/{pid}/task/{pid}/children").read_text().split()]
    total = 0
    for p in pids:
        for line in Path(f"/proc/{p}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                total += int(line.split()[1])
    return total / 1024


def server_pid(port: str) -> int:
    """The master's pid, found by its listening socket: gunicorn renames its processes (setproctitle), so their
    command lines no longer name the function or the port."""
    from tests.fixtures.processes import server_processes

    return server_processes(f"http://127.0.0.1:{port}")[0]


def server_env(tmp: Path) -> dict[str, str]:
    """The predict function on a copy of the shipped model's store (large uploads' originals are written into
    the store), its SQLite log ``tmp``/soak.db and its spool in ``tmp``."""
    models = tmp / "models"
    shutil.copytree(ROOT / "tests" / "fixtures" / "modelstore", models)
    return {
        "MODEL_STORE": f"file://{models}",
        "PREDICTION_LOG": f"sqlite://{tmp / 'soak.db'}",
        "SPOOL_DIR": str(tmp / "spool"),
    }


def png(image: Image.Image) -> bytes:
    out = io.BytesIO()
    image.save(out, "PNG")
    return out.getvalue()


def hostile_inputs() -> list[tuple[str, dict]]:
    """(class, requests.post keyword arguments) for every cheap-but-costly input."""
    flat = io.BytesIO()
    Image.new("RGB", (4000, 3000), (200, 200, 200)).save(flat, "JPEG", progressive=True)
    jpeg = flat.getvalue()
    last, end = jpeg.rfind(b"\xff\xda"), jpeg.rfind(b"\xff\xd9")
    many_scans = jpeg[:end] + jpeg[last:end] * 2000 + jpeg[end:]
    sixteen = np.zeros((5000, 8000), dtype=np.uint16)
    sixteen[2000:3000, 3000:3300] = 60000
    big = png(Image.new("L", (5000, 4000), 255))
    return [
        ("jpeg_2000_scans", {"files": {"file": ("s.jpg", many_scans)}}),
        ("png_1bit_40mp", {"files": {"file": ("one.png", png(Image.new("1", (8000, 5000), 1)))}}),
        ("png_16bit_40mp", {"files": {"file": ("sixteen.png", png(Image.fromarray(sixteen)))}}),
        ("many_20mp_images", {"files": [("file", (f"{i}.png", big)) for i in range(8)]}),
        ("json_nested", {"data": b"[" * 100_000, "headers": {"Content-Type": "application/json"}}),
    ]


def trickle(url: str, body: bytes, seconds: float) -> bytes:
    """Headers, then one byte every 0.5 s, until the server answers (it must, with a 408)."""
    host, port = url.removeprefix("http://").split(":")
    with socket.create_connection((host, int(port)), timeout=60) as sock:
        sock.sendall(
            f"POST / HTTP/1.1\r\nHost: x\r\nContent-Type: image/png\r\nContent-Length: {len(body)}\r\n\r\n".encode()
        )
        sock.settimeout(0.5)
        deadline, answer = time.monotonic() + seconds, b""
        for i in range(len(body)):
            try:
                answer = sock.recv(65536)
                break
            except TimeoutError:
                sock.sendall(body[i : i + 1])
            if time.monotonic() > deadline:
                break
        return answer


RANDOM_PATH_PREFIXES = ("/assets/", "/", "/predictions/")  # a file, a route, an id: each name new


def random_paths(count: int) -> bool:
    """One worker (WORKERS=1) asked for ``count`` paths nobody has asked for before, names of 8 to 2,000
    characters; passes when its RSS after them is within 10 % of its RSS after a warm-up of the same."""
    import http.client
    import os
    import random

    from tests.fixtures.processes import rss_kib, server_processes

    def client(url: str, n: int) -> Counter:
        host, port = url.removeprefix("http://").split(":")
        connection, statuses = http.client.HTTPConnection(host, int(port), timeout=30), Counter()
        for i in range(n):
            name = os.urandom(random.randint(4, 1000)).hex()
            connection.request("GET", RANDOM_PATH_PREFIXES[i % len(RANDOM_PATH_PREFIXES)] + name)
            answer = connection.getresponse()
            answer.read()
            statuses[answer.status] += 1
        connection.close()
        return statuses

    with tempfile.TemporaryDirectory() as tmp_name:
        tmp = Path(tmp_name)
        env = {**server_env(tmp), "WORKERS": "1"}
        with function_server("predict", env, tmp) as url:
            _, [worker] = server_processes(url)  # by its listening socket: gunicorn renames its processes
            client(url, max(count // 50, 1_000))
            start = rss_kib(worker) / 1024
            began = time.monotonic()
            statuses = client(url, count)
            took = time.monotonic() - began
            end = rss_kib(worker) / 1024
    growth = (end - start) / start * 100
    within = abs(growth) <= 10
    print(
        f"random paths: {count:,} requests in {took:.0f} s ({count / took:.0f}/s), statuses {dict(sorted(statuses.items()))}; "
        f"worker RSS {start:.1f} -> {end:.1f} MB ({growth:+.1f} %): {'within' if within else 'NOT within'} 10 %"
    )
    return within


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--seconds", type=float, default=60)
    parser.add_argument("--lock-seconds", type=float, default=12)
    parser.add_argument(
        "--cheap-clients", type=int, default=2, help="clients replaying the costliest valid request in a loop"
    )
    parser.add_argument(
        "--random-paths",
        type=int,
        default=100_000,
        help="then this many made-up paths, one worker's RSS read (0: none)",
    )
    args = parser.parse_args()
    good = (ROOT / "tests/fixtures/golden/3_canvas.png").read_bytes()
    hostile = hostile_inputs()
    statuses: Counter = Counter()
    hostile_statuses: Counter = Counter()
    accepted: list[str] = []
    normal: list[tuple[float, float]] = []  # (finished at, seconds)
    problems: list[str] = []
    spooled_under_lock: list[dict] = []
    lock = threading.Lock()
    with tempfile.TemporaryDirectory() as tmp_name:
        tmp = Path(tmp_name)
        db = tmp / "soak.db"
        env = {**server_env(tmp), "READ_TIMEOUT_SECONDS": "10"}
        with function_server("predict", env, tmp) as url:
            pid = server_pid(url.rsplit(":", 1)[1])
            for _ in range(50):
                requests.post(url, files={"file": ("3.png", good)}, timeout=30)
            time.sleep(1)
            rss_start = rss_mb(pid)
            started = time.monotonic()
            deadline = started + args.seconds
            lock_from = started + (args.seconds - args.lock_seconds) / 2
            lock_until = lock_from + args.lock_seconds

            def record(kind: str, status: int, body: dict | None = None, took: float | None = None) -> None:
                with lock:
                    (statuses if kind == "normal" else hostile_statuses)[
                        status if kind == "normal" else (kind, status)
                    ] += 1
                    if status == 200 and body and "id" in body:
                        accepted.append(body["id"])
                    if took is not None:
                        normal.append((time.monotonic(), took))
                    if status >= 500:
                        problems.append(f"{kind}: {status}")

            def ordinary() -> None:
                session = requests.Session()
                while time.monotonic() < deadline:
                    t = time.monotonic()
                    answer = session.post(url, files={"file": ("3.png", good)}, timeout=60)
                    record("normal", answer.status_code, answer.json(), time.monotonic() - t)

            def attacker(n: int) -> None:
                i = n
                while time.monotonic() < deadline:
                    i += 1
                    step = i % (len(hostile) + 3)
                    if step < len(hostile):
                        kind, kwargs = hostile[step]
                        answer = requests.post(url, timeout=60, **kwargs)
                        record(kind, answer.status_code)
                    elif step == len(hostile):
                        answer = trickle(url, good, 30)
                        record("slow_upload", int(answer.split(b" ", 2)[1]) if answer.startswith(b"HTTP/1.1 ") else 0)
                    elif step == len(hostile) + 1:
                        answer = raw_exchange(url, b"GET /" + b"a" * 1_000_000 + b" HTTP/1.1\r\nHost: x\r\n\r\n")
                        record(
                            "huge_request_line", int(answer.split(b" ", 2)[1]) if answer.startswith(b"HTTP/1.1 ") else 0
                        )
                    else:
                        posted = requests.post(
                            url, files={"file": ("x.html", b"<script>alert(1)</script>", "text/html")}, timeout=60
                        )
                        record("html_upload", posted.status_code)
                        label = requests.post(
                            f"{url}/predictions/00000000-0000-1000-8000-000000000000/label",
                            data={"label": "1"},
                            timeout=60,
                        )
                        record("form_correction", label.status_code)

            def cheap_worker() -> None:
                costly = {"files": costly_parts()}
                while time.monotonic() < deadline:
                    answer = requests.post(url, timeout=120, **costly)
                    record("costly_64_parts", answer.status_code)

            def locker() -> None:
                time.sleep(max(0.0, lock_from - time.monotonic()))
                conn = sqlite3.connect(db, isolation_level=None, timeout=30)
                conn.execute("BEGIN EXCLUSIVE")
                time.sleep(args.lock_seconds)
                spooled_under_lock.append(requests.get(url + "/healthz", timeout=30).json()["prediction_log"])
                conn.execute("ROLLBACK")
                conn.close()

            threads = [threading.Thread(target=ordinary) for _ in range(NORMAL_CLIENTS)]
            threads += [threading.Thread(target=attacker, args=(n,)) for n in range(HOSTILE_CLIENTS)]
            threads += [threading.Thread(target=cheap_worker) for _ in range(args.cheap_clients)]
            threads.append(threading.Thread(target=locker))
            for t in threads:
                t.start()
            for t in threads:
                t.join()
            drain_deadline = time.monotonic() + 60
            while time.monotonic() < drain_deadline:
                health = requests.get(url + "/healthz", timeout=10).json()["prediction_log"]
                if health["spooled"] == 0 and health["reachable"]:
                    break
                time.sleep(0.5)
            time.sleep(2)
            rss_end = rss_mb(pid)
        stored = {row[0] for row in sqlite3.connect(db).execute("SELECT id FROM predictions")}
    seconds = sorted(s for _, s in normal)
    p99 = seconds[int(len(seconds) * 0.99) - 1] if seconds else float("inf")
    before = [t for t, _ in normal if started + 5 <= t < lock_from]
    during = [t for t, _ in normal if lock_from <= t < lock_until]
    rate_before = len(before) / max(lock_from - started - 5, 1e-9)
    rate_during = len(during) / args.lock_seconds
    missing = len(set(accepted) - stored)
    growth = (rss_end - rss_start) / rss_start * 100
    print(
        f"soak: {args.seconds:.0f} s, {NORMAL_CLIENTS} ordinary + {HOSTILE_CLIENTS} hostile clients + "
        f"{args.cheap_clients} replaying the costliest valid request, "
        f"log locked {args.lock_seconds:.0f} s in the middle"
    )
    print(
        f"ordinary: {sum(statuses.values())} requests, statuses {dict(sorted(statuses.items()))}, "
        f"p50 {statistics.median(seconds) * 1000:.0f} ms, p99 {p99 * 1000:.0f} ms"
    )
    print(
        f"ordinary throughput: {rate_before:.0f} req/s before the lock, {rate_during:.0f} req/s during it "
        f"({rate_during / rate_before:.0%}); at the end of the lock /healthz said {spooled_under_lock[0]}"
    )
    print("hostile: " + ", ".join(f"{kind} {status} x{n}" for (kind, status), n in sorted(hostile_statuses.items())))
    print(
        f"answered 200: {len(accepted)}, missing from the log: {missing}; 5xx: {len(problems)}; "
        f"RSS {rss_start:.0f} -> {rss_end:.0f} MB ({growth:+.1f} %)"
    )
    p50 = statistics.median(seconds) if seconds else float("inf")
    ok = missing == 0 and not problems and p50 <= 0.25 and p99 <= 1.0 and rate_during >= rate_before / 2
    ok = ok and abs(growth) <= 20
    if args.random_paths:
        ok = random_paths(args.random_paths) and ok
    print("PASS" if ok else "FAIL")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())

"""Soak: sustained load on the predict function with bad inputs mixed in.

60 s (by default) of concurrent clients on a real functions-framework process
(2 workers x 1 thread, SQLite log); one request in ten is bad (text, truncated
PNG, blank image, wrong field). Passes when there are 0 5xx answers, the RSS of
the predict processes grew < 10 % after warm-up, and every accepted prediction
is in the log afterwards.

    .venv/bin/python benchmarks/soak.py [--seconds 60] [--clients 16]
"""
from __future__ import annotations

import argparse
import io
import sqlite3
import sys
import tempfile
import threading
import time
from collections import Counter
from pathlib import Path

import requests
from PIL import Image

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from scripts.servers import function_server  # noqa: E402


def rss_mb(pid: int) -> float:
    pids = [pid] + [int(p) for p in Path(f"/proc/{pid}/task/{pid}/children").read_text().split()]
    total = 0
    for p in pids:
        for line in Path(f"/proc/{p}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                total += int(line.split()[1])
    return total / 1024


def server_pid(port: str) -> int:
    for proc in Path("/proc").iterdir():
        if proc.name.isdigit():
            try:
                cmd = (proc / "cmdline").read_bytes().split(b"\0")
            except OSError:
                continue
            if b"functions-framework" in b" ".join(cmd) and port.encode() in cmd:
                return int(proc.name)
    raise RuntimeError("predict server process not found")


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--seconds", type=float, default=60)
    parser.add_argument("--clients", type=int, default=16)
    args = parser.parse_args()
    good = (ROOT / "tests/fixtures/golden/3_canvas.png").read_bytes()
    blank = io.BytesIO()
    Image.new("L", (64, 64), 255).save(blank, "PNG")
    bad = [
        {"files": {"file": ("x.txt", b"not an image")}},
        {"files": {"file": ("t.png", good[: len(good) // 2])}},
        {"files": {"file": ("b.png", blank.getvalue())}},
        {"files": {"image": ("w.png", good)}},
    ]
    statuses: Counter = Counter()
    accepted: list[str] = []
    lock = threading.Lock()
    with tempfile.TemporaryDirectory() as tmp_name:
        tmp = Path(tmp_name)
        env = {"MODEL_STORE": f"file://{ROOT / 'tests/fixtures/modelstore'}", "PREDICTION_LOG": f"sqlite://{tmp / 'soak.db'}",
               "WORKERS": "2", "THREADS": "1", "SPOOL_DIR": str(tmp / "spool")}
        with function_server("predict", env, tmp) as url:
            pid = server_pid(url.rsplit(":", 1)[1])
            for _ in range(50):
                requests.post(url, files={"file": ("3.png", good)}, timeout=30)
            rss_start = rss_mb(pid)
            deadline = time.monotonic() + args.seconds

            def client(n: int) -> None:
                session = requests.Session()
                i = 0
                while time.monotonic() < deadline:
                    i += 1
                    kwargs = bad[(n + i) % len(bad)] if i % 10 == 0 else {"files": {"file": ("3.png", good)}}
                    answer = session.post(url, timeout=30, **kwargs)
                    with lock:
                        statuses[answer.status_code] += 1
                        if answer.status_code == 200:
                            accepted.append(answer.json()["id"])

            threads = [threading.Thread(target=client, args=(n,)) for n in range(args.clients)]
            for t in threads:
                t.start()
            for t in threads:
                t.join()
            rss_end = rss_mb(pid)
        stored = {row[0] for row in sqlite3.connect(tmp / "soak.db").execute("SELECT id FROM predictions")}
    total = sum(statuses.values())
    server_errors = sum(c for s, c in statuses.items() if s >= 500)
    missing = len(set(accepted) - stored)
    growth = (rss_end - rss_start) / rss_start * 100
    print(f"soak: {args.seconds:.0f} s, {args.clients} clients, {total} requests ({total / args.seconds:.0f}/s), "
          f"statuses {dict(sorted(statuses.items()))}")
    print(f"5xx: {server_errors}; RSS {rss_start:.0f} -> {rss_end:.0f} MB ({growth:+.1f} %); "
          f"accepted {len(accepted)}, missing from the log {missing}")
    ok = server_errors == 0 and growth < 10 and missing == 0
    print("PASS" if ok else "FAIL")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())

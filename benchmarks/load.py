"""Load one HTTP server with wrk on these same cores, and measure what the server spent doing it.

Used by bench.py's HTTP section for our server and its peers alike, so every figure in that table is
taken the same way: requests per second and latency percentiles from wrk, and the server's CPU time
(user + system, every process of its tree, from /proc) divided by the requests it answered.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path

TICKS = os.sysconf("SC_CLK_TCK")


@dataclass(frozen=True)
class Load:
    rps: float
    p50_ms: float
    p99_ms: float
    requests: int
    non_2xx: int
    cpu_ms_per_request: float


def tree(pid: int) -> list[int]:
    """The process and all of its descendants."""
    found, todo = [], [pid]
    while todo:
        current = todo.pop()
        found.append(current)
        for task in Path(f"/proc/{current}/task").glob("*"):
            try:
                todo += [int(p) for p in (task / "children").read_text().split()]
            except OSError:
                pass
    return found


def cpu_seconds(pid: int) -> float:
    """User + system CPU of the process tree (children that exited and were reaped count in their parent)."""
    total = 0
    for p in tree(pid):
        try:
            fields = Path(f"/proc/{p}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        total += sum(int(v) for v in fields[11:15])  # utime, stime, cutime, cstime
    return total / TICKS


def multipart_script(data: bytes, filename: str, content_type: str) -> Path:
    """A wrk Lua script that POSTs ``data`` as the multipart field ``file`` (what curl -F sends)."""
    boundary = "----bench0123456789"
    body = (
        (
            f'--{boundary}\r\nContent-Disposition: form-data; name="file"; filename="{filename}"\r\n'
            f"Content-Type: {content_type}\r\n\r\n"
        ).encode()
        + data
        + f"\r\n--{boundary}--\r\n".encode()
    )
    escaped = "".join(f"\\{b}" for b in body)
    handle, name = tempfile.mkstemp(suffix=".lua")
    os.close(handle)
    script = Path(name)
    script.write_text(
        f'wrk.method = "POST"\nwrk.body = "{escaped}"\n'
        f'wrk.headers["Content-Type"] = "multipart/form-data; boundary={boundary}"\n'
    )
    return script


def _ms(value: str) -> float:
    number, unit = re.match(r"([\d.]+)(\w+)", value).groups()  # type: ignore[union-attr]
    return float(number) * {"us": 0.001, "ms": 1.0, "s": 1000.0}[unit]


def run_wrk(url: str, script: Path, clients: int, seconds: int, server_pid: int) -> Load:
    wrk = shutil.which("wrk")
    if wrk is None:
        raise RuntimeError("wrk is not installed (apt-get install wrk)")
    before = cpu_seconds(server_pid)
    out = subprocess.run(
        [
            wrk,
            "-t",
            str(min(clients, 2)),
            "-c",
            str(clients),
            "-d",
            f"{seconds}s",
            "--timeout",
            "5s",
            "--latency",
            "-s",
            str(script),
            url,
        ],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    spent = cpu_seconds(server_pid) - before
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))  # type: ignore[union-attr]
    requests = int(re.search(r"(\d+) requests in", out).group(1))  # type: ignore[union-attr]
    latency = dict(re.findall(r"^\s+(50|99)%\s+([\d.]+\w+)", out, re.MULTILINE))
    errors = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    return Load(
        rps=rps,
        p50_ms=_ms(latency["50"]),
        p99_ms=_ms(latency["99"]),
        requests=requests,
        non_2xx=int(errors.group(1)) if errors else 0,
        cpu_ms_per_request=spent * 1000 / max(requests, 1),
    )

"""Slow and oversized clients cannot take a function down: scripts/serve.sh, as people run it.

Each test opens connections that send their request a byte at a time (a phone on a bad link, or
slowloris), and checks that ordinary requests are answered meanwhile, and that the slow ones are
cut off with a 408 once READ_TIMEOUT_SECONDS has passed. Under functions-framework's own server
(2 workers x 1 thread, no read timeout) two such clients froze the predict function."""

from __future__ import annotations

import json
import select
import socket
import threading
import time

import pytest
import requests

from scripts.servers import function_server, raw_exchange
from tests.conftest import GOLDEN

READ_TIMEOUT = 2.0
PNG = (GOLDEN / "3_canvas.png").read_bytes()


class Trickle(threading.Thread):
    """A client that sends ``head`` (and a body) one byte every ``pause`` seconds, then reads the answer."""

    def __init__(self, url: str, head: bytes, pause: float = 0.25):
        super().__init__(daemon=True)
        host, port = url.removeprefix("http://").split(":")
        self.sock = socket.create_connection((host, int(port)), timeout=30)
        self.head, self.pause, self.answer = head, pause, b""

    def run(self) -> None:
        try:
            for i in range(len(self.head)):
                if select.select([self.sock], [], [], 0)[0]:
                    break  # the server answered (or closed): stop sending, read it
                self.sock.sendall(self.head[i : i + 1])
                time.sleep(self.pause)
        except OSError:
            pass  # the server closed the connection on us: what we want
        try:
            while chunk := self.sock.recv(65536):
                self.answer += chunk
        except OSError:
            pass
        self.sock.close()

    def status(self) -> int | None:
        return int(self.answer.split(b" ", 2)[1]) if self.answer.startswith(b"HTTP/1.1 ") else None


def slow_head(url: str) -> Trickle:
    return Trickle(url, b"POST / HTTP/1.1\r\nHost: x\r\nContent-Type: image/png\r\n" + b"X-Pad: " + b"a" * 200)


def slow_body(url: str, path: str = "/") -> Trickle:
    head = f"POST {path} HTTP/1.1\r\nHost: x\r\nContent-Type: image/png\r\nContent-Length: {len(PNG)}\r\n\r\n".encode()
    trickle = Trickle(url, PNG)
    trickle.sock.sendall(head)
    return trickle


@pytest.fixture
def predict_url(tmp_path, predict_env):
    with function_server("predict", {**predict_env, "READ_TIMEOUT_SECONDS": str(READ_TIMEOUT)}, tmp_path) as url:
        yield url


def answered_meanwhile(url: str, trickles: list[Trickle], send) -> list[float]:
    """Start the slow clients, then time ordinary requests while they trickle."""
    for t in trickles:
        t.start()
    time.sleep(0.3)
    took = []
    for _ in range(10):
        started = time.monotonic()
        answer = send(url)
        took.append(time.monotonic() - started)
        assert answer.status_code < 500, answer.text
    return took


def predict(url: str) -> requests.Response:
    return requests.post(url, files={"file": ("3.png", PNG)}, timeout=30)


@pytest.mark.parametrize("kind", [slow_head, slow_body])
def test_slow_uploads_do_not_hold_the_predict_function(predict_url, kind):
    trickles = [kind(predict_url) for _ in range(16)]  # 8 times the workers
    took = answered_meanwhile(predict_url, trickles, predict)
    assert max(took) < READ_TIMEOUT  # answered while the slow ones still trickle, not after them
    for t in trickles:
        t.join(READ_TIMEOUT + 30)
        assert t.status() == 408, t.answer[:300]
        assert json.loads(t.answer.split(b"\r\n\r\n", 1)[1])["error"] == "request_timeout"


def test_slow_connections_do_not_hold_the_train_function(tmp_path):
    """No token needed to try: eight slow connections to the train function."""
    with function_server(
        "train", {"TRAIN_TOKEN": "secret", "READ_TIMEOUT_SECONDS": str(READ_TIMEOUT)}, tmp_path
    ) as url:
        trickles = [slow_head(url) for _ in range(8)]
        took = answered_meanwhile(url, trickles, lambda u: requests.post(u, timeout=30))
        assert max(took) < READ_TIMEOUT
        for t in trickles:
            t.join(READ_TIMEOUT + 30)
            assert t.status() == 408


def test_a_huge_request_line_or_header_is_refused_at_once(predict_url):
    for request in (
        b"GET /" + b"a" * 2_000_000 + b" HTTP/1.1\r\nHost: x\r\n\r\n",
        b"GET / HTTP/1.1\r\nHost: x\r\nX-Big: " + b"b" * 100_000 + b"\r\n\r\n",
    ):
        started = time.monotonic()
        answer = raw_exchange(predict_url, request, timeout=10)
        assert time.monotonic() - started < 5  # at once, not after the megabytes were read
        assert answer.startswith(b"HTTP/1.1 431 "), answer[:200]
        assert json.loads(answer.split(b"\r\n\r\n", 1)[1])["error"] == "headers_too_large"


def test_malformed_http_gets_a_json_400(predict_url):
    answer = raw_exchange(predict_url, b"GARBAGE\x00 / HTTP/9\r\n\r\n", timeout=10)
    assert answer.startswith(b"HTTP/1.1 400 ") and b'"invalid_http"' in answer


def test_functions_framework_runtime_still_serves(tmp_path, predict_env):
    """`functions-framework --target predict` (local runs under the framework) answers the same way."""
    with function_server("predict", predict_env, tmp_path, runtime="functions-framework") as url:
        answer = predict(url)
        assert answer.status_code == 200 and answer.json()["digit"] == 3
        assert answer.headers["X-Content-Type-Options"] == "nosniff"

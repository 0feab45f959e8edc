"""Serve one function over HTTP: ``scripts/serve.sh predict|train [--host H] [--port P]`` runs
``python -m functions``, which imports the function's module and hands its entry point to ``serve``.

gunicorn supervises uvicorn workers (one event loop each; the master restarts a worker that dies or
stalls). Chosen over functions-framework's own gunicorn setup because that reads a request on the
worker's one thread: two clients trickling their uploads froze the whole predict function, and its
request line was unlimited. Here a connection costs a worker nothing while it sends:

- the request line and headers must arrive within READ_TIMEOUT_SECONDS (408, then closed) and fit in
  MAX_HEAD_BYTES (431); a malformed request gets a JSON 400, like every other error;
- the body must arrive within READ_TIMEOUT_SECONDS of the headers (408) and is refused by its
  Content-Length before it is read when over the limit (413) (service.http.adapters.read_asgi_body);
- a predict worker whose event loop stalls for STALL_SECONDS (a request is bounded far below that) is replaced.

The functions' code is loaded once in the master before the workers fork (as functions-framework
does), and each worker loads its model and opens its log right after the fork (``post_worker_init``),
so no worker meets its first request cold; the Prometheus metrics directory is shared. HTTP is parsed
by httptools (llhttp, in C) rather than h11 (pure Python).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
from typing import Any, cast

import uvicorn
from gunicorn.app.base import BaseApplication
from gunicorn.arbiter import Arbiter
from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol
from uvicorn_worker import UvicornWorker

from service import monitoring
from service.http.adapters import MAX_HEAD_BYTES
from service.settings import Settings

LISTEN_QUEUE = 1024
DEFAULT_PORTS = {"predict": 8080, "train": 8081}
DEFAULT_WORKERS = {"predict": 2, "train": 1}
# a worker whose event loop answers nothing for this long is replaced; training runs in a thread, but it
# holds the GIL at times for minutes on end, so the train worker gets Lambda's own time limit
STALL_SECONDS = {"predict": 30, "train": 900}


def _raw_answer(status: int, reason: str, code: str, message: str) -> bytes:
    body = json.dumps({"error": code, "message": message}).encode()
    return (
        f"HTTP/1.1 {status} {reason}\r\ncontent-type: application/json\r\ncontent-length: {len(body)}\r\n"
        f"x-content-type-options: nosniff\r\nconnection: close\r\n\r\n"
    ).encode() + body


class _JoinedWrites:
    """A connection's transport as uvicorn's protocol sees it: a write is held until the next one, within the
    same turn of the event loop, and the two leave as one. uvicorn writes an answer's head and its body
    separately, so every answer cost two system calls and two packets; now one. Whatever is held leaves at
    the end of the turn at the latest, and before the connection is closed."""

    def __init__(self, transport: asyncio.Transport, loop: asyncio.AbstractEventLoop):
        self._transport, self._loop = transport, loop
        self._held: bytes | None = None

    def write(self, data: bytes) -> None:
        if self._held is None:
            self._held = bytes(data)
            self._loop.call_soon(self.flush)
            return
        held, self._held = self._held, None
        self._transport.write(held + data)

    def flush(self) -> None:
        if self._held is not None:
            held, self._held = self._held, None
            self._transport.write(held)

    def close(self) -> None:
        self.flush()
        self._transport.close()

    def __getattr__(self, name: str) -> Any:
        return getattr(self._transport, name)


class GuardedProtocol(HttpToolsProtocol):
    """uvicorn's httptools protocol (llhttp in C: less CPU a request than h11, BENCHMARKS.md) with what uvicorn lacks: a deadline on the request head (a client that sends
    one header byte a second kept its connection forever), a limit on a head split across reads (431
    as soon as it is passed, not after megabytes), and JSON answers to requests that are not HTTP."""

    read_timeout = 10.0
    _head_deadline: asyncio.TimerHandle | None = None
    _head_bytes: int | None = 0  # bytes received since the last response; None once the head is complete

    def connection_made(self, transport) -> None:
        super().connection_made(cast(asyncio.Transport, _JoinedWrites(transport, self.loop)))
        self._await_head()

    def _await_head(self) -> None:
        self._disarm()
        self._head_bytes = 0
        self._head_deadline = self.loop.call_later(self.read_timeout, self._head_too_slow)

    def _disarm(self) -> None:
        if self._head_deadline is not None:
            self._head_deadline.cancel()
            self._head_deadline = None

    def data_received(self, data: bytes) -> None:
        if self._head_bytes is not None:
            self._head_bytes += len(data)
        super().data_received(data)
        if self._head_bytes is not None and self._head_bytes > MAX_HEAD_BYTES and not self.transport.is_closing():
            self._refuse(
                431,
                "Request Header Fields Too Large",
                "headers_too_large",
                f"the request line and headers are over {MAX_HEAD_BYTES:,} bytes",
            )

    def on_headers_complete(self) -> None:
        self._head_bytes = None
        self._disarm()
        super().on_headers_complete()

    def on_response_complete(self) -> None:
        super().on_response_complete()
        if not self.transport.is_closing():
            self._await_head()

    def connection_lost(self, exc) -> None:
        self._disarm()
        super().connection_lost(exc)

    def _head_too_slow(self) -> None:
        self._head_deadline = None
        if self._head_bytes is None or self.transport.is_closing():
            return  # the head arrived; the body has its own deadline in the app
        if self._head_bytes == 0:
            self.transport.close()  # an idle keep-alive connection: nothing to answer
            return
        self._refuse(
            408,
            "Request Timeout",
            "request_timeout",
            f"the request line and headers did not arrive within {self.read_timeout:g} s",
        )

    def send_400_response(self, msg: str) -> None:
        """The parser refused the request (uvicorn answers in plain text)."""
        self._refuse(400, "Bad Request", "invalid_http", "the request is not valid HTTP/1.1")

    def _refuse(self, status: int, reason: str, code: str, message: str) -> None:
        self._disarm()
        self._head_bytes = None
        self.transport.write(_raw_answer(status, reason, code, message))
        self.transport.close()


class _BalancedServer(uvicorn.Server):
    """asyncio accepts up to ``backlog`` connections per wake-up, so the worker that woke first took
    all of a benchmark's connections and the other idled (half the throughput).
    Accepting one at a time spreads them; the kernel's listen queue is then set back to its full size."""

    async def startup(self, sockets=None) -> None:
        await super().startup(sockets)
        for sock in sockets or ():
            sock.listen(LISTEN_QUEUE)


class Worker(UvicornWorker):
    CONFIG_KWARGS = {
        "loop": "asyncio",
        "http": GuardedProtocol,
        "lifespan": "off",
        "interface": "asgi3",
        "access_log": False,
        "server_header": False,
        "proxy_headers": False,  # nothing reads the client's address; the middleware was a layer per request
        "backlog": 1,  # connections accepted per wake-up (see _BalancedServer)
    }

    async def _serve(self) -> None:
        self.config.app = self.wsgi
        server = _BalancedServer(config=self.config)
        self._install_sigquit_handler()
        await server.serve(sockets=self.sockets)
        if not server.started:
            sys.exit(Arbiter.WORKER_BOOT_ERROR)


class _Application(BaseApplication):
    def __init__(self, app: Any, options: dict[str, Any]):
        self._app, self._options = app, options
        super().__init__()

    def load_config(self) -> None:
        for key, value in self._options.items():
            self.cfg.set(key, value)

    def load(self) -> Any:
        return self._app


def options(function: str, host: str, port: int, settings: Settings, warm=lambda: None) -> dict[str, Any]:
    return {
        "post_worker_init": lambda worker: warm(),  # the model loaded once per worker, before its first request
        "child_exit": lambda arbiter, worker: monitoring.process_exited(worker.pid),  # its gauges stop counting
        "bind": f"{host}:{port}",
        "workers": settings.workers or DEFAULT_WORKERS[function],
        "worker_class": f"{__name__}.Worker",
        "timeout": STALL_SECONDS[function],
        "graceful_timeout": 10,
        "keepalive": 5,
        "backlog": LISTEN_QUEUE,
        "loglevel": "warning",
        "accesslog": None,  # the functions write their own access lines (service.applog)
        "preload_app": True,
    }


def serve(entrypoint: Any, function: str, argv: list[str] | None = None) -> None:
    """Run ``entrypoint`` (a function's ``Entrypoint``) under gunicorn until it is stopped."""
    parser = argparse.ArgumentParser(prog="scripts/serve.sh " + function, description=__doc__.split("\n\n")[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int)
    args = parser.parse_args(argv)
    settings = Settings.from_env()
    GuardedProtocol.read_timeout = settings.read_timeout_seconds
    port = args.port or DEFAULT_PORTS[function]
    monitoring.choose_directory()  # in the master, before the workers fork: one directory they all share
    sys.argv = sys.argv[:1]  # gunicorn parses argv too: ours are not its options
    _Application(entrypoint.serve_asgi, options(function, args.host, port, settings, entrypoint.warm)).run()

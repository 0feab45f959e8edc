"""Each function's entry point, built from the environment once per process, for the three runtimes.

What one request goes through, in order, all in ``Entrypoint.handle`` (or ``handle_grouped`` on ASGI):
its telemetry is opened, the app's router answers it, the originals and prediction records the answer
carries are written (``service.http.writes``), and only then is the answer given its headers, logged and
counted. An answer whose writes fail is replaced by the store's or the log's error: nothing is answered
200 that is not durable.
"""

from __future__ import annotations

import logging
import sys
from collections.abc import Callable
from datetime import datetime
from typing import Any

from service import applog
from service.errors import HTTPError, OutOfTime, status_of
from service.http.adapters import (
    ClientGone,
    Invocation,
    asgi_request,
    from_flask,
    from_lambda,
    read_asgi_body,
    refused_flask,
    refused_lambda,
    send_asgi,
    to_flask,
    to_lambda,
)
from service.http.compression import compress_answer
from service.http.lane import CostlyLane
from service.http.messages import Request, Response, error_response
from service.http.observer import Observer
from service.http.writes import Writes
from service.predlog.cql_connect import WORST_WRITE_S
from service.settings import Settings
from service.telemetry import RequestTelemetry, request_id_from

logger = logging.getLogger("digits.entrypoint")

# Every answer: browsers take the declared type as it is (no sniffing a stored upload into a page).
SECURITY_HEADERS = {"X-Content-Type-Options": "nosniff", "Referrer-Policy": "same-origin"}
# Pages: scripts and styles from this origin only (style attributes are set by the page's own scripts),
# images from here or the page's canvas/blob URLs, not framable, forms post back here only.
PAGE_POLICY = (
    "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data: blob:; "
    "connect-src 'self'; object-src 'none'; base-uri 'none'; frame-ancestors 'none'; form-action 'self'"
)
TRAIN_MAX_BODY = 64 * 1024  # training parameters are a small JSON object
_OUT_OF_TIME = (
    "the function has less than {:g} s left before its time limit, too little to record the answer: nothing was "
    "recorded; send it again"
)

Handler = Callable[[Request, RequestTelemetry], Response]


class Entrypoint:
    """Binds an app's handler to the runtimes: body limit, request id, record writes, access log, metrics."""

    def __init__(
        self,
        function: str,
        handler: Handler,
        max_body: int,
        settings: Settings,
        log: Callable[[], Any] | None = None,
        store: Callable[[], Any] | None = None,
        blocking: bool = False,
        warm: Callable[[], None] | None = None,
        costly: Callable[[Request], bool] = lambda request: False,
        pages: Callable[[Request, Response], Response] = lambda request, response: response,
    ):
        """``log``: the prediction log the answers' records go to (opened on first use); ``store``: the object
        store their originals go to, first (service.predict.recognise.Original); ``blocking``: a
        handler that runs for minutes (training) gets a thread, not the event loop; ``warm``: load what
        the first request would (a server calls it after fork); ``costly``: on ASGI, the requests that take
        the costly lane (a thread, one at a time) instead of the event loop; ``pages``: the last word on every
        answer, refusals included (where a browser's form gets its errors as a page)."""
        self.function = function
        self.handler = handler
        self.max_body = max_body
        self.settings = settings
        self.writes = Writes(function, log, store)
        self.blocking = blocking
        self.warm = warm or (lambda: None)
        self.observer = Observer(settings)
        if settings.metrics:
            # built where the function's module is loaded: a server's master, before its workers fork (ours
            # and functions-framework's alike), so all its workers share one metrics directory, one view
            from service import monitoring

            monitoring.choose_directory()
        self.costly = costly
        self.pages = pages
        self._lane = CostlyLane()

    def handle(
        self,
        request: Request,
        lambda_runtime: bool = False,
        refused: HTTPError | None = None,
        invocation: Invocation | None = None,
    ) -> Response:
        """The handler's answer (or the adapter's refusal) with its records written, then finished. On Lambda,
        ``invocation`` gives the request its id and the time left before the function's limit."""
        t = self._begin(request, invocation)
        with applog.request_context(t.request_id):
            response = error_response(refused) if refused is not None else self.handler(request, t)
            if response.records and t.seconds_left() < WORST_WRITE_S:  # Lambda would cut the write short
                response = error_response(OutOfTime(_OUT_OF_TIME.format(WORST_WRITE_S)))
            if response.records:
                try:
                    self.writes.now(response, t)
                except Exception as exc:  # noqa: BLE001 (the log and the spool refused: 503; anything else, a 500)
                    response = self._unwritten(request, exc)
            return self._finish(request, t, response, lambda_runtime)

    async def handle_grouped(self, request: Request) -> Response:
        """``handle``, with the answer's records committed together with those of the other requests
        handled in the same turn of the event loop, before any of them is answered."""
        t = self._begin(request)
        with applog.request_context(t.request_id):
            try:
                costly = self.costly(request)
                response = await self._lane.run(self.handler, request, t) if costly else self.handler(request, t)
            except HTTPError as exc:  # the lane is full
                response = error_response(exc)
            if response.records:
                try:
                    await self.writes.grouped(response, t)
                except Exception as exc:  # noqa: BLE001 (as in handle)
                    response = self._unwritten(request, exc)
            return self._finish(request, t, response, False, grouped=True)

    def _unwritten(self, request: Request, exc: Exception) -> Response:
        """The answer to a request whose records could not be written: the log's own error."""
        if status_of(exc) is None:
            logger.exception("the prediction log's write failed on %s %s", request.method, request.path)
        return error_response(exc)

    def _begin(self, request: Request, invocation: Invocation | None = None) -> RequestTelemetry:
        request_id = invocation.request_id if invocation else request_id_from(request.header("x-request-id"))
        t = RequestTelemetry(self.function, request_id, request.method.upper(), request.path, len(request.body))
        t.deadline = invocation.deadline if invocation else None
        return t

    def _finish(
        self, request: Request, t: RequestTelemetry, response: Response, lambda_runtime: bool, grouped: bool = False
    ):
        response = compress_answer(request, self.pages(request, response))
        response.headers["X-Request-Id"] = t.request_id
        response.headers.update(SECURITY_HEADERS)
        if response.content_type.startswith("text/html"):
            response.headers["Content-Security-Policy"] = PAGE_POLICY
        t.recorded(response.records)  # what the answer reports as predicted (written by now)
        t.finish(response.status, len(response.body))
        self.observer.observe(t, lambda_runtime, grouped)
        return response

    def serve_flask(self, request) -> Any:
        try:
            return to_flask(self.handle(from_flask(request, self.max_body)))
        except HTTPError as exc:  # the body was refused before it was read
            return to_flask(self.handle(refused_flask(request), refused=exc))

    async def serve_asgi(self, scope: dict, receive, send) -> None:
        """The ASGI entry (scripts/serve.sh). The body is read on the event loop with a deadline, so a slow
        upload holds no worker; a prediction (CPU for a moment) then runs on the loop itself, a costly one in the
        costly lane."""
        if scope["type"] != "http":
            return  # lifespan is turned off in service.http.server; there are no websockets
        try:
            body = await read_asgi_body(scope, receive, self.max_body, self.settings.read_timeout_seconds)
        except ClientGone:
            return
        except HTTPError as exc:
            await send_asgi(send, self.handle(asgi_request(scope, b""), refused=exc), close=True)
            return
        request = asgi_request(scope, body)
        if self.blocking:
            import asyncio  # here, not at the top: the Lambda path never needs it

            response = await asyncio.to_thread(self.handle, request)
        else:
            response = await self.handle_grouped(request)
        await send_asgi(send, response)

    def serve_lambda(self, event: dict, context: Any = None) -> dict:
        """A function-URL event; ``context`` is the Lambda runtime's (its request id, its time left)."""
        invocation = Invocation.of(context) if context is not None else None
        try:
            request = from_lambda(event, self.max_body)
        except HTTPError as exc:
            return to_lambda(self.handle(refused_lambda(event), True, exc, invocation))
        return to_lambda(self.handle(request, True, invocation=invocation))


def http_target(function: Callable, entrypoint: Entrypoint | None = None) -> Callable:
    """functions-framework's ``@http`` when functions-framework is what loads this module (it imports
    itself first); under scripts/serve.sh and on Lambda the function is returned as it is, and neither
    Flask nor functions-framework is imported (they would weigh on every cold start).

    A path Flask itself cannot route (a newline in it: werkzeug's path converter stops there) would
    get Flask's HTML 404; with ``entrypoint`` it gets ours (JSON, request id, counted) instead."""
    functions_framework = sys.modules.get("functions_framework")
    if functions_framework is None:
        return function
    if entrypoint is not None:

        def not_found(_exc):
            import flask

            refusal = HTTPError(404, "not_found", f"no route {flask.request.path!r}")
            return to_flask(entrypoint.handle(refused_flask(flask.request), refused=refusal))

        functions_framework.errorhandler(404)(not_found)  # the app being created now (set before main.py runs)
    return functions_framework.http(function)


def predict_function(settings: Settings | None = None, clock: Callable[[], datetime] | None = None) -> Entrypoint:
    """``settings`` and ``clock`` are injected by tests; the runtimes take the environment and the real time."""
    from service.http.error_pages import for_pages
    from service.predict.app import PredictApp
    from service.predict.cost import costly
    from service.predict.v2.errors import for_protocol

    settings = settings or Settings.from_env()
    applog.configure(settings.log_format, settings.log_level)
    app = PredictApp(settings, clock)
    resources = app.resources
    return Entrypoint(
        "predict",
        app.router.handle,
        settings.max_upload_bytes,
        settings,
        log=lambda: resources.prediction_log,
        store=lambda: resources.store,
        warm=resources.warm,
        costly=costly(settings),
        pages=lambda request, response: for_protocol(request, for_pages(request, response)),
    )


def train_function(settings: Settings | None = None) -> Entrypoint:
    from service.train.app import TrainApp

    settings = settings or Settings.from_env()
    applog.configure(settings.log_format, settings.log_level)
    return Entrypoint("train", TrainApp(settings).router.handle, TRAIN_MAX_BODY, settings, blocking=True)

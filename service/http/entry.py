"""Build each function's app from the environment, once per process."""

from __future__ import annotations

import logging
import sys
from collections.abc import Callable
from datetime import datetime
from typing import Any

from service import logs, telemetry
from service.config import Settings
from service.errors import HTTPError, status_of
from service.http.adapters import (
    ClientGone,
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
from service.http.messages import Request, Response, error_response
from service.predlog import group

logger = logging.getLogger("digits.entrypoint")

# Every answer: browsers take the declared type as it is (no sniffing a stored upload into a page).
SECURITY_HEADERS = {"X-Content-Type-Options": "nosniff", "Referrer-Policy": "same-origin"}
# Pages: scripts and styles from this origin only (style attributes are set by the page's own scripts),
# images from here or the page's canvas/blob URLs, not framable, forms post back here only.
PAGE_POLICY = (
    "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data: blob:; "
    "connect-src 'self'; object-src 'none'; base-uri 'none'; frame-ancestors 'none'; form-action 'self'"
)


class Entrypoint:
    """Binds a handler to both runtimes: body limit, request id, access log, metrics."""

    def __init__(
        self,
        function: str,
        handler: Callable[[Request], Response],
        max_body: int,
        settings: Settings,
        blocking: bool = False,
        warm: Callable[[], None] | None = None,
    ):
        self.function = function
        self.warm = warm or (lambda: None)  # load what the first request would (a server calls it after fork)
        self.handler = handler
        self.max_body = max_body
        self.settings = settings
        self.blocking = blocking  # a handler that runs for minutes (training) gets a thread, not the event loop
        self._group = group.GroupCommit()  # the ASGI entry's log writes, one transaction per turn of the loop
        self._tally_flush_due = False  # the ASGI entry's metrics, written once per turn of the loop

    def handle(self, request: Request, lambda_runtime: bool = False, refused: HTTPError | None = None) -> Response:
        """The handler's answer (or the adapter's refusal), with its request id, access line and metrics."""
        t, token = self._begin(request)
        try:
            response = error_response(refused) if refused is not None else self.handler(request)
            return self._finish(t, response, lambda_runtime)
        finally:
            telemetry.end(token)

    async def handle_grouped(self, request: Request) -> Response:
        """``handle``, with the request's log writes committed together with those of the other requests
        handled in the same turn of the event loop (service.predlog.group), before any of them is answered."""
        t, token = self._begin(request)
        try:
            with group.deferring() as writes:
                response = self.handler(request)
            if writes:
                try:
                    t.stages["log_write"] = t.stages.get("log_write", 0.0) + await self._group.commit(writes)
                except Exception as exc:  # noqa: BLE001 (the log and the spool refused: 503; anything else, a 500)
                    if status_of(exc) is None:
                        logger.exception(
                            "the prediction log's group write failed on %s %s", request.method, request.path
                        )
                    t.predictions.clear()  # answered with the error: nothing was predicted for the client
                    t.prediction_ids.clear()
                    response = error_response(exc)
            return self._finish(t, response, False, grouped=True)
        finally:
            telemetry.end(token)

    def _begin(self, request: Request) -> tuple[telemetry.RequestTelemetry, Any]:
        t = telemetry.RequestTelemetry(
            self.function,
            telemetry.request_id_from(request.header("x-request-id")),
            request.method.upper(),
            request.path,
            len(request.body),
        )
        return t, telemetry.begin(t)

    def _finish(
        self, t: telemetry.RequestTelemetry, response: Response, lambda_runtime: bool, grouped: bool = False
    ) -> Response:
        response.headers["X-Request-Id"] = t.request_id
        response.headers.update(SECURITY_HEADERS)
        if response.content_type.startswith("text/html"):
            response.headers["Content-Security-Policy"] = PAGE_POLICY
        t.finish(response.status, len(response.body))
        try:
            self._observe(t, lambda_runtime, grouped)
        except Exception:  # a full metrics disk must not turn an answer (maybe a 200 already logged) into a 500
            logging.getLogger("digits.observability").exception("could not record the request's metrics")
        return response

    def _observe(self, t: telemetry.RequestTelemetry, lambda_runtime: bool, grouped: bool) -> None:
        logs.access(t.access_fields())
        if self.settings.metrics:
            from service import metrics

            if grouped:  # on the event loop: counted with the other requests of this turn, written after it
                metrics.observe(t, self.settings.low_confidence, into=metrics.tally())
                if not self._tally_flush_due:
                    import asyncio  # here, not at the top: the Lambda path never needs it

                    self._tally_flush_due = True
                    asyncio.get_running_loop().call_soon(self._flush_tally)
            else:
                metrics.observe(t, self.settings.low_confidence)
            if lambda_runtime:
                print(metrics.emf_line(t, self.settings.low_confidence), flush=True)

    def _flush_tally(self) -> None:
        from service import metrics

        self._tally_flush_due = False
        try:
            metrics.tally().flush()
        except Exception:  # a full metrics disk: the figures are lost, no answer is
            logging.getLogger("digits.observability").exception("could not write the metrics of this turn")

    def serve_flask(self, request) -> Any:
        try:
            return to_flask(self.handle(from_flask(request, self.max_body)))
        except HTTPError as exc:  # the body was refused before it was read
            return to_flask(self.handle(refused_flask(request), refused=exc))

    async def serve_asgi(self, scope: dict, receive, send) -> None:
        """The ASGI entry (scripts/serve.sh). The body is read on the event loop with a deadline, so a slow
        upload holds no worker; a prediction (a few ms of CPU) then runs on the loop itself."""
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

    def serve_lambda(self, event: dict) -> dict:
        try:
            request = from_lambda(event, self.max_body)
        except HTTPError as exc:
            return to_lambda(self.handle(refused_lambda(event), lambda_runtime=True, refused=exc))
        return to_lambda(self.handle(request, lambda_runtime=True))


def http_target(function: Callable, entrypoint: Entrypoint | None = None) -> Callable:
    """functions-framework's ``@http`` when functions-framework is what loads this module (it imports
    itself first); under scripts/serve.sh and on Lambda the function is returned as it is, and neither
    Flask nor functions-framework is imported (~70 ms of every cold start, measured with -X importtime).

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
    from service.predict_app import PredictApp

    settings = settings or Settings.from_env()
    logs.configure(settings.log_format, settings.log_level)
    app = PredictApp(settings, clock)
    return Entrypoint("predict", app.handle, settings.max_upload_bytes, settings, warm=app.warm)


def train_function(settings: Settings | None = None) -> Entrypoint:
    from service.train_app import TrainApp

    settings = settings or Settings.from_env()
    logs.configure(settings.log_format, settings.log_level)
    return Entrypoint("train", TrainApp(settings).handle, 64 * 1024, settings, blocking=True)

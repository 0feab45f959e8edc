"""Build each function's app from the environment, once per process."""
from __future__ import annotations

import logging
import os
from typing import Any, Callable

from ml.config import Settings
from service.adapters import serve_flask, serve_lambda
from service.http import Request, Response


class Entrypoint:
    """Binds a handler to both runtimes with the configured body limit."""

    def __init__(self, handler: Callable[[Request], Response], max_body: int):
        self.handler = handler
        self.max_body = max_body

    def serve_flask(self, request) -> Any:
        return serve_flask(self.handler, request, self.max_body)

    def serve_lambda(self, event: dict) -> dict:
        return serve_lambda(self.handler, event, self.max_body)


def http_target(function: Callable) -> Callable:
    """functions-framework's ``@http`` where it is installed; on Lambda (no Flask in
    the layer) the function is returned as it is and only ``lambda_handler`` is used."""
    try:
        from functions_framework import http
    except ImportError:
        return function
    return http(function)


def _logging() -> None:
    logging.basicConfig(level=os.environ.get("LOG_LEVEL", "INFO"), format="%(asctime)s %(name)s %(levelname)s %(message)s")


def predict_app(settings: Settings | None = None) -> Entrypoint:
    from service.predict_app import PredictApp

    _logging()
    settings = settings or Settings.from_env()
    return Entrypoint(PredictApp(settings).handle, settings.max_upload_bytes)


def train_app(settings: Settings | None = None) -> Entrypoint:
    from service.train_app import TrainApp

    _logging()
    settings = settings or Settings.from_env()
    return Entrypoint(TrainApp(settings).handle, 64 * 1024)

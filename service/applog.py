"""Logging of both functions: one JSON object per line (default) or the human text format.

Every line written while a request runs carries that request's id, so a failing request can be
followed from the page (which sees ``X-Request-Id``) to the log and to the stored record. The
access line of a request is ``digits.access`` with the fields of ``RequestTelemetry.access_fields``.
"""

from __future__ import annotations

import logging
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from datetime import UTC, datetime

import orjson

TEXT_FORMAT = "%(asctime)s %(name)s %(levelname)s %(message)s"

# The running request's id, for the lines written while it runs (and only for them: it decides nothing else).
_request_id: ContextVar[str | None] = ContextVar("digits_request_id", default=None)


@contextmanager
def request_context(request_id: str) -> Iterator[None]:
    """Every line written inside carries ``request_id`` (each thread and task sees its own)."""
    token = _request_id.set(request_id)
    try:
        yield
    finally:
        _request_id.reset(token)


def current_request_id() -> str | None:
    return _request_id.get()


def _encoded(line: dict) -> str:
    """One log line as JSON; a value JSON has no type for (a path, an exception) as its text."""
    return orjson.dumps(line, default=str, option=orjson.OPT_NON_STR_KEYS).decode()


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        line = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        request_id = current_request_id()
        if request_id:
            line["request_id"] = request_id
        line.update(getattr(record, "fields", {}))
        if record.exc_info:
            line["exception"] = self.formatException(record.exc_info)
        return _encoded(line)


class TextFormatter(logging.Formatter):
    def __init__(self) -> None:
        super().__init__(TEXT_FORMAT)

    def format(self, record: logging.LogRecord) -> str:
        text = super().format(record)
        fields = getattr(record, "fields", None)
        if fields:
            text += " " + " ".join(f"{k}={v}" for k, v in fields.items())
        return text


_json_handler: logging.StreamHandler | None = None  # the root handler configure() installed, in JSON format


def configure(log_format: str, level: str) -> None:
    """Root handler on stderr in the chosen format (replacing any earlier one: idempotent)."""
    global _json_handler
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(JsonFormatter() if log_format == "json" else TextFormatter())
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
    _json_handler = handler if log_format == "json" else None


ACCESS = logging.getLogger("digits.access")


def access(fields: dict) -> None:
    status = fields.get("status", 0)
    level = logging.ERROR if status >= 500 else logging.INFO
    if not ACCESS.isEnabledFor(level):
        return
    message = f"{fields.get('method')} {fields.get('route')} {status}"
    handler = _json_handler
    if handler is None or logging.getLogger().handlers != [handler] or ACCESS.handlers or ACCESS.filters:
        ACCESS.log(level, "%s", message, extra={"fields": fields})  # someone else listens too (a test's capture)
        return
    # JsonFormatter's line, written without a LogRecord: logging's machinery (the caller's frame looked up,
    # a record of 20 attributes, five calls deep) was a third of the access line's cost, every request
    line = {
        "time": datetime.now(UTC).isoformat(timespec="milliseconds"),
        "level": logging.getLevelName(level),
        "logger": ACCESS.name,
        "message": message,
        **fields,
    }
    text = _encoded(line) + handler.terminator
    handler.acquire()
    try:
        handler.stream.write(text)
        handler.stream.flush()
    finally:
        handler.release()

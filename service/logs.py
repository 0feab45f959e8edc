"""Logging of both functions: one JSON object per line (default) or the human text format.

Every line written while a request runs carries that request's id, so a failing request can be
followed from the page (which sees ``X-Request-Id``) to the log and to the stored record. The
access line of a request is ``digits.access`` with the fields of ``RequestTelemetry.access_fields``.
"""

from __future__ import annotations

import json
import logging
import sys
from datetime import UTC, datetime

from service.telemetry import current_request_id

TEXT_FORMAT = "%(asctime)s %(name)s %(levelname)s %(message)s"


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
        return json.dumps(line, default=str, separators=(",", ":"))


class TextFormatter(logging.Formatter):
    def __init__(self) -> None:
        super().__init__(TEXT_FORMAT)

    def format(self, record: logging.LogRecord) -> str:
        text = super().format(record)
        fields = getattr(record, "fields", None)
        if fields:
            text += " " + " ".join(f"{k}={v}" for k, v in fields.items())
        return text


def configure(log_format: str, level: str) -> None:
    """Root handler on stderr in the chosen format (replacing any earlier one: idempotent)."""
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(JsonFormatter() if log_format == "json" else TextFormatter())
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)


ACCESS = logging.getLogger("digits.access")


def access(fields: dict) -> None:
    level = logging.ERROR if fields.get("status", 0) >= 500 else logging.INFO
    ACCESS.log(
        level, "%s %s %s", fields.get("method"), fields.get("route"), fields.get("status"), extra={"fields": fields}
    )

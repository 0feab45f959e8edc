"""What one request did, gathered while it runs: its id, route, stage timings, predictions.

The entry point opens a ``RequestTelemetry`` per request and passes it to the handler, which passes it
on to whatever times a stage; the predictions are taken from the records the answer carries. From the
finished record the entry point writes the access log line, the Prometheus metrics and, on Lambda, a
CloudWatch EMF line.
"""

from __future__ import annotations

import os
import re
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field

_SANE_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9._:-]{0,127}")


def request_id_from(header: str) -> str:
    """The client's ``X-Request-Id`` when it is a sane token (<= 128 of [A-Za-z0-9._:-]); a new one otherwise.

    Anything else (spaces, quotes, newlines, a huge value) is replaced, so an id never breaks a log line
    or a header, and is never longer than a UUID-ish token needs."""
    header = header.strip()
    return (
        header if _SANE_ID.fullmatch(header) else os.urandom(16).hex()
    )  # uuid4().hex's 128 random bits, without building a UUID


@dataclass
class RequestTelemetry:
    function: str
    request_id: str
    method: str
    path: str
    bytes_in: int
    route: str = "other"
    status: int = 0
    bytes_out: int = 0
    started: float = field(default_factory=time.perf_counter)
    seconds: float = 0.0
    stages: dict[str, float] = field(
        default_factory=dict
    )  # preprocess / inference / original_write / log_write: seconds, summed
    predictions: list[tuple[int, float]] = field(default_factory=list)  # (digit, confidence)
    prediction_ids: list[str] = field(default_factory=list)
    model_version: str | None = None
    training_outcome: str | None = None  # promoted / refused / failed (train function)
    deadline: float | None = None  # time.monotonic() when the platform ends the request (Lambda's time limit)

    def seconds_left(self) -> float:
        """Until the platform's time limit; without one, forever."""
        return float("inf") if self.deadline is None else self.deadline - time.monotonic()

    @contextmanager
    def stage(self, name: str) -> Iterator[None]:
        started = time.perf_counter()
        try:
            yield
        finally:
            self.stages[name] = self.stages.get(name, 0.0) + time.perf_counter() - started

    def recorded(self, records: list) -> None:
        """The predictions an answer reports (its written records): ids, answers, the model's version."""
        for record in records:
            self.prediction_ids.append(record.id)
            self.predictions.append((record.digit, record.confidence))
            self.model_version = record.model_version

    def finish(self, status: int, bytes_out: int) -> None:
        self.status, self.bytes_out = status, bytes_out
        self.seconds = time.perf_counter() - self.started

    def access_fields(self) -> dict:
        """The access log line's fields: never the image, never a token or other header."""
        fields = {
            "request_id": self.request_id,
            "method": self.method,
            "route": self.route,
            "status": self.status,
            "latency_ms": round(self.seconds * 1000, 3),
            "bytes_in": self.bytes_in,
            "bytes_out": self.bytes_out,
        }
        if self.prediction_ids:
            fields["prediction_ids"] = self.prediction_ids
        if self.model_version:
            fields["model_version"] = self.model_version
        if self.training_outcome:
            fields["training_outcome"] = self.training_outcome
        for name, seconds in self.stages.items():
            fields[f"{name}_ms"] = round(seconds * 1000, 3)
        return fields

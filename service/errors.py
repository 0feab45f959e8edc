"""Named errors of the service layer, and the one table that says which HTTP status every named error
(the ML core's and ours) is answered with. Callers match on classes and ``code``s, never on messages."""

from __future__ import annotations

from ml.errors import (
    ArtifactError,
    ImageTooCostly,
    ImageTooLarge,
    InvalidImage,
    NoDigitFound,
    NonFinitePixels,
    NotADigit,
    UnsupportedImage,
)
from ml.storage.base import NotFound, PreconditionFailed, StoreUnavailable


class ServiceError(Exception):
    """Base class: every error the service raises on purpose."""

    code = "service_error"


class LogUnavailable(ServiceError):
    """The prediction log cannot be written or read now (down, locked, full, refused the login).
    Raised by the backends, where an upload's record is then spooled; answered 503 when it escapes."""

    code = "log_unavailable"


class SpoolFull(LogUnavailable):
    """The log is down and the local spool is full: refuse rather than lose."""


class InvalidRecord(ServiceError):
    """The model's answer cannot be recorded as it is (a non-finite probability): a fault here, answered 500
    before anything is written, never a 200 the log then refuses."""

    code = "invalid_record"


class ModelUnavailable(ServiceError):
    """No model can be served yet (none trained, or the store is unreachable)."""

    code = "model_unavailable"


class OutOfTime(ServiceError):
    """The function is about to reach its time limit (on Lambda): nothing is written that the limit could cut
    short; the client sends it again."""

    code = "out_of_time"


class ExportError(ServiceError):
    """An export of the log cannot be written as asked."""

    code = "export_failed"


class TrainingInProgress(ServiceError):
    """Another training holds this machine's training lock."""

    code = "training_in_progress"


class HTTPError(Exception):
    """An error the client should see: status, stable code, what to do."""

    def __init__(self, status: int, code: str, message: str, headers: dict[str, str] | None = None):
        super().__init__(message)
        self.status, self.code, self.message = status, code, message
        self.headers = headers or {}


# Ordered: the first matching class wins (subclasses before their bases). Not listed: a 500.
STATUS: list[tuple[type[Exception], int]] = [
    (NoDigitFound, 422),
    (NonFinitePixels, 422),
    (NotADigit, 422),
    (ImageTooCostly, 422),
    (UnsupportedImage, 415),
    (ImageTooLarge, 413),
    (InvalidImage, 400),
    (NotFound, 404),
    (PreconditionFailed, 409),
    (TrainingInProgress, 409),
    (ModelUnavailable, 503),
    (OutOfTime, 503),
    (StoreUnavailable, 503),
    (LogUnavailable, 503),
    (ArtifactError, 503),
]


def status_of(exc: Exception) -> int | None:
    return next((status for cls, status in STATUS if isinstance(exc, cls)), None)

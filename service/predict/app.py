"""The predict function put together: its resources, its routes and their API document."""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import datetime

from service.http import openapi
from service.http.observability import Operations
from service.http.routes import Router, handlers_of, routes_of
from service.predict import schemas
from service.predict.history import History
from service.predict.predictions import Predictions
from service.predict.resources import Resources
from service.predict.site import Site
from service.predict.status import Status
from service.predict.v2 import schemas as v2_schemas
from service.predict.v2.routes import OpenInference
from service.settings import Settings

TITLE = "digits: predict function"
DESCRIPTION = (
    "Send a picture of a digit, get the digit back. Errors are JSON {error, message}; docs/api.md lists every code. "
    "A form a browser posts (a POST whose Accept prefers text/html) gets its error as an HTML page instead, with "
    "the same status and message. "
    "A method a path does not declare is answered 405 method_not_allowed with an Allow header. Under "
    "scripts/serve.sh any request whose line and headers, or then body, take longer than READ_TIMEOUT_SECONDS "
    "is answered 408 request_timeout, and a request line plus headers over 16 KB 431 headers_too_large. Every "
    "answer carries X-Content-Type-Options: nosniff; pages a Content-Security-Policy."
)
SCHEMAS = {
    "Prediction": schemas.PREDICTION,
    "FailedItem": schemas.FAILED_ITEM,
    "PredictionList": schemas.PREDICTION_LIST,
    "Correction": schemas.CORRECTION,
    "Health": schemas.HEALTH,
    "Stats": schemas.STATS,
    **v2_schemas.SCHEMAS,
}
NOT_FOUND_HINT = "try POST / or GET /predictions"


RESOURCES = (Predictions, History, Status, Site, Operations, OpenInference)
DOCUMENT = openapi.document(TITLE, DESCRIPTION, routes_of(*RESOURCES), SCHEMAS)


class PredictApp:
    """The router over the function's resources; ``resources`` is what they share."""

    def __init__(self, settings: Settings, clock: Callable[[], datetime] | None = None):
        self.resources = Resources(settings, clock)
        self.status = Status(self.resources)
        operations = Operations(settings, json.dumps(DOCUMENT).encode(), refresh=self.status.refresh_gauges)
        handlers = handlers_of(
            Predictions(self.resources),
            History(self.resources),
            self.status,
            Site(),
            operations,
            OpenInference(self.resources),
        )
        self.router = Router(handlers, settings, NOT_FOUND_HINT)

"""The train function: authenticated, one run at a time, parameters validated."""

from __future__ import annotations

import json
import logging

from ml.parameters import ParameterError
from ml.progress import Report
from service.errors import HTTPError, TrainingInProgress
from service.http import openapi
from service.http.auth import TRAIN
from service.http.messages import Request, Response, json_response
from service.http.observability import Operations
from service.http.params import parse_json
from service.http.routes import Answer, Body, Router, handlers_of, route, routes_of
from service.settings import Settings
from service.telemetry import RequestTelemetry
from service.train.runs import PARAMETERS, TrainLock, TrainRequest, run_training

logger = logging.getLogger("digits.train")

TITLE = "digits: train function"
DESCRIPTION = "Trains on MNIST, publishes a versioned model and promotes it if it passes the gate."
NOT_FOUND_HINT = "train with POST / and a bearer token"
# GET /train is the seed's way to start a training, kept as a deprecated alias of POST / for old clients
# (defaults only, token required): its answers carry Deprecation and a Link to POST /.
SEED_ALIAS_HEADERS = {"Deprecation": "true", "Link": '</>; rel="successor-version"'}
_TRAINED = Answer(
    "the new version and whether it was promoted",
    {
        "application/json": {
            "type": "object",
            "required": ["version", "promoted", "reason", "metrics"],
            "properties": {
                "version": {"type": "string"},
                "promoted": {"type": "boolean"},
                "reason": {"type": "string"},
                "metrics": {"type": "object"},
            },
        }
    },
    {
        "version": "20261130T014501Z-a1b2c3",
        "promoted": True,
        "reason": "test accuracy 0.9952 >= 0.99",
        "metrics": {"test_accuracy": 0.9952},
    },
)
_PARAMETERS = Body({"application/json": PARAMETERS.json_schema()}, required=False, example={"epochs": 8})
_TRAINING = {"access": TRAIN, "answers": {200: _TRAINED}, "errors": {409: None, 503: None}}


def parse_params(body: bytes) -> TrainRequest:
    """The JSON body (empty: every default), checked against the declared PARAMETERS."""
    raw = parse_json(body, "the body must be a JSON object of training parameters") if body.strip() else {}
    try:
        return TrainRequest.from_values(PARAMETERS.from_json(raw))
    except ParameterError as exc:
        raise HTTPError(400, "invalid_params", str(exc)) from None


_TOO_LONG = (
    "this training needs about {:.0f} s here (TRAIN_SECONDS_PER_EPOCH per epoch and member, TRAIN_SECONDS_FIXED "
    "besides) and the function has {:.0f} s before its time limit: ask for fewer epochs or members, or a subset"
)


class Training:
    def __init__(self, settings: Settings):
        self.settings = settings

    @route("POST", "/", "train", "Train, check, publish; promote if it passes the gate", body=_PARAMETERS, **_TRAINING)
    @route("POST", "/train", "trainAlias", "Alias of POST /", body=_PARAMETERS, **_TRAINING)
    def train(self, request: Request, t: RequestTelemetry) -> Response:
        return self._train(parse_params(request.body), t)

    @route(
        "GET",
        "/train",
        "trainSeedAlias",
        "Deprecated seed-compatible alias of POST / (defaults only); every answer carries Deprecation and a Link to POST /",
        headers=SEED_ALIAS_HEADERS,
        deprecated=True,
        **_TRAINING,
    )
    def seed_alias(self, request: Request, t: RequestTelemetry) -> Response:
        return self._train(parse_params(b""), t)

    def _train(self, params: TrainRequest, t: RequestTelemetry) -> Response:
        settings = self.settings
        needed = params.seconds_needed(settings.train_seconds_per_epoch, settings.train_seconds_fixed)
        if needed > t.seconds_left():
            raise HTTPError(422, "training_too_long", _TOO_LONG.format(needed, t.seconds_left()))
        try:
            result = run_training(self.settings, params, Report(say=logger.info)).as_dict()
        except TrainingInProgress:
            raise  # refused at the door (409 while another runs): not a training run
        except Exception:
            t.training_outcome = "failed"
            raise
        t.training_outcome = "promoted" if result.get("promoted") else "refused"
        return json_response(200, result)

    @route(
        "POST",
        "/models/rollback",
        "rollback",
        "Point LATEST back at the previous complete version",
        access=TRAIN,
        answers={
            200: Answer(
                "rolled back",
                {
                    "application/json": {
                        "type": "object",
                        "required": ["version", "rolled_back_from"],
                        "properties": {"version": {"type": "string"}, "rolled_back_from": {"type": "string"}},
                    }
                },
            )
        },
        errors={409: "Nothing to roll back to, or a training holds the lock", 503: None},
    )
    def rollback(self, request: Request, t: RequestTelemetry) -> Response:
        from ml.errors import ArtifactError
        from ml.registry import ModelRegistry
        from ml.storage import open_object_store

        with TrainLock(self.settings.train_lock_file):
            try:
                previous, current = ModelRegistry(open_object_store(self.settings.model_store)).rollback()
            except ArtifactError as exc:
                raise HTTPError(409, "nothing_to_roll_back", str(exc)) from exc
        logger.info("rolled back from %s to %s", previous, current)
        return json_response(200, {"version": current, "rolled_back_from": previous})


RESOURCES = (Training, Operations)
DOCUMENT = openapi.document(TITLE, DESCRIPTION, routes_of(*RESOURCES), {})


class TrainApp:
    def __init__(self, settings: Settings):
        handlers = handlers_of(Training(settings), Operations(settings, json.dumps(DOCUMENT).encode()))
        self.router = Router(handlers, settings, NOT_FOUND_HINT)

"""The train function: authenticated, one run at a time, params validated."""

from __future__ import annotations

import logging

from ml.errors import MLError
from ml.parameters import ParameterError
from service import telemetry
from service.config import Settings
from service.errors import HTTPError, ServiceError, TrainingInProgress
from service.http.auth import authorise_read, bearer_token, token_matches
from service.http.messages import Request, Response, error_response, json_response
from service.http.observability import metrics_response, openapi_response
from service.http.params import parse_json
from service.http.routes import Router
from service.training import PARAMETERS, TrainLock, TrainRequest, run_training

logger = logging.getLogger("digits.train")

# GET /train is the seed's way to start a training, kept as a deprecated alias of POST / for old clients
# (defaults only, token required): its answers carry Deprecation and a Link to POST /.
ROUTES = Router(
    [
        ("POST", "/", "train"),
        ("GET", "/train", "seed_alias"),
        ("POST", "/train", "train"),
        ("POST", "/models/rollback", "rollback"),
        ("GET", "/metrics", "metrics"),
        ("GET", "/openapi.json", "openapi"),
    ],
    "train with POST / and a bearer token",
)

SEED_ALIAS_HEADERS = {"Deprecation": "true", "Link": '</>; rel="successor-version"'}


def parse_params(body: bytes) -> TrainRequest:
    """The JSON body (empty: every default), checked against the declared PARAMETERS."""
    raw = parse_json(body, "the body must be a JSON object of training parameters") if body.strip() else {}
    try:
        return TrainRequest.from_values(PARAMETERS.from_json(raw))
    except ParameterError as exc:
        raise HTTPError(400, "invalid_params", str(exc)) from None


class TrainApp:
    def __init__(self, settings: Settings):
        self.settings = settings

    def authorise(self, request: Request) -> None:
        expected = self.settings.train_token
        challenge = {"WWW-Authenticate": 'Bearer realm="train"'}
        if not expected:
            raise HTTPError(503, "train_disabled", "training is disabled: the server has no TRAIN_TOKEN configured")
        # Behind an AWS_IAM function URL, Authorization carries the SigV4 signature,
        # so the token may come in X-Train-Token instead.
        token = bearer_token(request)
        if token is None:
            token = request.header("x-train-token").strip()
        if not token_matches(token, expected):
            raise HTTPError(
                401, "unauthorized", "send Authorization: Bearer <TRAIN_TOKEN> (or X-Train-Token)", challenge
            )

    def rollback(self) -> dict:
        from ml.errors import ArtifactError
        from ml.registry import ModelRegistry
        from ml.storage import open_object_store

        with TrainLock(self.settings.train_lock_file):
            try:
                previous, current = ModelRegistry(open_object_store(self.settings.model_store)).rollback()
            except ArtifactError as exc:
                raise HTTPError(409, "nothing_to_roll_back", str(exc)) from exc
        logger.info("rolled back from %s to %s", previous, current)
        return {"version": current, "rolled_back_from": previous}

    def handle(self, request: Request) -> Response:
        endpoint = route = ""
        try:
            endpoint, route, _ = ROUTES.match(request.method, request.path)
            telemetry.current().route = route
            response = self._on(endpoint, request)
        except (HTTPError, MLError, ServiceError) as exc:
            response = error_response(exc)
        except Exception as exc:
            logger.exception("training failed")
            response = error_response(exc)
        if endpoint == "seed_alias":  # every answer of the deprecated alias says so, refusals included
            response.headers.update(SEED_ALIAS_HEADERS)
        return response

    def _on(self, endpoint: str, request: Request) -> Response:
        if endpoint == "metrics":
            authorise_read(self.settings, request)
            return metrics_response(self.settings)
        if endpoint == "openapi":
            return openapi_response("train")
        self.authorise(request)
        if endpoint == "rollback":
            return json_response(200, self.rollback())
        params = parse_params(request.body if request.method.upper() == "POST" else b"")
        try:
            result = run_training(self.settings, params, verbose=False).as_dict()
        except TrainingInProgress:
            raise  # refused at the door (409 while another runs): not a training run
        except Exception:
            telemetry.current().training_outcome = "failed"
            raise
        telemetry.current().training_outcome = "promoted" if result.get("promoted") else "refused"
        return json_response(200, result)

"""The train function: authenticated, one run at a time, params validated."""
from __future__ import annotations

import fcntl
import logging
import os
from dataclasses import dataclass
from typing import Any

from ml.config import Settings
from ml.errors import MLError
from service.errors import ServiceError
from service import telemetry
from service.http import (
    HTTPError, Request, Response, authorise_read, bearer_token, error_response, json_response, token_matches,
)
from service.observability import metrics_response, openapi_response
from service.params import parse_json
from service.routes import Router

log = logging.getLogger("digits.train")

# GET /train is the seed's way to start a training, kept as an alias of POST / for old clients.
ROUTES = Router([
    ("POST", "/", "train"),
    ("GET", "/train", "train"),
    ("POST", "/train", "train"),
    ("POST", "/models/rollback", "rollback"),
    ("GET", "/metrics", "metrics"),
    ("GET", "/openapi.json", "openapi"),
], "train with POST / and a bearer token")

# name -> (type, low, high); bounds keep a single request from monopolising the machine
PARAMS: dict[str, tuple[type, Any, Any]] = {
    "architecture": (str, None, None),
    "epochs": (int, 1, 50),
    "seed": (int, 0, 2**31 - 1),
    "min_accuracy": (float, 0.0, 1.0),
    "force": (bool, None, None),
    "batch_size": (int, 16, 1024),
    "subset": (int, 100, 60000),
    "include_corrections": (bool, None, None),
    "correction_weight": (int, 1, 100),
}
ARCHITECTURES = ("cnn", "mlp")


@dataclass(frozen=True)
class TrainParams:
    architecture: str = "cnn"
    epochs: int | None = None
    seed: int = 0
    min_accuracy: float = 0.99
    force: bool = False
    batch_size: int = 128
    subset: int | None = None
    include_corrections: bool = False
    correction_weight: int = 10


def parse_params(body: bytes) -> TrainParams:
    if not body.strip():
        return TrainParams()
    raw = parse_json(body, "the body must be a JSON object of training parameters")
    if not isinstance(raw, dict):
        raise HTTPError(400, "invalid_params", "the body must be a JSON object, e.g. {\"epochs\": 5}")
    unknown = sorted(set(raw) - set(PARAMS))
    if unknown:
        raise HTTPError(400, "invalid_params", f"unknown parameter(s) {', '.join(unknown)}; known: {', '.join(PARAMS)}")
    values: dict[str, Any] = {}
    for name, value in raw.items():
        kind, low, high = PARAMS[name]
        if kind is float and isinstance(value, int) and not isinstance(value, bool):
            value = float(value)
        if not isinstance(value, kind) or (kind is int and isinstance(value, bool)):
            raise HTTPError(400, "invalid_params", f"{name} must be a {kind.__name__}")
        if low is not None and not low <= value <= high:
            raise HTTPError(400, "invalid_params", f"{name} must be between {low} and {high}")
        values[name] = value
    if values.get("architecture", "cnn") not in ARCHITECTURES:
        raise HTTPError(400, "invalid_params", f"architecture must be one of {', '.join(ARCHITECTURES)}")
    return TrainParams(**values)


class TrainLock:
    """One training at a time per machine, across processes (flock) and threads."""

    def __init__(self, path):
        self.path = path
        self._fd: int | None = None

    def __enter__(self) -> "TrainLock":
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            raise HTTPError(409, "training_in_progress", "a training run is already in progress; try again when it ends") from None
        self._fd = fd
        return self

    def __exit__(self, *exc) -> None:
        if self._fd is not None:
            fcntl.flock(self._fd, fcntl.LOCK_UN)
            os.close(self._fd)
            self._fd = None


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
            raise HTTPError(401, "unauthorized", "send Authorization: Bearer <TRAIN_TOKEN> (or X-Train-Token)", challenge)

    def _data(self):
        from ml import mnist

        if self.settings.train_data == "store":
            from ml.storage import open_object_store
            from service.datasets import StoreSource

            return mnist.load(StoreSource(open_object_store(self.settings.model_store), "datasets/mnist/"))
        return mnist.load(mnist.DirectorySource(self.settings.mnist_dir))

    def train(self, params: TrainParams) -> dict:
        from ml.pipeline import train_and_publish
        from ml.registry import ModelRegistry
        from ml.storage import open_object_store
        from ml.training import TrainConfig

        config = TrainConfig(
            architecture=params.architecture, epochs=params.epochs, seed=params.seed,
            batch_size=params.batch_size, subset=params.subset, correction_weight=params.correction_weight,
        )
        with TrainLock(self.settings.train_lock_file):
            corrections = None
            if params.include_corrections:
                from service.predlog.factory import load_corrections

                corrections = load_corrections(self.settings)
            registry = ModelRegistry(open_object_store(self.settings.model_store))
            outcome = train_and_publish(config, self._data(), registry, params.min_accuracy, params.force,
                                        verbose=False, corrections=corrections)
        log.info("trained %s: promoted=%s (%s)", outcome.version, outcome.promoted, outcome.reason)
        return outcome.as_dict()

    def rollback(self) -> dict:
        from ml.registry import ModelRegistry
        from ml.storage import open_object_store

        from ml.errors import ArtifactError

        with TrainLock(self.settings.train_lock_file):
            try:
                previous, current = ModelRegistry(open_object_store(self.settings.model_store)).rollback()
            except ArtifactError as exc:
                raise HTTPError(409, "nothing_to_roll_back", str(exc)) from exc
        log.info("rolled back from %s to %s", previous, current)
        return {"version": current, "rolled_back_from": previous}

    def handle(self, request: Request) -> Response:
        try:
            endpoint, route, _ = ROUTES.match(request.method, request.path)
            telemetry.current().route = route
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
                result = self.train(params)
            except HTTPError:
                raise  # refused before training (409 while another runs): not a training run
            except Exception:
                telemetry.current().training_outcome = "failed"
                raise
            telemetry.current().training_outcome = "promoted" if result.get("promoted") else "refused"
            return json_response(200, result)
        except (HTTPError, MLError, ServiceError) as exc:
            return error_response(exc)
        except Exception as exc:
            log.exception("training failed")
            return error_response(exc)

"""The Open Inference Protocol's HTTP routes (KServe v2, Triton's HTTP API) beside the upload API: health,
metadata and ``infer`` for the model ``digits``, the promoted version or any published one by its id. An
inference goes through the upload path's recogniser, so it is limited, recorded and counted as an upload is."""

from __future__ import annotations

from ml.registry import ModelRegistry
from service.errors import HTTPError
from service.http.messages import Request, Response, json_response
from service.http.routes import Answer, Body, route
from service.predict.recognise import Recogniser
from service.predict.resources import Resources
from service.predict.v2 import digits, schemas
from service.predict.v2.errors import PROTOCOL_ERRORS
from service.predict.v2.tensors import HEADER_LENGTH, read_request, write_response
from service.predict.v2.versions import Versions

SERVER = {"name": "digits", "version": "1.0.0", "extensions": ["binary_tensor_data"]}
_MODEL = {"description": "the model's name: digits", "schema": {"type": "string", "example": digits.MODEL}}
_VERSION = {"description": "a published version's id (GET /v2/models/digits lists them)"}
_MODEL_SEGMENTS = {"model_name": _MODEL}
_VERSION_SEGMENTS = {"model_name": _MODEL, "model_version": _VERSION}
_UNKNOWN = {404: "unknown_model: no model of that name; unknown_version: no published version of that id"}
_UNAVAILABLE = {503: "model_unavailable: no model yet, or the model store is unreachable (Retry-After)"}
_V2 = {"error_shape": PROTOCOL_ERRORS}
_INFER_ERRORS = {
    **_UNKNOWN,
    400: "invalid_inference_request, invalid_datatype, invalid_shape, invalid_binary_data, invalid_json, "
    "invalid_base64, empty_file, invalid_image: the request, a tensor or a picture in it is malformed",
    413: "payload_too_large, too_many_files (more pictures than MAX_FILES_PER_REQUEST), image_too_large, "
    "request_too_costly: the upload API's limits",
    415: "unsupported_media_type: a BYTES element is not an image",
    422: "no_digit_found, non_finite_pixels, image_too_costly (a single picture; in a batch, its row's refusal)",
    503: "model_unavailable, store_unavailable, log_unavailable, busy (Retry-After)",
}
_INFER_ANSWER = Answer(
    "The outputs digit (INT32, -1 where refused), probabilities (FP32 [N, 10]) and not_a_digit (FP32 [N]); "
    "parameters prediction_ids, confidence and refusal, comma-separated, one per picture. With binary outputs "
    f"(binary_data_output or an output's binary_data) the JSON is the first {HEADER_LENGTH} bytes, the raw "
    "little-endian tensors follow",
    {"application/json": {"$ref": "#/components/schemas/InferenceResponse"}, "application/octet-stream": {}},
    schemas.INFER_ANSWER_EXAMPLE,
    headers={HEADER_LENGTH: "with binary outputs only: the length of the JSON that starts the body"},
)
_METADATA_ANSWER = Answer(
    "The model's published versions and its tensors",
    {"application/json": {"$ref": "#/components/schemas/ModelMetadata"}},
    schemas.METADATA_EXAMPLE,
)
_READY_ANSWER = Answer("It is loaded", {"application/json": schemas.MODEL_READY}, {"name": digits.MODEL, "ready": True})
_INFER_BODY = Body(
    {"application/json": {"$ref": "#/components/schemas/InferenceRequest"}, "application/octet-stream": {}},
    example=schemas.INFER_EXAMPLE,
)


_FOUND = {**_UNKNOWN, **_UNAVAILABLE}


def for_model(
    method: str, suffix: str, operations: tuple[str, str], summary: str, answer: Answer, errors: dict, **declared
):
    """The route on the model (its promoted version) and the same on a version named by its id."""
    unversioned = route(
        method,
        f"/v2/models/<model_name>{suffix}",
        operations[0],
        summary,
        segments=_MODEL_SEGMENTS,
        errors=errors,
        answers={200: answer},
        **_V2,
        **declared,
    )
    versioned = route(
        method,
        f"/v2/models/<model_name>/versions/<model_version>{suffix}",
        operations[1],
        f"{summary}: a given version",
        segments=_VERSION_SEGMENTS,
        errors=errors,
        answers={200: answer},
        **_V2,
        **declared,
    )
    return lambda handler: unversioned(versioned(handler))


class OpenInference:
    def __init__(self, resources: Resources):
        self.resources = resources
        self.recognise = Recogniser(resources.settings, resources.clock)
        self._versions: Versions | None = None

    @property
    def versions(self) -> Versions:
        if self._versions is None:  # on first use, as the model cache: after a fork, in the worker
            self._versions = Versions(self.resources.models, ModelRegistry(self.resources.store))
        return self._versions

    @route(
        "GET",
        "/v2",
        "serverMetadata",
        "Server metadata (Open Inference Protocol)",
        **_V2,
        answers={
            200: Answer(
                "The server's name, version and extensions", {"application/json": schemas.SERVER_METADATA}, SERVER
            )
        },
    )
    def server(self, request: Request, t) -> Response:
        return json_response(200, SERVER)

    @route(
        "GET",
        "/v2/health/live",
        "serverLive",
        "Liveness (Open Inference Protocol)",
        **_V2,
        answers={200: Answer("The server answers", {"application/json": schemas.LIVE}, {"live": True})},
    )
    def live(self, request: Request, t) -> Response:
        return json_response(200, {"live": True})

    @route(
        "GET",
        "/v2/health/ready",
        "serverReady",
        "Readiness: the model can be served",
        errors=_UNAVAILABLE,
        **_V2,
        answers={200: Answer("The model is loaded", {"application/json": schemas.READY}, {"ready": True})},
    )
    def ready(self, request: Request, t) -> Response:
        self.resources.models.get()
        return json_response(200, {"ready": True})

    @for_model("GET", "", ("modelMetadata", "modelVersionMetadata"), "Model metadata", _METADATA_ANSWER, _FOUND)
    def metadata(self, request: Request, t, model_name: str, model_version: str | None = None) -> Response:
        self._predictor(model_name, model_version)
        inputs, outputs = digits.INPUTS, digits.OUTPUTS
        versions = self.versions.published()
        return json_response(
            200,
            {
                "name": digits.MODEL,
                "versions": versions,
                "platform": digits.PLATFORM,
                "inputs": inputs,
                "outputs": outputs,
            },
        )

    @for_model("GET", "/ready", ("modelReady", "modelVersionReady"), "Model readiness", _READY_ANSWER, _FOUND)
    def model_ready(self, request: Request, t, model_name: str, model_version: str | None = None) -> Response:
        self._predictor(model_name, model_version)
        return json_response(200, {"name": digits.MODEL, "ready": True})

    @for_model(
        "POST",
        "/infer",
        ("infer", "inferVersion"),
        "Read digits (Open Inference Protocol)",
        _INFER_ANSWER,
        _INFER_ERRORS,
        body=_INFER_BODY,
    )
    def infer(self, request: Request, t, model_name: str, model_version: str | None = None) -> Response:
        _known(model_name)
        inference = read_request(request.body, request.header(HEADER_LENGTH))
        uploads = digits.uploads_of(inference, self.resources.settings.max_files_per_request)
        binary = digits.requested(inference)
        predictor = self._predictor(model_name, model_version)
        recognition = self.recognise(uploads, predictor, t)
        outputs, parameters = digits.outputs_of(recognition)
        chosen = [output for output in outputs if output.name in binary]
        head = {
            "model_name": digits.MODEL,
            "model_version": predictor.version,
            "id": inference.id or t.request_id,
            "parameters": parameters,
        }
        body, headers = write_response(head, chosen, binary)
        content_type = "application/octet-stream" if headers else "application/json"
        return Response(200, body, content_type, headers).with_records(recognition.records, recognition.originals)

    def _predictor(self, model_name: str, model_version: str | None):
        _known(model_name)
        return self.versions.get(model_version)


def _known(model_name: str) -> None:
    if model_name != digits.MODEL:
        raise HTTPError(404, "unknown_model", f"no model named {model_name!r}; this server serves {digits.MODEL!r}")

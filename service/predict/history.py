"""The log as people read and correct it: recent records, one record, its original and normalised images,
and a person's correction."""

from __future__ import annotations

import io
import re

from ml.decode import FORMATS as IMAGE_FORMATS
from ml.parameters import Parameter, Parameters
from ml.storage.base import NotFound
from service.errors import HTTPError
from service.http.auth import CORRECT, READ
from service.http.messages import Request, Response, json_response
from service.http.params import parse_label, require_json
from service.http.routes import Answer, Body, route
from service.predict import schemas
from service.predict.resources import Resources
from service.predlog import PredictionRecord
from service.telemetry import RequestTelemetry

MAX_LIST = 500
LIST_QUERY = Parameters(
    Parameter("limit", int, 20, "newest first, at most this many", 1, MAX_LIST),
    Parameter("low_confidence", bool, False, "only answers below LOW_CONFIDENCE"),
)
# A UUID's hex digits are case-insensitive (RFC 9562): an id in capitals names the same record. Other ways
# of writing a UUID (braces, urn:uuid:, no hyphens) are not ids this API hands out: they name nothing (404).
_UUID = "[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}"
PREDICTION_ID = {
    "description": "a prediction id (a timeuuid), in either case: the same record; an id of another form is 404",
    "schema": {"type": "string", "pattern": f"^{_UUID}$"},
    "example": "6b0c1a2e-cf3b-11f1-9a2b-02fc00000001",
}
_RECORD = {"$ref": "#/components/schemas/Prediction"}


def _valid_id(prediction_id: str) -> str:
    """The id as the log stores it (lower case), or a 404: nothing is stored under another form."""
    if not re.fullmatch(_UUID, prediction_id):
        raise HTTPError(404, "not_found", f"{prediction_id!r} is not a prediction id")
    return prediction_id.lower()


def _found(prediction_id: str, record: PredictionRecord | None) -> PredictionRecord:
    if record is None:
        raise HTTPError(404, "not_found", f"no prediction with id {prediction_id}")
    return record


def correction_json(record: PredictionRecord) -> dict:
    """A correction's answer: where CORRECTIONS_TOKEN is set, its holder may write labels but not read the
    log, so the answer names only the target and what was stored (its 404 for an unknown id tells no more
    than the correction itself needs: that it went nowhere)."""
    labelled = record.as_json()
    return {"id": labelled["id"], "label": labelled["label"], "labelled_at": labelled["labelled_at"]}


def _normalised_png(record: PredictionRecord) -> bytes:
    from PIL import Image

    out = io.BytesIO()
    Image.frombytes("L", (28, 28), record.normalised).save(out, "PNG")
    return out.getvalue()


def stored_image_response(data: bytes) -> Response:
    """An original is served as the image type its bytes are (never the type its uploader declared:
    a "picture" declared text/html must not become a page on our origin); anything else is a download."""
    from PIL import Image, UnidentifiedImageError

    try:
        with Image.open(io.BytesIO(data), formats=IMAGE_FORMATS) as image:  # reads the header only
            content_type = Image.MIME.get(image.format or "", "")
    except (UnidentifiedImageError, OSError, ValueError, SyntaxError):
        content_type = ""
    if not content_type.startswith("image/"):
        return Response(200, data, "application/octet-stream", {"Content-Disposition": "attachment"})
    return Response(200, data, content_type)


class History:
    def __init__(self, resources: Resources):
        self.resources = resources

    def find(self, prediction_id: str) -> PredictionRecord:
        return _found(prediction_id, self.resources.prediction_log.get(_valid_id(prediction_id)))

    @route(
        "GET",
        "/predictions",
        "listPredictions",
        "Newest predictions first",
        access=READ,
        query=LIST_QUERY,
        answers={200: Answer("the records", {"application/json": {"$ref": "#/components/schemas/PredictionList"}})},
        errors={503: None},
    )
    def recent(self, request: Request, t: RequestTelemetry, limit: int, low_confidence: bool) -> Response:
        low = self.resources.settings.low_confidence
        records = self.resources.prediction_log.recent(limit, low if low_confidence else None)
        return json_response(200, {"predictions": [r.as_json() for r in records], "low_confidence_below": low})

    @route(
        "GET",
        "/predictions/<prediction_id>",
        "getPrediction",
        "One record",
        access=READ,
        segments={"prediction_id": PREDICTION_ID},
        answers={200: Answer("the record", {"application/json": _RECORD}, schemas.PREDICTION_EXAMPLE)},
        errors={503: None},
    )
    def record(self, request: Request, t: RequestTelemetry, prediction_id: str) -> Response:
        return json_response(200, self.find(prediction_id).as_json())

    @route(
        "GET",
        "/predictions/<prediction_id>/image",
        "getOriginal",
        "The original upload",
        access=READ,
        segments={"prediction_id": PREDICTION_ID},
        answers={
            200: Answer(
                "The original bytes, as the image type they decode as (never the type the uploader declared); "
                "bytes that are no image come as an application/octet-stream attachment",
                {"*/*": {"type": "string"}},
            )
        },
        errors={503: None},
    )
    def original(self, request: Request, t: RequestTelemetry, prediction_id: str) -> Response:
        record = self.find(prediction_id)
        data = record.image
        if data is None and record.image_key:
            try:
                data = self.resources.store.get(record.image_key)
            except NotFound:
                data = None
        if data is None:
            raise HTTPError(404, "not_found", f"the original image of {record.id} is not stored")
        return stored_image_response(data)

    @route(
        "GET",
        "/predictions/<prediction_id>/normalised.png",
        "getNormalised",
        "The 28x28 image the model saw",
        access=READ,
        segments={"prediction_id": PREDICTION_ID},
        answers={200: Answer("PNG, 28x28 grey", {"image/png": {"type": "string", "contentMediaType": "image/png"}})},
        errors={503: None},
    )
    def normalised(self, request: Request, t: RequestTelemetry, prediction_id: str) -> Response:
        png = _normalised_png(self.find(prediction_id))
        return Response(200, png, "image/png", {"Cache-Control": "max-age=86400"})

    @route(
        "POST",
        "/predictions/<prediction_id>/label",
        "correctPrediction",
        "A person's correction",
        access=CORRECT,
        segments={"prediction_id": PREDICTION_ID},
        body=Body({"application/json": schemas.LABEL_BODY}, example={"label": 7}),
        answers={
            200: Answer(
                "The correction as stored. Nothing else of the record: the corrections token may correct, not read",
                {"application/json": {"$ref": "#/components/schemas/Correction"}},
                schemas.CORRECTION_EXAMPLE,
            )
        },
        errors={
            415: "The body is not application/json (a form post from another site cannot correct answers)",
            503: None,
        },
    )
    def correct(self, request: Request, t: RequestTelemetry, prediction_id: str) -> Response:
        require_json(request, 'send {"label": 7} as application/json')
        label = parse_label(request.body)
        # set_label reads the record first and writes nothing for an unknown id
        record = self.resources.prediction_log.set_label(_valid_id(prediction_id), label, self.resources.now())
        return json_response(200, correction_json(_found(prediction_id, record)))

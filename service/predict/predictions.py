"""POST /: read the digit in one or more pictures. The answer carries the records it reports; the entry
point writes them before the answer leaves."""

from __future__ import annotations

from ml.errors import NotADigit
from ml.parameters import Parameter, Parameters
from service.http.layout import HTML
from service.http.messages import Request, Response, error_response, json_response
from service.http.params import wants_html
from service.http.routes import Answer, Body, Link, route
from service.http.uploads import extract_uploads
from service.predict import schemas
from service.predict.recognise import Recogniser
from service.predict.resources import Resources
from service.predict.result_page import result_page
from service.telemetry import RequestTelemetry

UPLOAD_QUERY = Parameters(
    Parameter(
        "filename", str, None, "a raw body's name, kept with its record (multipart parts and JSON name their own)"
    )
)
# what a client may do next with the id of the prediction it was answered
_THE_RECORD = {"prediction_id": "$response.body#/id"}
NEXT = (
    Link("getPrediction", _THE_RECORD),
    Link("getOriginal", _THE_RECORD),
    Link("getNormalised", _THE_RECORD),
    Link("correctPrediction", _THE_RECORD),
)


class Predictions:
    def __init__(self, resources: Resources):
        self.resources = resources
        self.recognise = Recogniser(resources.settings, resources.clock)

    @route(
        "POST",
        "/",
        "predict",
        "Read the digit in one or more pictures",
        query=UPLOAD_QUERY,
        body=Body(schemas.UPLOAD_BODY, example=schemas.UPLOAD_EXAMPLE),
        answers={
            200: Answer(
                "One prediction, or a list in order for several files (a failed item carries error and message); "
                "a browser form post gets HTML",
                {"application/json": schemas.PREDICT_ANSWER, "text/html": {"type": "string"}},
                schemas.PREDICTION_EXAMPLE,
                links=NEXT,
            )
        },
        errors={
            413: "Too large: body over MAX_UPLOAD_BYTES, image over MAX_IMAGE_PIXELS, all images of the request over "
            "MAX_REQUEST_PIXELS or its decoding time (request_too_costly), too many files or parts",
            415: "Not an image, or an unsupported Content-Type",
            422: "not_a_digit: the model is sure enough the picture is not one handwritten digit (the body also "
            "carries the logged record); no_digit_found: blank or uniform image; non_finite_pixels: a float image holding "
            "NaN or infinity; image_too_costly: a progressive "
            "JPEG of too many scans",
            503: "Unavailable: no model yet, a store or the log unreachable (Retry-After); log_unavailable: the "
            "prediction log refused the record and it could not be spooled either; busy: the worker's queue of "
            "costly requests (over a million declared pixels) is full",
            408: None,
            431: None,
        },
    )
    def predict(self, request: Request, t: RequestTelemetry, filename: str | None) -> Response:
        settings = self.resources.settings
        uploads = extract_uploads(request, settings.max_upload_bytes, settings.max_files_per_request, filename)
        html = wants_html(request)
        recognition = self.recognise(uploads, self.resources.models.get(), t)
        writes = recognition.records, recognition.originals
        if len(uploads) == 1 and recognition.refusals:  # the one picture is not a digit: 422, still recorded
            refusal = recognition.refusals[0]
            if html and isinstance(refusal, NotADigit):
                return Response(422, result_page([refusal.details]), HTML).with_records(*writes)
            return error_response(refusal).with_records(*writes)
        if html:
            answered = [a for a in recognition.answers if "digit" in a]
            return Response(200, result_page(answered), HTML).with_records(*writes)
        answers = recognition.answers
        return json_response(200, answers[0] if len(uploads) == 1 else answers).with_records(*writes)

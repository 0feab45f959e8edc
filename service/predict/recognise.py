"""The recognition core: pictures in, one answer per picture, the records to log and the originals to store
out. It writes nothing itself: the caller sees them in ``Recognition`` and writes them before answering."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime

import numpy as np

from ml.decode import DecodeBudget, from_pixels
from ml.errors import MLError, NotADigit, RequestTooCostly
from ml.labels import NOT_A_DIGIT
from ml.preprocess import preprocess, preprocess_decoded
from service import memory
from service.errors import InvalidRecord
from service.http.uploads import Upload
from service.predlog import PredictionRecord, new_prediction_id
from service.predlog.base import created_at_of
from service.settings import Settings
from service.telemetry import RequestTelemetry

DECODE_SECONDS = 5.0  # one request's decoding, checked before each image (a photo takes a small fraction)
_NOT_A_DIGIT_MESSAGE = (
    "not a digit: the model is {:.0%} sure this picture is not one handwritten digit "
    "(send a single digit; if it is one, correct the answer)"
)


@dataclass(frozen=True)
class Original:
    """An upload over INLINE_IMAGE_BYTES, for the object store under the key its record holds."""

    key: str
    data: bytes
    content_type: str


@dataclass
class Recognition:
    answers: list[dict] = field(default_factory=list)  # one per upload, in order: a prediction or an error
    records: list[PredictionRecord] = field(default_factory=list)  # to log: answered digits and refusals
    originals: list[Original] = field(default_factory=list)  # to store before the records that name them
    refusals: list[MLError] = field(default_factory=list)  # one per answer that is an error, in order


@dataclass(frozen=True)
class Recogniser:
    settings: Settings
    clock: Callable[[], datetime] | None = None

    def __call__(self, uploads: list[Upload], predictor, t: RequestTelemetry) -> Recognition:
        """Raises a request-wide refusal (RequestTooCostly: nothing half-answered); a single upload's own
        MLError too, since nothing was recorded for it."""
        budget = DecodeBudget(self.settings.max_request_pixels, DECODE_SECONDS)
        try:
            ready, failed = self._preprocess(uploads, budget, t)
        finally:
            memory.release_after(budget.spent)
        if len(uploads) == 1 and failed:
            raise failed[0][1]
        answers: dict[int, tuple[dict, MLError | None]] = {
            i: ({"filename": uploads[i].filename, "error": exc.code, "message": str(exc)}, exc) for i, exc in failed
        }
        recognition = Recognition()
        if ready:
            with t.stage("inference"):
                predictions = predictor.predict(np.stack([array for _, array, _ in ready]))
            for (index, array, started), p in zip(ready, predictions, strict=True):
                upload = uploads[index]
                record = self._record(upload, array, p, predictor.version, started, t.request_id)
                recognition.records.append(record)
                if record.image_key is not None:
                    recognition.originals.append(Original(record.image_key, upload.data, upload.content_type))
                answers[index] = self._answer(record, p)
        for index in sorted(answers):
            answer, refusal = answers[index]
            recognition.answers.append(answer)
            if refusal is not None:
                recognition.refusals.append(refusal)
        return recognition

    def _preprocess(self, uploads: list[Upload], budget: DecodeBudget, t: RequestTelemetry):
        ready: list[tuple[int, np.ndarray, float]] = []
        failed: list[tuple[int, MLError]] = []
        for index, upload in enumerate(uploads):
            started = time.perf_counter()
            try:
                with t.stage("preprocess"):
                    ready.append((index, self._prepared(upload, budget), started))
            except RequestTooCostly:
                raise
            except MLError as exc:
                # without its traceback: its frames hold the picture's arrays, and the frame that caught it holds
                # this list, a cycle only the garbage collector would free, long after the request
                failed.append((index, exc.with_traceback(None)))
        return ready, failed

    def _prepared(self, upload: Upload, budget: DecodeBudget) -> np.ndarray:
        if upload.pixels is None:
            return preprocess(upload.data, self.settings.max_image_pixels, budget)
        height, width = upload.pixels.shape
        budget.spend(width, height)
        return preprocess_decoded(from_pixels(upload.pixels))

    @staticmethod
    def _answer(record: PredictionRecord, p) -> tuple[dict, MLError | None]:
        answer = record.as_json()
        if not p.refused:
            return answer, None
        refusal = NotADigit(_NOT_A_DIGIT_MESSAGE.format(p.not_a_digit), answer)
        return {"error": refusal.code, "message": str(refusal), **answer}, refusal

    def _record(self, upload: Upload, array: np.ndarray, p, version: str, started: float, request_id: str):
        pid = new_prediction_id(self.clock() if self.clock else None)
        created_at = created_at_of(pid)
        inline = len(upload.data) <= self.settings.inline_image_bytes
        key = None if inline else f"uploads/{created_at:%Y-%m-%d}/{pid}"
        record = PredictionRecord(
            id=pid,
            created_at=created_at,
            filename=upload.filename,
            content_type=upload.content_type,
            digit=NOT_A_DIGIT if p.refused else p.digit,
            confidence=p.not_a_digit if p.refused else p.confidence,
            probabilities=[*p.probabilities, p.not_a_digit],
            model_version=version,
            latency_ms=(time.perf_counter() - started) * 1000,
            normalised=np.round(array * 255).astype(np.uint8).tobytes(),
            image=upload.data if inline else None,
            image_key=key,
            image_size=len(upload.data),
            request_id=request_id,
        )
        problems = record.problems()
        if problems:
            raise InvalidRecord(f"the model's answer cannot be recorded: {'; '.join(problems)}")
        return record

"""Cassandra rows of a prediction, as records: shared by the current tables and the first schema's."""

from __future__ import annotations

from datetime import UTC

from service.predlog.base import PredictionRecord, created_at_of

# the columns of a prediction, in both schemas; lists never read the originals (never returned by them)
FIELDS = (
    "id, filename, content_type, digit, confidence, probabilities, model_version, "
    "latency_ms, normalised, image, image_key, image_size, request_id"
)
LIST_FIELDS = FIELDS.replace(" image,", "")
COUNT_FIELDS = "id, digit, confidence, model_version"  # what statistics read


def time_order(row) -> tuple[int, bytes]:
    """A timeuuid row's place in time (uuid.UUID compares by its bytes, whose first field is the low time)."""
    return (row.id.time, row.id.bytes)


def label_of(row) -> dict:
    """A one-row labels read as the ``labels`` argument of ``record_of``."""
    return {row.id: (row.label, row.labelled_at)} if row is not None else {}


def record_of(row, labels: dict) -> PredictionRecord:
    """``labels``: id -> (label, labelled_at) of the row's day."""
    pid = str(row.id)
    label, labelled_at = labels.get(row.id, (None, None))
    return PredictionRecord(
        id=pid,
        created_at=created_at_of(pid),
        filename=row.filename,
        content_type=row.content_type,
        digit=row.digit,
        confidence=row.confidence,
        probabilities=list(row.probabilities or []),
        model_version=row.model_version,
        latency_ms=row.latency_ms,
        normalised=row.normalised or b"",
        image=getattr(row, "image", None),
        image_key=row.image_key,
        image_size=row.image_size or 0,
        label=label,
        labelled_at=labelled_at.replace(tzinfo=UTC) if labelled_at else None,
        request_id=row.request_id,
    )

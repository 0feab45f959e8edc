"""The JSON schemas of the predict function's answers and bodies, named in its API document."""

from __future__ import annotations

from ml.labels import NOT_A_DIGIT_LABEL
from service.http.uploads import FIELD, JSON_TYPES, MULTIPART, RAW_TYPES

# A correction's label: the digit the picture really shows, or "not_a_digit" when it shows none
LABEL_VALUE = {
    "oneOf": [{"type": "integer", "minimum": 0, "maximum": 9}, {"type": "string", "enum": [NOT_A_DIGIT_LABEL]}],
    "description": f'the digit the picture really shows, or "{NOT_A_DIGIT_LABEL}" when it shows none',
}

PREDICTION = {
    "type": "object",
    "required": ["id", "digit", "confidence", "probabilities", "model_version", "filename", "created_at"],
    "properties": {
        "id": {"type": "string"},
        "digit": {
            "type": ["integer", "null"],
            "minimum": 0,
            "maximum": 9,
            "description": "null when the upload was refused as not a digit",
        },
        "is_digit": {"type": "boolean", "description": "false: refused as not a digit (422 not_a_digit)"},
        "confidence": {
            "type": "number",
            "minimum": 0,
            "maximum": 1,
            "description": "calibrated: the answer's probability among the digits; for a "
            "refused upload, that it is not a digit",
        },
        "probabilities": {"type": "array", "items": {"type": "number"}, "minItems": 10, "maxItems": 10},
        "not_a_digit": {
            "type": "number",
            "minimum": 0,
            "maximum": 1,
            "description": "calibrated probability that the picture is not one handwritten digit",
        },
        "model_version": {"type": "string"},
        "filename": {"type": "string"},
        "content_type": {"type": "string"},
        "created_at": {"type": "string", "format": "date-time"},
        "latency_ms": {"type": "number"},
        "image_bytes": {"type": "integer"},
        "label": {
            "anyOf": [LABEL_VALUE, {"type": "null"}],
            "description": "what a person said the picture shows, when one corrected or confirmed the answer",
        },
        "labelled_at": {"type": ["string", "null"]},
        "request_id": {"type": ["string", "null"]},
    },
}
FAILED_ITEM = {
    "type": "object",
    "required": ["filename", "error", "message"],
    "properties": {"filename": {"type": "string"}, "error": {"type": "string"}, "message": {"type": "string"}},
}
PREDICTION_LIST = {
    "type": "object",
    "required": ["predictions", "low_confidence_below"],
    "properties": {
        "predictions": {"type": "array", "items": {"$ref": "#/components/schemas/Prediction"}},
        "low_confidence_below": {"type": "number"},
    },
}
HEALTH = {
    "type": "object",
    "required": ["status", "model_version", "model_store", "prediction_log"],
    "properties": {
        "status": {"enum": ["ok", "degraded"]},
        "model_version": {"type": ["string", "null"]},
        "model_error": {"type": ["string", "null"]},
        "model_store": {
            "type": "object",
            "required": ["url", "reachable"],
            "properties": {
                "url": {"type": "string"},
                "reachable": {"type": "boolean"},
                "error": {"type": ["string", "null"], "description": "why it is not reachable"},
            },
        },
        "prediction_log": {
            "type": "object",
            "required": ["url", "reachable", "spooled", "quarantined"],
            "properties": {
                "url": {"type": "string"},
                "reachable": {
                    "type": "boolean",
                    "description": "true when a write would "
                    "succeed now (the breaker is "
                    "closed and a one-row write "
                    "probe succeeded)",
                },
                "spooled": {"type": "integer", "description": "records waiting in the local spool for the log"},
                "error": {"type": ["string", "null"]},
                "quarantined": {
                    "type": "integer",
                    "description": "damaged spool records "
                    "moved aside to "
                    "quarantine.jsonl (never "
                    "replayed "
                    "automatically)",
                },
            },
        },
    },
}
STATS = {
    "type": "object",
    "required": ["days", "total"],
    "properties": {"days": {"type": "array", "items": {"type": "object"}}, "total": {"type": "object"}},
    "description": "per UTC day and overall, each also per model version: count, not_a_digit (refused uploads), "
    "per_digit, mean_confidence, low_confidence_share, corrected, corrected_accuracy",
}
_UPLOAD_JSON = {
    "type": "object",
    "additionalProperties": False,
    "properties": {
        "image": {"type": "string", "description": "base64 or a data: URL"},
        "images": {"type": "array", "items": {"type": "string"}, "minItems": 1},
        "filename": {"type": "string", "description": "a name to keep with the record"},
    },
    "oneOf": [
        {"required": ["image"], "not": {"required": ["images"]}},
        {"required": ["images"], "not": {"required": ["image"]}},
    ],
}
_RAW = "the picture itself; the filename query parameter names it (no Content-Type: application/octet-stream)"
UPLOAD_BODY: dict[str, dict] = {
    MULTIPART: {
        "type": "object",
        "required": [FIELD],
        "properties": {
            FIELD: {
                "type": "string",
                "contentMediaType": "application/octet-stream",
                "description": "the picture; repeat the part for several",
            }
        },
    },
    **{media: {"type": "string", "contentMediaType": media, "description": _RAW} for media in RAW_TYPES},
    **{media: _UPLOAD_JSON for media in JSON_TYPES},
}
UPLOAD_EXAMPLE = {
    "image": "iVBORw0KGgoAAAANSUhEUgAAABwAAAAcCAAAAABXZoBIAAAAwUlEQVR42mNgGDaAEUKFpD77sfTFHeyS9xQYGBg+X4UKPuk6w8DAwMDAAuGm6l/TMnSweCzLwPDntSTDozPIOhkYGBgYBA3PmDIw/Lh1XShnGi5nBP+9KIRLTuzl/2AokwlDMlv0/U1cGq1//rPD6fHWf7tZcclxnv1hhVNj3b9tOOW8f3+wxCUnfPffMlxyzKf/3VbGJan2758vLjn5B/+KGXF78Z8JLjnbT+iSSGFrw8Nw9wuKJAsy56LzO+ITGABpETyQcCy90wAAAABJRU5ErkJggg=="
}
PREDICTION_EXAMPLE = {
    "id": "6b0c1a2e-cf3b-11f1-9a2b-02fc00000001",
    "digit": 3,
    "confidence": 0.9998,
    "probabilities": [0.0, 0.0, 0.0001, 0.9998, 0.0, 0.0, 0.0, 0.0001, 0.0, 0.0],
    "model_version": "20261129T183614Z-5f2c2a",
    "filename": "3_canvas.png",
    "content_type": "image/png",
    "created_at": "2026-11-29T17:40:01.123456Z",
    "latency_ms": 1.2,
    "image_bytes": 1893,
    "label": None,
    "labelled_at": None,
    "request_id": "b7f0c0c35d6a4d5c9a3f0e1d2c3b4a59",
}
PREDICT_ANSWER = {
    "oneOf": [
        {"$ref": "#/components/schemas/Prediction"},
        {
            "type": "array",
            "items": {
                "anyOf": [{"$ref": "#/components/schemas/Prediction"}, {"$ref": "#/components/schemas/FailedItem"}]
            },
        },
    ]
}
CORRECTION: dict = {
    "type": "object",
    "required": ["id", "label", "labelled_at"],
    "additionalProperties": False,
    "description": "what a correction needs to know: its target and what was stored, nothing of the upload",
    "properties": {
        "id": {"type": "string"},
        "label": LABEL_VALUE,
        "labelled_at": {"type": "string", "format": "date-time"},
    },
}
CORRECTION_EXAMPLE = {"id": "6b0c1a2e-cf3b-11f1-9a2b-02fc00000001", "label": 7, "labelled_at": "2026-11-29T17:42:10.5Z"}
LABEL_BODY = {
    "type": "object",
    "required": ["label"],
    "additionalProperties": False,
    "properties": {"label": LABEL_VALUE},
}

"""The JSON schemas of the Open Inference Protocol's bodies, as the API document names them."""

from __future__ import annotations

from typing import Any

from service.predict.v2.digits import INPUTS, MODEL, OUTPUTS, PLATFORM

_PARAMETERS = {
    "type": "object",
    "additionalProperties": {"type": ["string", "number", "boolean"]},
    "description": "name -> a string, number or boolean",
}
_TENSOR_META: dict[str, Any] = {
    "type": "object",
    "required": ["name", "datatype", "shape"],
    "properties": {
        "name": {"type": "string"},
        "datatype": {"type": "string"},
        "shape": {"type": "array", "items": {"type": "integer"}},
    },
}
_DATA = {
    "type": "array",
    "description": "row-major, flat or nested; BYTES elements are base64 strings (one encoded image each)",
}
INFER_ERROR = {
    "type": "object",
    "required": ["error", "code"],
    "properties": {
        "error": {"type": "string", "description": "the stable code, a colon, then what went wrong and what to do"},
        "code": {"type": "string", "description": "the stable code alone (docs/api.md lists every code)"},
    },
}
SERVER_METADATA = {
    "type": "object",
    "required": ["name", "version", "extensions"],
    "properties": {
        "name": {"type": "string"},
        "version": {"type": "string"},
        "extensions": {"type": "array", "items": {"type": "string"}},
    },
}
LIVE = {"type": "object", "required": ["live"], "properties": {"live": {"type": "boolean"}}}
READY = {"type": "object", "required": ["ready"], "properties": {"ready": {"type": "boolean"}}}
MODEL_READY = {
    "type": "object",
    "required": ["name", "ready"],
    "properties": {"name": {"type": "string"}, "ready": {"type": "boolean"}},
}
MODEL_METADATA = {
    "type": "object",
    "required": ["name", "platform", "inputs", "outputs"],
    "properties": {
        "name": {"type": "string"},
        "versions": {"type": "array", "items": {"type": "string"}},
        "platform": {"type": "string"},
        "inputs": {"type": "array", "items": _TENSOR_META},
        "outputs": {"type": "array", "items": _TENSOR_META},
    },
}
INFER_REQUEST: dict = {
    "type": "object",
    "required": ["inputs"],
    "additionalProperties": False,  # an unknown field is refused (400), not ignored
    "properties": {
        "model_name": {"type": "string"},  # KServe's client repeats what the path says
        "model_version": {"type": "string"},
        "id": {"type": "string"},
        "parameters": _PARAMETERS,
        "inputs": {
            "type": "array",
            "minItems": 1,
            "items": {
                "type": "object",
                "required": ["name", "shape", "datatype"],
                "properties": {
                    "name": {"enum": ["image", "pixels"]},
                    "shape": {"type": "array", "items": {"type": "integer", "minimum": 0}},
                    "datatype": {"type": "string"},
                    "parameters": _PARAMETERS,
                    "data": _DATA,
                },
            },
        },
        "outputs": {
            "type": "array",
            "items": {
                "type": "object",
                "required": ["name"],
                "properties": {"name": {"type": "string"}, "parameters": _PARAMETERS},
            },
        },
    },
}
INFER_RESPONSE = {
    "type": "object",
    "required": ["model_name", "outputs"],
    "properties": {
        "model_name": {"type": "string"},
        "model_version": {"type": "string"},
        "id": {"type": "string"},
        "parameters": _PARAMETERS,
        "outputs": {
            "type": "array",
            "items": {
                **_TENSOR_META,
                "properties": {**_TENSOR_META["properties"], "parameters": _PARAMETERS, "data": _DATA},
            },
        },
    },
}
SEVEN = "iVBORw0KGgo..."  # an example's base64 PNG, cut short
INFER_EXAMPLE = {"inputs": [{"name": "image", "shape": [1], "datatype": "BYTES", "data": [SEVEN]}]}
INFER_ANSWER_EXAMPLE = {
    "model_name": MODEL,
    "model_version": "20261129T170539Z-3f9a1c",
    "id": "2c1d9e4f",
    "parameters": {"prediction_ids": "8c1f6c1e-0000-11f0-8000-000000000000", "confidence": "0.998", "refusal": ""},
    "outputs": [
        {"name": "digit", "datatype": "INT32", "shape": [1], "data": [7]},
        {"name": "probabilities", "datatype": "FP32", "shape": [1, 10], "data": [0.0] * 7 + [0.998, 0.001, 0.001]},
        {"name": "not_a_digit", "datatype": "FP32", "shape": [1], "data": [0.0]},
    ],
}
METADATA_EXAMPLE = {
    "name": MODEL,
    "versions": ["20261129T170539Z-3f9a1c"],
    "platform": PLATFORM,
    "inputs": INPUTS,
    "outputs": OUTPUTS,
}
SCHEMAS = {
    "InferenceError": INFER_ERROR,
    "InferenceRequest": INFER_REQUEST,
    "InferenceResponse": INFER_RESPONSE,
    "ModelMetadata": MODEL_METADATA,
}

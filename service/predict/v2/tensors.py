"""Tensors of the Open Inference Protocol over HTTP, with no model in sight: an ``infer`` request's body read
into named arrays, and output arrays written back. A body is JSON, or (Triton's binary data extension) JSON of
``Inference-Header-Content-Length`` bytes followed by the raw tensors its inputs' ``binary_data_size`` announce.
Every malformed request is a 400 naming what is wrong; nothing is allocated from a size the data does not back.
"""

from __future__ import annotations

import json
import math
import struct
from dataclasses import dataclass, field

import numpy as np

from service.errors import HTTPError
from service.http.params import parse_json

HEADER_LENGTH = "Inference-Header-Content-Length"
# the protocol's numeric datatypes and their little-endian layout in a binary tensor
NUMERIC = {
    "BOOL": "?",
    "UINT8": "<u1",
    "UINT16": "<u2",
    "UINT32": "<u4",
    "UINT64": "<u8",
    "INT8": "<i1",
    "INT16": "<i2",
    "INT32": "<i4",
    "INT64": "<i8",
    "FP16": "<f2",
    "FP32": "<f4",
    "FP64": "<f8",
}
BYTES = "BYTES"
_HINT = 'send {"inputs": [{"name", "shape", "datatype", "data"}]} (docs/api.md, Open Inference Protocol)'
_LENGTH = struct.Struct("<I")  # the length before each element of a binary BYTES tensor


def refuse(code: str, message: str) -> HTTPError:
    return HTTPError(400, code, message)


@dataclass(frozen=True)
class Tensor:
    """An input: numeric data as an array of its shape; BYTES as its elements in order (``str`` from JSON,
    ``bytes`` from a binary tensor)."""

    name: str
    datatype: str
    shape: tuple[int, ...]
    data: np.ndarray | list


@dataclass(frozen=True)
class InferRequest:
    id: str | None
    inputs: list[Tensor]
    outputs: dict[str, bool] | None  # the outputs asked for -> whether each is wanted binary; None: all
    binary_output: bool = False  # what an output not asked for by name gets (``binary_data_output``)
    parameters: dict = field(default_factory=dict)


@dataclass(frozen=True)
class Output:
    name: str
    datatype: str
    data: np.ndarray  # of its shape


def read_request(body: bytes, header_length: str) -> InferRequest:
    """The request a body carries; ``header_length``: its Inference-Header-Content-Length ("" when none)."""
    head, binary = _split(body, header_length)
    payload = parse_json(head, _HINT)
    if not isinstance(payload, dict) or not isinstance(payload.get("inputs"), list) or not payload["inputs"]:
        raise refuse("invalid_inference_request", f"the body has no list of inputs; {_HINT}")
    # KServe's client also repeats the model's name and version: the path says which it is
    unknown = sorted(set(payload) - {"id", "parameters", "inputs", "outputs", "model_name", "model_version"})
    if unknown:
        raise refuse("invalid_inference_request", f"unknown field(s) {', '.join(unknown)}; {_HINT}")
    request_id = payload.get("id")
    if request_id is not None and not isinstance(request_id, str):
        raise refuse("invalid_inference_request", '"id" must be a string')
    parameters = _object(payload.get("parameters"), '"parameters"')
    chunks = _Chunks(binary)
    inputs = [_tensor(item, chunks) for item in payload["inputs"]]
    chunks.finish()
    binary_output = parameters.get("binary_data_output", False)
    if not isinstance(binary_output, bool):
        raise refuse("invalid_inference_request", '"binary_data_output" must be true or false')
    outputs = None if payload.get("outputs") is None else _requested(payload["outputs"], binary_output)
    return InferRequest(request_id, inputs, outputs, binary_output, parameters)


def _split(body: bytes, header_length: str) -> tuple[bytes, memoryview]:
    if not header_length:
        return body, memoryview(b"")
    try:
        length = int(header_length)
    except ValueError:
        length = -1
    if not 0 < length <= len(body):
        raise refuse(
            "invalid_binary_data",
            f"{HEADER_LENGTH} is {header_length!r}; it must count the JSON at the start of the {len(body):,}-byte body",
        )
    return body[:length], memoryview(body)[length:]


def _object(value: object, where: str) -> dict:
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise refuse("invalid_inference_request", f"{where} must be an object")
    return value


class _Chunks:
    """The binary tensors after the JSON, taken in order of the inputs that announce them."""

    def __init__(self, binary: memoryview):
        self.binary, self.offset = binary, 0

    def take(self, size: object, name: str) -> memoryview:
        if not isinstance(size, int) or isinstance(size, bool) or size < 0:
            raise refuse("invalid_binary_data", f"input {name!r}: binary_data_size must be a whole number of bytes")
        if self.offset + size > len(self.binary):
            raise refuse(
                "invalid_binary_data",
                f"input {name!r} announces {size:,} bytes of binary data; "
                f"{len(self.binary) - self.offset:,} are left after the JSON",
            )
        self.offset += size
        return self.binary[self.offset - size : self.offset]

    def finish(self) -> None:
        if self.offset != len(self.binary):
            raise refuse(
                "invalid_binary_data",
                f"{len(self.binary) - self.offset:,} bytes after the JSON belong to no input's binary_data_size",
            )


def _tensor(item: object, chunks: _Chunks) -> Tensor:
    if not isinstance(item, dict) or not isinstance(item.get("name"), str):
        raise refuse("invalid_inference_request", f"each input is an object with a name; {_HINT}")
    name, datatype, shape = item["name"], item.get("datatype"), item.get("shape")
    if not isinstance(datatype, str) or (datatype != BYTES and datatype not in NUMERIC):
        raise refuse("invalid_datatype", f"input {name!r}: unknown datatype {datatype!r}")
    if not isinstance(shape, list) or not all(isinstance(d, int) and not isinstance(d, bool) and d >= 0 for d in shape):
        raise refuse("invalid_shape", f"input {name!r}: the shape must be a list of whole numbers, not {shape!r}")
    parameters = _object(item.get("parameters"), f"input {name!r}'s parameters")
    count = math.prod(shape)
    if "binary_data_size" in parameters:
        data = _binary(chunks.take(parameters["binary_data_size"], name), datatype, count, name)
    elif "data" in item:
        data = _from_json(item["data"], datatype, count, name)
    else:
        raise refuse("invalid_inference_request", f"input {name!r} has no data (and no binary_data_size)")
    if isinstance(data, np.ndarray):
        data = data.reshape(shape)
    return Tensor(name, datatype, tuple(shape), data)


def _binary(chunk: memoryview, datatype: str, count: int, name: str) -> np.ndarray | list:
    if datatype != BYTES:
        dtype = np.dtype(NUMERIC[datatype])
        if len(chunk) != count * dtype.itemsize:
            raise refuse(
                "invalid_shape",
                f"input {name!r}: its shape holds {count:,} {datatype} elements ({count * dtype.itemsize:,} bytes); "
                f"its binary data is {len(chunk):,} bytes",
            )
        return np.frombuffer(chunk, dtype)
    elements: list[bytes] = []
    offset = 0
    while offset < len(chunk):
        if offset + 4 > len(chunk) or len(elements) >= count:
            break
        (size,) = _LENGTH.unpack_from(chunk, offset)
        elements.append(bytes(chunk[offset + 4 : offset + 4 + size]))
        offset += 4 + size
    if offset != len(chunk) or len(elements) != count:
        raise refuse(
            "invalid_shape",
            f"input {name!r}: its shape holds {count:,} BYTES elements; its binary data is not that many "
            "length-prefixed elements",
        )
    return elements


def _from_json(data: object, datatype: str, count: int, name: str) -> np.ndarray | list:
    if not isinstance(data, list):
        raise refuse("invalid_inference_request", f"input {name!r}: data must be a list")
    if datatype == BYTES:
        flat = _flat_strings(data, name)
        if len(flat) != count:
            raise refuse("invalid_shape", f"input {name!r}: its shape holds {count:,} elements; data has {len(flat):,}")
        return flat
    try:
        values = np.array(data)
    except (ValueError, TypeError, OverflowError):
        raise refuse("invalid_inference_request", f"input {name!r}: data is not a regular array of numbers") from None
    if values.size != count:
        raise refuse("invalid_shape", f"input {name!r}: its shape holds {count:,} elements; data has {values.size:,}")
    return _typed(values.ravel(), datatype, name)


def _flat_strings(data: list, name: str) -> list:
    flat: list = []
    pending = [iter(data)]
    while pending:  # nested lists in row-major order, without recursion (a deep nesting costs no stack)
        for element in pending[-1]:
            if isinstance(element, list):
                pending.append(iter(element))
                break
            if not isinstance(element, str):
                raise refuse("invalid_datatype", f"input {name!r}: a BYTES element is {type(element).__name__}")
            flat.append(element)
        else:
            pending.pop()
    return flat


def _typed(values: np.ndarray, datatype: str, name: str) -> np.ndarray:
    """JSON numbers as ``datatype``: refused, never wrapped or truncated, when they do not fit it."""
    dtype = np.dtype(NUMERIC[datatype])
    if values.size == 0:
        return values.astype(dtype)
    fits = values.dtype.kind in "biu" if dtype.kind in "biu" else values.dtype.kind in "biuf"
    if fits and dtype.kind in "iu":
        limits = np.iinfo(dtype)
        fits = limits.min <= values.min() and values.max() <= limits.max
    if dtype.kind == "b":
        fits = values.dtype.kind == "b"
    if not fits:
        raise refuse("invalid_datatype", f"input {name!r}: its data are not all {datatype} values")
    return values.astype(dtype)


def _requested(outputs: object, binary_output: bool) -> dict[str, bool]:
    if not isinstance(outputs, list):
        raise refuse("invalid_inference_request", '"outputs" must be a list of {"name"}')
    asked: dict[str, bool] = {}
    for item in outputs:
        if not isinstance(item, dict) or not isinstance(item.get("name"), str):
            raise refuse("invalid_inference_request", 'each requested output is {"name", "parameters"?}')
        parameters = _object(item.get("parameters"), f"output {item['name']!r}'s parameters")
        if parameters.get("classification"):
            raise refuse("invalid_inference_request", "the classification extension is not supported")
        binary = parameters.get("binary_data", binary_output)
        if not isinstance(binary, bool):
            raise refuse("invalid_inference_request", f"output {item['name']!r}: binary_data must be true or false")
        asked[item["name"]] = binary
    return asked


def write_response(head: dict, outputs: list[Output], binary: dict[str, bool]) -> tuple[bytes, dict[str, str]]:
    """The body and headers answering ``head`` (model_name, id, ...) with ``outputs``, each in JSON or, where
    ``binary`` says so, as raw little-endian bytes after the JSON."""
    described, raw = [], []
    for output in outputs:
        entry: dict = {"name": output.name, "datatype": output.datatype, "shape": list(output.data.shape)}
        if binary.get(output.name, False):
            data = np.ascontiguousarray(output.data, NUMERIC[output.datatype]).tobytes()
            entry["parameters"] = {"binary_data_size": len(data)}
            raw.append(data)
        else:
            entry["data"] = output.data.ravel().tolist()
        described.append(entry)
    header = json.dumps({**head, "outputs": described}, separators=(",", ":"), allow_nan=False).encode()
    if not raw:
        return header, {}
    return header + b"".join(raw), {HEADER_LENGTH: str(len(header))}

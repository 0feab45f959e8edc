"""The model ``digits`` as the Open Inference Protocol sees it: its declared tensors, a request's input turned
into the uploads the recogniser reads (so a tensor is read, limited and logged exactly as an upload is), and a
recognition turned into output tensors."""

from __future__ import annotations

import io

import numpy as np
from PIL import Image

from service.errors import HTTPError
from service.http.uploads import Upload, decode_base64
from service.predict.recognise import Recognition
from service.predict.v2.tensors import BYTES, InferRequest, Output, refuse

MODEL = "digits"
PLATFORM = "litert_tflite"
IMAGE, PIXELS = "image", "pixels"  # the two inputs: a request carries exactly one of them
SIDE = 28
PIXEL_TYPES = ("UINT8", "FP32")
INPUTS = [
    {"name": IMAGE, "datatype": BYTES, "shape": [-1]},
    {"name": PIXELS, "datatype": "UINT8", "shape": [-1, SIDE, SIDE]},
]
OUTPUTS = [
    {"name": "digit", "datatype": "INT32", "shape": [-1]},
    {"name": "probabilities", "datatype": "FP32", "shape": [-1, 10]},
    {"name": "not_a_digit", "datatype": "FP32", "shape": [-1]},
]
OUTPUT_NAMES = tuple(str(o["name"]) for o in OUTPUTS)
REFUSED = -1  # the digit of a picture answered without one: not a digit, or not readable (its code says which)


def uploads_of(request: InferRequest, max_files: int) -> list[Upload]:
    """The pictures the request's one input holds, in order; a 400 for any other input, a 413 past the limit."""
    if len(request.inputs) != 1 or request.inputs[0].name not in (IMAGE, PIXELS):
        names = ", ".join(repr(t.name) for t in request.inputs)
        raise refuse("invalid_inference_request", f"send one input, {IMAGE!r} or {PIXELS!r} (got {names})")
    tensor = request.inputs[0]
    count = tensor.shape[0] if tensor.shape else 0
    if count > max_files:
        raise HTTPError(413, "too_many_files", f"{count} pictures in one request; the limit is {max_files}")
    if count == 0:
        raise refuse("invalid_shape", f"input {tensor.name!r} holds no picture; send a batch of at least one")
    if tensor.name == IMAGE:
        if tensor.datatype != BYTES or len(tensor.shape) != 1:
            raise _wrong(tensor.name, tensor.datatype, tensor.shape, "BYTES [N], one encoded image each")
        return [_encoded(element, i) for i, element in enumerate(tensor.data)]
    shapes = ((count, SIDE, SIDE), (count, SIDE * SIDE))
    if tensor.datatype not in PIXEL_TYPES or tuple(tensor.shape) not in shapes:
        raise _wrong(tensor.name, tensor.datatype, tensor.shape, "UINT8 or FP32 [N, 28, 28] or [N, 784]")
    assert isinstance(tensor.data, np.ndarray)
    return [_pixels(tensor.data[i].reshape(SIDE, SIDE), i) for i in range(count)]


def _wrong(name: str, datatype: str, shape: tuple[int, ...], wanted: str) -> HTTPError:
    code = "invalid_shape" if datatype in ((BYTES,) if name == IMAGE else PIXEL_TYPES) else "invalid_datatype"
    return refuse(code, f"input {name!r} is {datatype} {list(shape)}; send {wanted}")


def _encoded(element: str | bytes, index: int) -> Upload:
    where = f"{IMAGE}[{index}]"
    data = element if isinstance(element, bytes) else decode_base64(element, f"{where} (base64 in JSON)")
    if not data:
        raise refuse("empty_file", f"{where} is empty (0 bytes)")
    return Upload(where, "application/octet-stream", data)


def _pixels(values: np.ndarray, index: int) -> Upload:
    """Pixels, kept with their record as the greyscale PNG they make (what GET .../image then answers)."""
    if values.dtype == np.uint8:
        shown = values
    else:  # a float picture shown as the 8-bit one it reads as; NaN and infinity are refused when it is read
        shown = (np.clip(np.nan_to_num(values), 0, 1) * 255).round().astype(np.uint8)
    out = io.BytesIO()
    Image.fromarray(np.ascontiguousarray(shown), "L").save(out, "PNG", compress_level=1)
    return Upload(f"{PIXELS}[{index}]", "image/png", out.getvalue(), pixels=values)


def outputs_of(recognition: Recognition) -> tuple[list[Output], dict[str, str]]:
    """The output tensors of a recognition, and the parameters that go with them: per picture, in order and
    comma-separated (the protocol's parameters are plain values), its prediction id, calibrated confidence and
    refusal code ("" where it was answered)."""
    digits, probabilities, not_a_digit, ids, confidences, refusals = [], [], [], [], [], []
    for answer in recognition.answers:
        refusal = answer.get("error", "")
        digits.append(REFUSED if refusal else answer["digit"])
        probabilities.append(answer.get("probabilities", [0.0] * 10))
        not_a_digit.append(answer.get("not_a_digit", 0.0))
        ids.append(answer.get("id", ""))
        confidences.append(repr(answer["confidence"]) if "confidence" in answer else "")
        refusals.append(refusal)
    outputs = [
        Output("digit", "INT32", np.array(digits, np.int32)),
        # as answered (JSON shows them as the upload API does); FP32 where they go binary
        Output("probabilities", "FP32", np.array(probabilities, np.float64).reshape(-1, 10)),
        Output("not_a_digit", "FP32", np.array(not_a_digit, np.float64)),
    ]
    parameters = {"prediction_ids": ",".join(ids), "confidence": ",".join(confidences), "refusal": ",".join(refusals)}
    return outputs, parameters


def requested(request: InferRequest) -> dict[str, bool]:
    """The outputs the request asks for (all when it names none) -> whether each goes binary."""
    if request.outputs is None:
        return dict.fromkeys(OUTPUT_NAMES, request.binary_output)
    unknown = sorted(set(request.outputs) - set(OUTPUT_NAMES))
    if unknown:
        raise refuse(
            "invalid_inference_request", f"no output named {', '.join(unknown)}; the outputs are {OUTPUT_NAMES}"
        )
    return request.outputs

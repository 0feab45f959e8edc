"""Turn a predict request into the list of uploaded images it carries.

Accepted: multipart ``file`` parts (one or many), a raw image body (named by the
``filename`` query parameter), or JSON ``{"image": "<base64>"}`` / ``{"images": [...]}``.
Limits are enforced while parsing so a hostile request costs little. The API document
lists the media types below (``service/predict/schemas.py`` reads them from here).
"""

from __future__ import annotations

import base64
import binascii
import re
import unicodedata
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from python_multipart.exceptions import MultipartParseError
from python_multipart.multipart import MultipartParser, MultipartState, parse_options_header

from service.errors import HTTPError
from service.http.messages import Request, payload_too_large
from service.http.params import parse_json

if TYPE_CHECKING:
    import numpy as np
    from python_multipart.multipart import MultipartCallbacks

FIELD = "file"
MULTIPART = "multipart/form-data"
JSON_TYPES = ("application/json", "text/json")
# the picture itself as the body; a body with no Content-Type is taken as application/octet-stream
RAW_TYPES = ("image/*", "application/octet-stream")
MAX_FILENAME = 200
MAX_PART_HEADER = 16 * 1024  # a part's header line; a longer filename is cut to MAX_FILENAME, a longer line refused


class TooManyParts(Exception):
    """More parts than a request may carry (413)."""


@dataclass(frozen=True)
class Upload:
    filename: str
    content_type: str
    data: bytes  # the file as sent, or as kept with the record when ``pixels`` came instead
    # a picture sent as pixels (a 2-D array), read as ``ml.decode.from_pixels`` reads it instead of decoding ``data``
    pixels: np.ndarray | None = field(default=None, compare=False)


def sanitise_filename(raw: str | bytes | None) -> str:
    """A display name only: never used as a path. Keeps the last path
    component, drops control characters, bounds the length."""
    if isinstance(raw, bytes):
        raw = raw.decode("utf-8", errors="replace")
    name = unicodedata.normalize("NFC", raw or "")
    name = re.split(r"[\\/]", name)[-1]
    name = "".join(ch for ch in name if unicodedata.category(ch)[0] != "C").strip().lstrip(".")
    if len(name) > MAX_FILENAME:
        stem, dot, ext = name.rpartition(".")
        name = (stem[: MAX_FILENAME - len(ext) - 1] + dot + ext) if dot and len(ext) <= 10 else name[:MAX_FILENAME]
    return name or "upload"


@dataclass
class _Part:
    name: str = ""
    filename: bytes | None = None  # as sent: UTF-8 bytes, decoded (or refused) by the caller; None: not a file
    content_type: str = ""
    chunks: list[bytes] = field(default_factory=list)

    def header(self, name: bytes, value: bytes) -> None:
        """Keep what a part's headers say about it: its field name, filename and type."""
        try:
            value.decode("utf-8")
        except UnicodeDecodeError:
            raise ValueError("a part's headers are not utf-8 (RFC 7578); send the filename in UTF-8") from None
        lowered = name.lower()
        if lowered == b"content-disposition":
            # parsed as latin-1 text, byte for byte, which parse_options_header hands back as the bytes sent
            options = parse_options_header(value.decode("latin-1"))[1]
            self.name = options.get(b"name", b"").decode("utf-8")
            self.filename = options.get(b"filename")
        elif lowered == b"content-type":
            self.content_type = parse_options_header(value.decode("latin-1"))[0].decode("latin-1")


_HEADER_NAME = re.compile(rb"[A-Za-z0-9-]+")  # a strict subset of the token characters python-multipart takes
_MAX_FAST_HEADERS = 4  # python-multipart allows 8 a part


def _one_part(body: bytes, boundary: bytes) -> _Part | None:
    """The part of a body that is exactly one well-formed part (what curl -F and a browser send for one
    file), cut out with three searches; None for anything else, which python-multipart then parses. Taken
    only where python-multipart would read the same part: the body opens with the boundary, each header
    line is ``Name: value`` with a plain name and no stray CR or LF, and the closing boundary follows the
    data, then nothing or one CRLF (tests/unit/test_uploads.py compares the two on generated bodies)."""
    delimiter = b"--" + boundary
    start = len(delimiter) + 2
    if not body.startswith(delimiter + b"\r\n") or body.startswith(b"\r\n", start):
        return None
    head_end = body.find(b"\r\n\r\n", start)
    if head_end < 0:
        return None
    data_end = body.find(b"\r\n" + delimiter, head_end + 4)
    if data_end < 0 or body[data_end + len(delimiter) + 2 :] not in (b"--", b"--\r\n"):
        return None
    lines = body[start:head_end].split(b"\r\n")
    if len(lines) > _MAX_FAST_HEADERS:
        return None
    part = _Part()
    for line in lines:
        name, colon, value = line.partition(b":")
        if not colon or len(line) >= MAX_PART_HEADER or b"\r" in line or b"\n" in line:
            return None
        if not _HEADER_NAME.fullmatch(name):
            return None
        part.header(name, value.lstrip(b" "))
    part.chunks.append(body[head_end + 4 : data_end])
    return part


def _multipart_parts(body: bytes, boundary: bytes, max_parts: int) -> list[_Part]:
    """Every part of a multipart body already in memory, with its data: one plain part cut out directly
    (``_one_part``), anything else parsed by python-multipart's streaming parser fed the whole body at once
    (werkzeug's decoder cost many times more per small upload, and werkzeug's import weighed on every cold
    start). Headers must be UTF-8 (RFC 7578)."""
    one = _one_part(body, boundary)
    return [one] if one is not None else _parsed_parts(body, boundary, max_parts)


def _parsed_parts(body: bytes, boundary: bytes, max_parts: int) -> list[_Part]:
    parts: list[_Part] = []
    name: list[bytes] = []
    value: list[bytes] = []

    def begin() -> None:
        if len(parts) >= max_parts:
            raise TooManyParts
        parts.append(_Part())

    def header_end() -> None:
        parts[-1].header(b"".join(name), b"".join(value))
        name.clear()
        value.clear()

    callbacks: MultipartCallbacks = {
        "on_part_begin": begin,
        "on_header_field": lambda data, start, end: name.append(data[start:end]),
        "on_header_value": lambda data, start, end: value.append(data[start:end]),
        "on_header_end": header_end,
        "on_part_data": lambda data, start, end: parts[-1].chunks.append(data[start:end]),
    }
    parser = MultipartParser(boundary, callbacks, max_header_size=MAX_PART_HEADER)
    try:
        parser.write(body)
    except MultipartParseError as exc:
        raise ValueError(str(exc)) from None
    if parser.state != MultipartState.END:
        raise ValueError("the body ends inside a part (no closing boundary)")
    return parts


def _multipart(request: Request, boundary: bytes, max_files: int) -> list[Upload]:
    if not boundary:
        raise HTTPError(400, "invalid_multipart", "the multipart body cannot be parsed: no boundary in Content-Type")
    try:
        parts = _multipart_parts(request.body, boundary, max_files + 16)
    except TooManyParts as exc:
        raise HTTPError(
            413, "too_many_parts", f"the multipart request has too many parts (limit {max_files} files)"
        ) from exc
    except (ValueError, UnicodeError) as exc:
        raise HTTPError(400, "invalid_multipart", f"the multipart body cannot be parsed: {exc}") from exc
    files = [part for part in parts if part.filename is not None and part.name == FIELD]
    if not files:
        raise HTTPError(400, "missing_file", _missing_file(parts))
    if len(files) > max_files:
        raise HTTPError(413, "too_many_files", f"{len(files)} files in one request; the limit is {max_files}")
    uploads = []
    for part in files:
        data = b"".join(part.chunks)
        if not data:
            raise HTTPError(400, "empty_file", f"the file {sanitise_filename(part.filename)!r} is empty (0 bytes)")
        uploads.append(Upload(sanitise_filename(part.filename), part.content_type or "application/octet-stream", data))
    return uploads


def _missing_file(parts: list[_Part]) -> str:
    fix = f"send curl -F {FIELD}=@digit.png"
    if any(part.name == FIELD for part in parts):  # curl -F file=<digit.png sends the bytes as a text field
        return f"the multipart field '{FIELD}' holds text, not a file (it has no filename); {fix}"
    others = sorted({part.name for part in parts})
    hint = f" (found: {', '.join(others[:5])})" if others else ""
    return f"no multipart field named '{FIELD}'{hint}; {fix}"


def decode_base64(value: object, where: str) -> bytes:
    if not isinstance(value, str) or not value:
        raise HTTPError(400, "invalid_base64", f"{where} must be a non-empty base64 string")
    if value.startswith("data:") and "," in value:
        value = value.split(",", 1)[1]  # a data URL from a canvas
    try:
        return base64.b64decode(value, validate=True)
    except (binascii.Error, ValueError) as exc:
        raise HTTPError(400, "invalid_base64", f"{where} is not valid base64: {exc}") from exc


def _json(request: Request, max_files: int) -> list[Upload]:
    payload = parse_json(request.body, 'send {"image": "<base64>"}')
    if not isinstance(payload, dict) or not ({"image", "images"} & payload.keys()):
        raise HTTPError(400, "missing_image", 'send {"image": "<base64>"} or {"images": ["<base64>", ...]}')
    if {"image", "images"} <= payload.keys():
        raise HTTPError(400, "invalid_json", 'send either "image" or "images", not both')
    unknown = sorted(set(payload) - {"image", "images", "filename"})
    if unknown:  # a typo ("imgae") is named rather than silently ignored
        raise HTTPError(
            400,
            "invalid_json",
            f'unknown field(s) {", ".join(map(repr, unknown))}; the fields are "image" or "images", and "filename"',
        )
    if not isinstance(payload.get("filename", ""), str):
        raise HTTPError(400, "invalid_json", '"filename" must be a string')
    name = sanitise_filename(payload.get("filename"))
    if "image" in payload:
        return [Upload(name, "application/octet-stream", decode_base64(payload["image"], '"image"'))]
    images = payload["images"]
    if not isinstance(images, list) or not images:
        raise HTTPError(400, "missing_image", '"images" must be a non-empty list of base64 strings')
    if len(images) > max_files:
        raise HTTPError(413, "too_many_files", f"{len(images)} images in one request; the limit is {max_files}")
    return [Upload(name, "application/octet-stream", decode_base64(v, f'"images"[{i}]')) for i, v in enumerate(images)]


def _is_raw(mimetype: str) -> bool:
    """One of RAW_TYPES (``image/*``: any image type), or no type at all."""
    return mimetype == "" or any(mimetype == t or (t.endswith("/*") and mimetype.startswith(t[:-1])) for t in RAW_TYPES)


def extract_uploads(request: Request, max_bytes: int, max_files: int, filename: str | None = None) -> list[Upload]:
    """The pictures of a request; ``filename`` names a raw body's (multipart parts and JSON carry their own).

    Parsed once per request: the costly lane's judge reads them before the handler does, and parsing a large
    multipart body again cost as much as the first time. A refusal is not kept: it is raised again."""
    key = (extract_uploads, max_bytes, max_files, filename)
    found = request.derived.get(key)
    if found is None:
        found = request.derived[key] = tuple(_extract(request, max_bytes, max_files, filename))
    return list(found)


def _extract(request: Request, max_bytes: int, max_files: int, filename: str | None) -> list[Upload]:
    if len(request.body) > max_bytes:
        raise payload_too_large(max_bytes)
    try:
        raw_type, raw_options = parse_options_header(request.header("content-type"))
    except UnicodeEncodeError:  # HTTP headers are ISO-8859-1; a function-URL event can carry anything
        raise HTTPError(
            415, "unsupported_content_type", "the Content-Type header has characters outside ISO-8859-1"
        ) from None
    mimetype = raw_type.decode("latin-1").lower()
    if not request.body:
        raise HTTPError(400, "empty_body", f"the request has no body; send curl -F {FIELD}=@digit.png")
    if mimetype == MULTIPART:
        return _multipart(request, raw_options.get(b"boundary", b""), max_files)
    if mimetype in JSON_TYPES:
        return _json(request, max_files)
    if _is_raw(mimetype):
        return [Upload(sanitise_filename(filename), mimetype or "application/octet-stream", request.body)]
    raise HTTPError(
        415,
        "unsupported_content_type",
        f"Content-Type {mimetype!r} is not accepted; use multipart/form-data (field '{FIELD}'), image/*, or application/json",
    )

"""What ``service.http.uploads.extract_uploads`` reads from a predict request, and how it refuses the rest.

Every refusal is checked by status, code and the exact message a client sees; every accepted request by the
exact uploads it yields. Multipart bodies go both ways through the decoder: one plain part through the
shortcut (``_one_part``), anything else through python-multipart, whose own error messages are the reference."""

from __future__ import annotations

import base64
import binascii
import json

import pytest
from python_multipart.exceptions import MultipartParseError
from python_multipart.multipart import MultipartParser

from service.errors import HTTPError
from service.http import uploads
from service.http.messages import Request
from service.http.uploads import MAX_FILENAME, MAX_PART_HEADER, Upload, _one_part, extract_uploads, sanitise_filename

B = b"b0undary"
OCTET = "application/octet-stream"
PNG = b"\x89PNG\r\n\x1a\n"


def _request(body: bytes, content_type: str | None = None) -> Request:
    return Request("POST", "/", {} if content_type is None else {"content-type": content_type}, {}, body)


def _refusal(request: Request, max_bytes: int = 10**6, max_files: int = 4) -> tuple[int, str, str]:
    with pytest.raises(HTTPError) as refused:
        extract_uploads(request, max_bytes, max_files)
    return refused.value.status, refused.value.code, refused.value.message


def _part(headers: list[bytes], data: bytes) -> bytes:
    return b"--" + B + b"\r\n" + b"".join(h + b"\r\n" for h in headers) + b"\r\n" + data + b"\r\n"


def _disposition(name: bytes = b"file", filename: bytes | None = b"d.png") -> bytes:
    file = b"" if filename is None else b'; filename="' + filename + b'"'
    return b'Content-Disposition: form-data; name="' + name + b'"' + file


def _file(data: bytes, filename: bytes | None = b"d.png", name: bytes = b"file", content_type: bytes = b"") -> bytes:
    return _part([_disposition(name, filename)] + ([b"Content-Type: " + content_type] if content_type else []), data)


def _body(*parts: bytes, tail: bytes = b"\r\n") -> bytes:
    return b"".join(parts) + b"--" + B + b"--" + tail


def _multipart(*parts: bytes, tail: bytes = b"\r\n", quoted: bool = False) -> Request:
    boundary = f'"{B.decode()}"' if quoted else B.decode()
    return _request(_body(*parts, tail=tail), f"multipart/form-data; boundary={boundary}")


def _read(part) -> tuple | None:
    return None if part is None else (part.name, part.filename, part.content_type, b"".join(part.chunks))


# ---- filenames ----------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "raw, name",
    [
        (None, "upload"),
        ("", "upload"),
        (b"digit.png", "digit.png"),
        (b"a\xffb.png", "a\ufffdb.png"),  # bytes that are not UTF-8 are replaced, not refused
        ("e\u0301te\u0301.png", "\u00e9t\u00e9.png"),  # composed (NFC)
        ("a/b/c.png", "c.png"),
        ("C:\\Users\\me\\d.png", "d.png"),
        ("a\\b/c.png", "c.png"),
        ("../../etc/passwd", "passwd"),
        ("photos/", "upload"),
        ("a\x00b\tc\u200bd\x7f.png", "abcd.png"),  # control and format characters
        ("  .hidden.png  ", "hidden.png"),
        ("...", "upload"),
        ("..a..", "a.."),
        ("Xray.png", "Xray.png"),
        ("\u0663.png", "\u0663.png"),
    ],
)
def test_a_filename_keeps_only_a_safe_display_name(raw, name):
    assert sanitise_filename(raw) == name


@pytest.mark.parametrize(
    "raw, name",
    [
        ("a" * 300 + ".png", "a" * (MAX_FILENAME - 4) + ".png"),
        ("a.b" + "c" * 300 + ".png", ("a.b" + "c" * 300)[: MAX_FILENAME - 4] + ".png"),  # the last dot counts
        ("a" * 300 + "." + "e" * 10, "a" * (MAX_FILENAME - 11) + "." + "e" * 10),  # the longest kept extension
        ("a" * 300 + "." + "e" * 11, "a" * MAX_FILENAME),  # longer: not an extension, a plain cut
        ("a" * 300, "a" * MAX_FILENAME),
        ("a" * (MAX_FILENAME + 1), "a" * MAX_FILENAME),
        ("a" * (MAX_FILENAME - 4) + ".png", "a" * (MAX_FILENAME - 4) + ".png"),  # at the limit: unchanged
    ],
)
def test_a_long_filename_is_cut_to_the_limit_keeping_a_short_extension(raw, name):
    assert sanitise_filename(raw) == name and len(name) <= MAX_FILENAME


# ---- the one-part shortcut -------------------------------------------------------------------------------------

PAD = b"X-Pad: "  # a header python-multipart and the shortcut both ignore, padded to a chosen line length


@pytest.mark.parametrize(
    "headers, data, tail, read",
    [
        (
            [_disposition(), b"Content-Type: image/png"],
            PNG + bytes(range(256)),
            b"\r\n",
            ("file", b"d.png", "image/png"),
        ),
        ([_disposition()], b"x", b"", ("file", b"d.png", "")),  # nothing after the closing boundary
        (
            [b'content-disposition: form-data; name="file"; filename="a.png"', b"CONTENT-TYPE: image/jpeg"],
            b"x",
            b"",
            ("file", b"a.png", "image/jpeg"),
        ),
        ([_disposition(filename=b"a:b.png"), b"X-Time: 12:30"], b"x", b"\r\n", ("file", b"a:b.png", "")),
        (
            [_disposition(), b"Content-Type: image/png", b"A: 1", b"X-Time: 12:30"],
            b"x",
            b"\r\n",
            ("file", b"d.png", "image/png"),
        ),
        ([_disposition()], b"x\r\n\r\ny\r\n--" + B[:-1], b"\r\n", ("file", b"d.png", "")),  # blank line, near-boundary
        ([_disposition()], b"", b"\r\n", ("file", b"d.png", "")),
        ([_disposition(), b"Content-Type: X-Ray/Image"], b"x", b"\r\n", ("file", b"d.png", "x-ray/image")),
        ([b'Content-Disposition: form-data; filename="a.png"'], b"x", b"\r\n", ("", b"a.png", "")),
        ([_disposition(), PAD + b"p" * (MAX_PART_HEADER - 1 - len(PAD))], b"x", b"\r\n", ("file", b"d.png", "")),
        ([_disposition(), b"--" + B + b": x"], b"x", b"\r\n", ("file", b"d.png", "")),  # the boundary, in the headers
    ],
)
def test_one_plain_part_is_cut_out_directly_as_python_multipart_reads_it(headers, data, tail, read):
    body = _body(_part(headers, data), tail=tail)
    assert _read(_one_part(body, B)) == (*read, data)
    assert [_read(p) for p in uploads._parsed_parts(body, B, 32)] == [(*read, data)]


@pytest.mark.parametrize(
    "body",
    [
        b"--" + B + b"\r\n\r\nx\r\n--" + B + b"--\r\n",  # a part with no headers at all
        b"--" + B[:-1] + b"Z\r\n" + _disposition() + b"\r\n\r\nx\r\n--" + B + b"--\r\n",  # opened by another boundary
        b"preamble\r\n" + _body(_file(b"x")),
        _body(_part([_disposition(), b"NoColon"], b"x")),
        _body(_part([_disposition(), b"X Bad: 1"], b"x")),
        _body(_part([_disposition(), b"X-A: a\rb"], b"x")),
        _body(_part([_disposition(), b"X-A: a\nb"], b"x")),
        _body(_part([_disposition(), PAD + b"p" * (MAX_PART_HEADER - len(PAD))], b"x")),  # a line at the limit
        _body(_part([_disposition(), b"A: 1", b"B: 2", b"C: 3", b"D: 4"], b"x")),  # more than four headers
        _body(_file(b"x\r\n--" + B + b"y")),  # the whole delimiter inside the data
        _body(_file(b"x"), tail=b"\r\nepilogue"),
        _body(_file(b"x"), tail=b"-\r\n"),
        _body(_file(b"x"))[: -len(b"--\r\n")],  # a delimiter where the closing one belongs
        _file(b"x"),  # no closing boundary
        _body(_file(b"A"), _file(b"B")),
    ],
)
def test_the_shortcut_steps_aside_for_anything_but_one_plain_part(body):
    assert _one_part(body, B) is None


def test_a_single_plain_part_never_reaches_python_multipart(monkeypatch):
    def refuse(*args, **kwargs):
        raise AssertionError("python-multipart was asked to parse a body the shortcut reads")

    monkeypatch.setattr(uploads, "MultipartParser", refuse)
    assert extract_uploads(_multipart(_file(b"x")), 10**6, 4) == [Upload("d.png", OCTET, b"x")]
    with pytest.raises(AssertionError):
        extract_uploads(_multipart(_file(b"x"), _file(b"y")), 10**6, 4)


# ---- multipart ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize("quoted", [False, True])
def test_multipart_yields_each_file_of_the_field_in_order_with_its_name_and_type(quoted):
    near = PNG + b"\r\n--" + B[:-1] + b"\r\n-\r\n"  # data python-multipart hands over in several pieces
    request = _multipart(
        _file(b"a note", filename=None, name=b"note"),
        _file(b"a text field named file", filename=None),
        _file(b"x", filename=b"other.png", name=b"picture"),
        _file(near, filename=b"dir/\xc3\xa9.png", content_type=b"image/png"),
        _file(b"B" * 5000, filename=b"2.jpg"),
        _part(
            [b"X-Extra: text/html", b'CONTENT-DISPOSITION: form-data; name="file"; filename="c.gif"']
            + [b"content-type: image/gif", b"X-Other: text/plain"],
            b"GIF",
        ),
        quoted=quoted,
    )
    assert extract_uploads(request, 10**6, 4) == [
        Upload("\u00e9.png", "image/png", near),
        Upload("2.jpg", OCTET, b"B" * 5000),
        Upload("c.gif", "image/gif", b"GIF"),
    ]


@pytest.mark.parametrize("second", [[], [_file(b"y")]])
def test_a_part_type_that_is_not_ascii_does_not_stop_the_upload(second):
    request = _multipart(_file(b"x", content_type="image/p\u00f1g".encode()), *second)
    assert [u.data for u in extract_uploads(request, 10**6, 4)] == [b"x", b"y"][: 1 + len(second)]


def test_a_header_line_under_the_limit_is_read_whatever_python_multipart_allows_by_default():
    long = b"n" * (MAX_PART_HEADER // 2) + b".png"
    uploaded = extract_uploads(_multipart(_file(b"x", filename=long), _file(b"y")), 10**6, 4)
    assert [u.filename for u in uploaded] == [sanitise_filename(long), "d.png"]


@pytest.mark.parametrize("parts", [[_file(b"x")], [_file(b"x"), _file(b"x")]])
def test_an_epilogue_after_the_closing_boundary_is_ignored(parts):
    uploaded = extract_uploads(_multipart(*parts, tail=b"\r\nepilogue\r\n--" + B + b"--\r\n"), 10**6, 4)
    assert uploaded == [Upload("d.png", OCTET, b"x")] * len(parts)


def test_a_request_may_carry_sixteen_parts_beyond_its_files_and_no_more():
    fields = [_file(b"v", filename=None, name=b"note")] * 16
    assert extract_uploads(_multipart(_file(b"x"), *fields), 10**6, 1) == [Upload("d.png", OCTET, b"x")]
    assert _refusal(_multipart(_file(b"x"), *fields, _file(b"v", filename=None, name=b"n")), max_files=1) == (
        413,
        "too_many_parts",
        "the multipart request has too many parts (limit 1 files)",
    )


def test_a_request_may_carry_up_to_max_files_files():
    two = [_file(b"1", filename=b"1.png"), _file(b"2", filename=b"2.png")]
    assert [u.data for u in extract_uploads(_multipart(*two), 10**6, 2)] == [b"1", b"2"]
    assert _refusal(_multipart(*two, _file(b"3")), max_files=2) == (
        413,
        "too_many_files",
        "3 files in one request; the limit is 2",
    )


def _library_error(body: bytes) -> str:
    """What python-multipart itself says of a body it cannot parse."""
    with pytest.raises(MultipartParseError) as refused:
        MultipartParser(B, {}).write(body)
    return str(refused.value)


CANNOT = "the multipart body cannot be parsed: "
NOT_UTF8 = CANNOT + "a part's headers are not utf-8 (RFC 7578); send the filename in UTF-8"
HOW = "; send curl -F file=@digit.png"
FIELDS = [_file(b"v", filename=None, name=name) for name in [b"f", b"e", b"a", b"d", b"c", b"b", b"a", b"g"]]
MULTIPART = f"multipart/form-data; boundary={B.decode()}"


BAD = "invalid_multipart"
LF_ONLY = _body(_file(b"x"), _file(b"y")).replace(b"\r\n", b"\n")  # bare LF line ends, as some scripts send
PREAMBLE = b"preamble\r\n" + _body(_file(b"x"))  # RFC 2046 allows one; python-multipart does not


@pytest.mark.parametrize(
    "request_, code, message",
    [
        (_request(_body(_file(b"x")), "multipart/form-data"), BAD, CANNOT + "no boundary in Content-Type"),
        (_request(_body(_file(b"x")), 'multipart/form-data; boundary=""'), BAD, CANNOT + "no boundary in Content-Type"),
        (_request(b"garbage", MULTIPART), BAD, CANNOT + _library_error(b"garbage")),
        (_request(b"--" + B[:-1] + b"Z\r\n", MULTIPART), BAD, CANNOT + _library_error(b"--" + B[:-1] + b"Z\r\n")),
        (_request(LF_ONLY, MULTIPART), BAD, CANNOT + _library_error(LF_ONLY)),
        (_request(PREAMBLE, MULTIPART), BAD, CANNOT + _library_error(PREAMBLE)),
        (
            _request(_file(b"x") + _file(b"y"), MULTIPART),
            BAD,
            CANNOT + "the body ends inside a part (no closing boundary)",
        ),
        (_multipart(_file(b"x", filename=b"\xff.png")), BAD, NOT_UTF8),
        (_multipart(_file(b"x"), _file(b"y", filename=b"\xff.png")), BAD, NOT_UTF8),
        (_multipart(_part([_disposition(), b"X-A: \xe9"], b"x"), _file(b"y")), BAD, NOT_UTF8),
        (_multipart(*FIELDS), "missing_file", "no multipart field named 'file' (found: a, b, c, d, e)" + HOW),
        (
            _multipart(_file(b"x", name=b"picture")),
            "missing_file",
            "no multipart field named 'file' (found: picture)" + HOW,
        ),
        (
            _request(b"--" + B + b"--\r\n", MULTIPART),
            "missing_file",
            "no multipart field named 'file'" + HOW,
        ),  # no parts
        (_multipart(_file(b"", filename=b"dir/e.png")), "empty_file", "the file 'e.png' is empty (0 bytes)"),
        (_multipart(_file(b"x"), _file(b"", filename=b"")), "empty_file", "the file 'upload' is empty (0 bytes)"),
    ],
)
def test_multipart_refusals_say_what_is_wrong(request_, code, message):
    assert _refusal(request_) == (400, code, message)


# ---- JSON ------------------------------------------------------------------------------------------------------


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


def _b64_error(text: str) -> str:
    """What the standard library says of a string that is not strict base64."""
    with pytest.raises(binascii.Error) as refused:
        base64.b64decode(text, validate=True)
    return str(refused.value)


def _json(payload: object, content_type: str = "application/json") -> Request:
    return _request(json.dumps(payload).encode(), content_type)


@pytest.mark.parametrize("content_type", ["application/json", "text/json", "Application/JSON; charset=utf-8"])
@pytest.mark.parametrize(
    "payload, read",
    [
        ({"image": _b64(PNG)}, [("upload", PNG)]),
        ({"image": "QUI=", "filename": "dir/x.png"}, [("x.png", b"AB")]),  # padded
        ({"image": "data:image/png;base64," + _b64(PNG)}, [("upload", PNG)]),  # a data URL from a canvas
        ({"images": [_b64(b"1"), _b64(b"22")], "filename": "a.png"}, [("a.png", b"1"), ("a.png", b"22")]),
    ],
)
def test_json_carries_one_image_or_a_list_as_base64(payload, read, content_type):
    uploaded = extract_uploads(_json(payload, content_type), 10**6, 2)
    assert uploaded == [Upload(name, OCTET, data) for name, data in read]


def test_a_body_that_is_not_json_is_refused_with_the_shape_to_send():
    status, code, message = _refusal(_request(b"{not json", "application/json"))
    assert (status, code) == (400, "invalid_json") and message.endswith('; send {"image": "<base64>"}')


SHAPE = 'send {"image": "<base64>"} or {"images": ["<base64>", ...]}'
OK = _b64(b"ok")


@pytest.mark.parametrize(
    "payload, status, code, message",
    [
        ([OK], 400, "missing_image", SHAPE),
        ({}, 400, "missing_image", SHAPE),
        ({"filename": "a.png"}, 400, "missing_image", SHAPE),
        ({"image": OK, "images": [OK]}, 400, "invalid_json", 'send either "image" or "images", not both'),
        (
            {"imgae": OK, "image": OK, "zz": 1},
            400,
            "invalid_json",
            'unknown field(s) \'imgae\', \'zz\'; the fields are "image" or "images", and "filename"',
        ),
        ({"image": OK, "filename": 5}, 400, "invalid_json", '"filename" must be a string'),
        ({"image": OK, "filename": None}, 400, "invalid_json", '"filename" must be a string'),
        ({"image": 5}, 400, "invalid_base64", '"image" must be a non-empty base64 string'),
        ({"image": ""}, 400, "invalid_base64", '"image" must be a non-empty base64 string'),
        ({"images": "QUJD"}, 400, "missing_image", '"images" must be a non-empty list of base64 strings'),
        ({"images": []}, 400, "missing_image", '"images" must be a non-empty list of base64 strings'),
        ({"images": [OK, OK, OK]}, 413, "too_many_files", "3 images in one request; the limit is 2"),
        ({"images": [OK, 7]}, 400, "invalid_base64", '"images"[1] must be a non-empty base64 string'),
    ],
)
def test_json_refusals_say_what_is_wrong(payload, status, code, message):
    assert _refusal(_json(payload), max_files=2) == (status, code, message)


@pytest.mark.parametrize(
    "text, decoded",
    [
        ("QUJD!", "QUJD!"),
        ("QUI", "QUI"),  # padding missing
        ("QU JD", "QU JD"),  # whitespace is not skipped
        ("QUJD,QUJD", "QUJD,QUJD"),  # a comma outside a data URL
        ("data:QUJD", "data:QUJD"),  # "data:" without a comma is not a data URL
        ("data:image/png;base64,QUJD,QUJD", "QUJD,QUJD"),  # only the first comma ends the header
    ],
)
def test_base64_that_is_not_strict_is_refused_naming_where_it_is(text, decoded):
    why = f"is not valid base64: {_b64_error(decoded)}"
    assert _refusal(_json({"image": text})) == (400, "invalid_base64", f'"image" {why}')
    assert _refusal(_json({"images": [OK, text]})) == (400, "invalid_base64", f'"images"[1] {why}')


# ---- raw bodies and what comes before the type -------------------------------------------------------------


@pytest.mark.parametrize(
    "content_type, read",
    [
        (None, OCTET),  # no Content-Type at all
        ("", OCTET),
        ("application/octet-stream", OCTET),
        ("image/png", "image/png"),
        ("Image/PNG; q=1", "image/png"),
        ("image/x-\u00e9", "image/x-\u00e9"),  # ISO-8859-1, as HTTP headers are
    ],
)
def test_a_raw_body_is_the_picture_named_by_the_filename_argument(content_type, read):
    request = _request(PNG, content_type)
    assert extract_uploads(request, 10**6, 4, "dir\\d.png") == [Upload("d.png", read, PNG)]
    assert extract_uploads(request, 10**6, 4) == [Upload("upload", read, PNG)]


@pytest.mark.parametrize(
    "content_type", ["Text/Plain", "application/pdf", "image", "imagex/png", "application/octet-streams"]
)
def test_other_content_types_are_refused_naming_what_to_send(content_type):
    assert _refusal(_request(PNG, content_type)) == (
        415,
        "unsupported_content_type",
        f"Content-Type {content_type.lower()!r} is not accepted; use multipart/form-data (field 'file'), "
        "image/*, or application/json",
    )


def test_a_content_type_outside_iso_8859_1_is_refused():
    assert _refusal(_request(PNG, "image/png; note=\u20ac")) == (
        415,
        "unsupported_content_type",
        "the Content-Type header has characters outside ISO-8859-1",
    )


@pytest.mark.parametrize("content_type", [None, "image/png", "text/plain", MULTIPART])
def test_an_empty_body_is_refused_whatever_its_type(content_type):
    assert _refusal(_request(b"", content_type)) == (400, "empty_body", "the request has no body" + HOW)


def test_a_body_may_be_exactly_max_bytes_long():
    assert extract_uploads(_request(PNG, "image/png"), len(PNG), 4)[0].data == PNG
    expected = uploads.payload_too_large(len(PNG) - 1)
    refused = _refusal(_request(PNG, "text/plain"), max_bytes=len(PNG) - 1)  # the size is checked first
    assert refused == (413, expected.code, expected.message) == (413, "payload_too_large", expected.message)


def test_a_file_field_sent_as_text_is_named_as_text_not_as_missing():
    """curl -F file=<digit.png (a < where an @ was meant) sends the bytes as a text field named file."""
    assert _refusal(_multipart(_file(PNG, filename=None))) == (
        400,
        "missing_file",
        "the multipart field 'file' holds text, not a file (it has no filename); send curl -F file=@digit.png",
    )


def test_a_request_is_parsed_once_for_the_same_limits_and_name(monkeypatch):
    """The costly lane's judge and the handler read the same request's uploads: the second read is the first's."""
    parsed = []
    real = uploads._parsed_parts
    monkeypatch.setattr(uploads, "_parsed_parts", lambda *args: parsed.append(1) or real(*args))
    body = _part([b'Content-Disposition: form-data; name="file"; filename="a.png"'], PNG) * 2 + b"--" + B + b"--\r\n"
    request = _request(body, f"multipart/form-data; boundary={B.decode()}")
    first = extract_uploads(request, 10**6, 4)
    assert extract_uploads(request, 10**6, 4) == first and len(first) == 2 and parsed == [1]
    with pytest.raises(HTTPError):  # other limits: read again, and refused by their own measure
        extract_uploads(request, 10**6, 1)
    assert parsed == [1, 1]
    again = _request(body, f"multipart/form-data; boundary={B.decode()}")
    assert extract_uploads(again, 10**6, 4) == first and parsed == [1, 1, 1]  # another request: its own parse

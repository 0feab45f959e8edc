"""The one-part shortcut of the multipart decoder reads exactly what python-multipart reads, or steps aside.

``service.http.uploads._one_part`` cuts a single well-formed part out of a body with three searches; anything it
is not sure of goes to python-multipart's parser. Generated bodies (curl's and browsers' shapes, odd
filenames, extra headers, data holding CRLFs and near-boundaries, and broken variants) are read both ways:
where the shortcut answers, python-multipart must read the same single part."""

from __future__ import annotations

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from service.http.uploads import MAX_PART_HEADER, _one_part, _parsed_parts

BOUNDARY = b"----WebKitFormBoundary7MA4YWxkTrZu0gW"


def _library(body: bytes, boundary: bytes = BOUNDARY):
    try:
        return [(p.name, p.filename, p.content_type, b"".join(p.chunks)) for p in _parsed_parts(body, boundary, 32)]
    except ValueError as exc:
        return type(exc)


def _shortcut(body: bytes, boundary: bytes = BOUNDARY):
    try:
        part = _one_part(body, boundary)
    except ValueError as exc:
        return type(exc)
    return None if part is None else [(part.name, part.filename, part.content_type, b"".join(part.chunks))]


def _body(headers: list[bytes], data: bytes, tail: bytes = b"\r\n", boundary: bytes = BOUNDARY) -> bytes:
    return b"--" + boundary + b"\r\n" + b"\r\n".join(headers) + b"\r\n\r\n" + data + b"\r\n--" + boundary + b"--" + tail


CURL = [b'Content-Disposition: form-data; name="file"; filename="digit.png"', b"Content-Type: image/png"]

filenames = st.text(max_size=40).map(lambda s: s.replace('"', "").encode("utf-8"))
datas = st.one_of(
    st.binary(max_size=300),
    st.lists(st.sampled_from([b"\r\n", b"--", b"\r\n--", b"\r\n--" + BOUNDARY[:-3], b"\x89PNG", b"x" * 17])).map(
        b"".join
    ),
)
extra = st.lists(
    st.tuples(
        st.sampled_from([b"X-Extra", b"Content-Length", b"content-id", b"Bad Name", b"Tab\tName", b"", b"N"]),
        st.sampled_from([b"", b" ", b"  a", b"v ", b"\tv", b"a\rb", b"a\nb", "é".encode(), b"\xff"]),
    ),
    max_size=5,
)
tails = st.sampled_from([b"", b"\r\n", b"\r\n\r\n", b"--", b" ", b"epilogue"])


@settings(max_examples=600, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(filenames, datas, extra, tails, st.booleans())
def test_the_shortcut_reads_what_python_multipart_reads_or_steps_aside(filename, data, headers, tail, typed):
    lines = [b'Content-Disposition: form-data; name="file"; filename="' + filename + b'"']
    if typed:
        lines.append(b"Content-Type: image/png")
    lines += [name + b":" + value for name, value in headers]
    body = _body(lines, data, tail)
    shortcut = _shortcut(body)
    if shortcut is not None:
        assert shortcut == _library(body)


def test_the_shapes_clients_send_take_the_shortcut_and_agree():
    shapes = [
        _body(CURL, b"\x89PNG\r\n\x1a\n" + bytes(range(256)) * 4),  # curl -F file=@digit.png
        _body(CURL, b"data", tail=b""),  # no CRLF after the closing boundary
        _body([b'Content-Disposition: form-data; name="file"; filename="\xc3\xa9t\xc3\xa9.jpg"'], b"\xff\xd8"),
        _body([b'content-disposition: form-data; name="file"; filename="a.png"', b"content-type: image/png"], b"x"),
        _body(CURL, b"x" * 10 + b"\r\n--" + BOUNDARY[:5] + b"y"),  # data holding a near-boundary
    ]
    for body in shapes:
        shortcut = _shortcut(body)
        assert shortcut is not None and shortcut == _library(body), body[:120]


def test_what_the_shortcut_is_not_sure_of_goes_to_python_multipart():
    two_parts = (
        (b"--" + BOUNDARY + b"\r\n" + CURL[0] + b"\r\n\r\nA\r\n--" + BOUNDARY + b"\r\n" + CURL[0] + b"\r\n\r\nB\r\n--")
        + BOUNDARY
        + b"--\r\n"
    )
    refused = [
        two_parts,
        b"preamble\r\n" + _body(CURL, b"x"),  # a preamble before the first boundary
        _body(CURL, b"x")[:-6],  # no closing boundary
        _body(CURL, b"x", tail=b"\r\nepilogue"),
        _body([b"Content-Disposition : form-data"], b"x"),  # a space before the colon
        _body([b"X-Long: " + b"a" * MAX_PART_HEADER], b"x"),  # a header line over the limit
        _body(CURL + [b"A: 1", b"B: 2", b"C: 3"], b"x"),  # more headers than the shortcut takes
    ]
    for body in refused:
        assert _shortcut(body) is None, body[:80]
    assert len(_library(two_parts)) == 2
    assert _library(_body([b"X-Long: " + b"a" * MAX_PART_HEADER], b"x")) is ValueError  # refused, as before

"""ml.decode on real encoded bytes: each accepted format and pixel mode, every refusal and its message (empty,
unsupported, corrupt, too many pixels, a decompression bomb, too many JPEG scans, a request's budget of pixels and
time), the JPEG draft scale, the early shrink of large images, EXIF orientation, alpha, the detailed read of large
pictures, and from_pixels / declared_pixels. Pictures are made in memory, from fixed seeds."""

from __future__ import annotations

import io
import math
import struct
import zlib

import numpy as np
import pytest
from PIL import Image, PngImagePlugin, UnidentifiedImageError

from ml.decode import (
    FORMATS,
    DecodeBudget,
    _bands,
    _draft_request,
    _early_shrink,
    declared_pixels,
    decode,
    from_pixels,
)
from ml.errors import (
    ImageTooCostly,
    ImageTooLarge,
    InvalidImage,
    NonFinitePixels,
    RequestTooCostly,
    UnsupportedImage,
)
from tests.fixtures.images import encode

BOX = Image.Resampling.BOX
UNSUPPORTED = "the file is not an image in a supported format (PNG, JPEG, GIF, BMP, WebP, TIFF)"
NON_FINITE = "the image holds NaN or infinite pixel values; send an image whose pixels are finite numbers"
XMP = (
    '<x:xmpmeta xmlns:x="adobe:ns:meta/"><rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#">'
    '<rdf:Description xmlns:tiff="http://ns.adobe.com/tiff/1.0/" tiff:Orientation="6"/></rdf:RDF></x:xmpmeta>'
)


def noise(height: int, width: int, channels: int | None = None, seed: int = 0) -> np.ndarray:
    shape = (height, width) if channels is None else (height, width, channels)
    return np.random.default_rng(seed).integers(0, 256, shape, dtype=np.uint8)


def grey(height: int, width: int, seed: int = 0) -> Image.Image:
    return Image.fromarray(noise(height, width, seed=seed))


def colour(height: int, width: int, mode: str = "RGB", seed: int = 0) -> Image.Image:
    return Image.fromarray(noise(height, width, len(mode), seed=seed), mode)


def units(image: Image.Image) -> np.ndarray:
    """An 8-bit band as decode reports it: float32 in [0, 1]."""
    return np.asarray(image, dtype=np.float32) / 255.0


def boxed(image: Image.Image, size: tuple[int, int]) -> Image.Image:
    return image.resize(size, BOX, reducing_gap=3.0)


def png_header(width: int, height: int) -> bytes:
    """A PNG that declares width x height greyscale pixels and holds none: its size can be read, never decoded."""

    def chunk(kind: bytes, body: bytes) -> bytes:
        return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))

    header = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IEND", b"")


def with_tiff_tag(data: bytes, tag: int, value: int, at: int = 8, layout: str = "<I") -> bytes:
    """A little-endian TIFF with the first IFD entry of ``tag`` rewritten at byte ``at`` of the entry."""
    patched = bytearray(data)
    first = struct.unpack_from("<I", patched, 4)[0]
    for index in range(struct.unpack_from("<H", patched, first)[0]):
        entry = first + 2 + 12 * index
        if struct.unpack_from("<H", patched, entry)[0] == tag:
            struct.pack_into(layout, patched, entry + at, value)
            return bytes(patched)
    raise KeyError(tag)


def refusal(error: type[Exception], data: bytes, **options) -> str:
    """The message of the refusal of ``data``, which must be exactly of class ``error``."""
    with pytest.raises(error) as caught:
        decode(data, **options)
    assert type(caught.value) is error
    return str(caught.value)


# -- formats and pixel modes


@pytest.mark.parametrize(
    "fmt, options",
    [("PNG", {}), ("GIF", {}), ("BMP", {}), ("WEBP", {"lossless": True}), ("TIFF", {})],
)
def test_each_lossless_format_decodes_to_its_grey_values_at_their_own_size(fmt, options):
    picture = grey(9, 14)
    decoded = decode(encode(picture, fmt, **options))
    assert decoded.format == fmt and decoded.original_size == (14, 9)
    assert decoded.luma.dtype == np.float32
    np.testing.assert_array_equal(decoded.luma, units(picture))
    assert decoded.alpha is None and decoded.finer is None


def test_a_small_grey_jpeg_decodes_to_the_luma_it_stores():
    data = encode(grey(9, 14), "JPEG")
    decoded = decode(data)
    assert decoded.format == "JPEG" and decoded.original_size == (14, 9) and decoded.alpha is None
    np.testing.assert_array_equal(decoded.luma, units(Image.open(io.BytesIO(data))))


def test_a_colour_jpeg_at_full_scale_is_read_as_the_luma_the_decoder_stores():
    """Not the decoded colours converted to grey, which differ by a few levels on noisy colour."""
    data = encode(colour(64, 64), "JPEG")
    stored = Image.open(io.BytesIO(data))
    stored.draft("L", stored.size)
    assert stored.mode == "L"
    np.testing.assert_array_equal(decode(data, work_size=64).luma, units(stored))


def test_a_cmyk_jpeg_decodes_through_its_colours():
    data = encode(colour(12, 10, "CMYK"), "JPEG")
    expected = units(Image.open(io.BytesIO(data)).convert("RGB").convert("L"))
    np.testing.assert_array_equal(decode(data).luma, expected)


@pytest.mark.parametrize(
    "picture",
    [
        colour(7, 11),
        colour(7, 11, "CMYK"),
        Image.fromarray(noise(7, 11) > 127),
        colour(7, 11).convert("P"),
        colour(7, 11, "RGBA").convert("RGB").convert("RGBA"),
    ],
    ids=["RGB", "CMYK", "1", "P", "opaque RGBA"],
)
def test_an_opaque_picture_of_any_mode_decodes_to_its_luma_alone(picture):
    decoded = decode(encode(picture, "TIFF" if picture.mode == "CMYK" else "PNG"))
    assert decoded.alpha is None and decoded.luma.dtype == np.float32
    np.testing.assert_array_equal(decoded.luma, units(picture.convert("RGB").convert("L")))


def paletted_with_a_hole(height: int = 7, width: int = 11) -> Image.Image:
    picture = colour(height, width, seed=1).convert("P")
    picture.info["transparency"] = int(np.asarray(picture)[0, 0])
    return picture


@pytest.mark.parametrize(
    "picture, fmt, options",
    [
        (colour(7, 11, "RGBA"), "PNG", {}),
        (colour(7, 11, "LA"), "PNG", {}),
        (colour(7, 11, "RGBA"), "WEBP", {"lossless": True, "exact": True}),
        (colour(7, 11, "RGBA"), "TIFF", {}),
        (paletted_with_a_hole(), "PNG", {}),
        (paletted_with_a_hole(), "GIF", {}),
    ],
    ids=["RGBA PNG", "LA PNG", "RGBA WebP", "RGBA TIFF", "P PNG", "P GIF"],
)
def test_a_partly_transparent_picture_keeps_its_alpha(picture, fmt, options):
    decoded = decode(encode(picture, fmt, **options))
    rgba = picture.convert("RGBA")
    np.testing.assert_array_equal(decoded.luma, units(rgba.convert("L")))
    assert decoded.alpha is not None and decoded.alpha.dtype == np.float32
    np.testing.assert_array_equal(decoded.alpha, units(rgba.getchannel("A")))
    assert decoded.alpha.min() < 1


@pytest.mark.parametrize("lowest, kept", [(249, True), (250, False)])
def test_alpha_is_kept_only_when_some_pixel_is_more_transparent_than_250(lowest, kept):
    alpha = np.full((5, 6), 255, dtype=np.uint8)
    alpha[3, 4] = lowest
    picture = Image.merge("LA", (grey(5, 6), Image.fromarray(alpha)))
    decoded = decode(encode(picture, "PNG"))
    np.testing.assert_array_equal(decoded.luma, units(picture.getchannel("L")))
    if kept:
        np.testing.assert_array_equal(decoded.alpha, units(Image.fromarray(alpha)))
    else:
        assert decoded.alpha is None


def wide(values: list[float], dtype: str) -> Image.Image:
    """One row of pixels in a mode wider than 8 bits (uint16: I;16, int32: I, float32: F)."""
    return Image.fromarray(np.array([values], dtype=dtype))


@pytest.mark.parametrize(
    "picture, fmt, expected",
    [
        (wide([0, 1000, 60000], "uint16"), "PNG", [0, 1000 / 65535, 60000 / 65535]),
        (wide([0, 1, 1], "uint16"), "PNG", [0, 1 / 255, 1 / 255]),
        (wide([1, 128, 255], "uint16"), "PNG", [1 / 255, 128 / 255, 1]),
        (wide([0, 128, 256], "uint16"), "PNG", [0, 128 / 65535, 256 / 65535]),
        (wide([7, 300, 65535], "uint16").convert("I").convert("I;16B"), "TIFF", [7 / 65535, 300 / 65535, 1]),
        (wide([1, 40000, 65536], "int32"), "TIFF", [0, 39999 / 65535, 1]),
        (wide([0, 100, 200], "int32"), "TIFF", [0, 100 / 255, 200 / 255]),
        (wide([-2, 0, 2], "int32"), "TIFF", [0, 0.5, 1]),
        (wide([0, 0.25, 1], "float32"), "TIFF", [0, 0.25, 1]),
        (wide([0.5, 1.5, 2], "float32"), "TIFF", [0.5 / 255, 1.5 / 255, 2 / 255]),
        (wide([-0.5, 0.5, 0], "float32"), "TIFF", [0, 1, 0.5]),
        (wide([-3, -3, -3], "float32"), "TIFF", [0, 0, 0]),
        (wide([-5, -5, -5], "int32"), "TIFF", [0, 0, 0]),
    ],
    ids=[
        "16-bit",
        "16-bit up to 1 is still 16-bit",
        "16-bit up to 255 is by 255",
        "16-bit from 256 is by 65535",
        "16-bit big-endian",
        "past 16 bits by its range",
        "32-bit within 8 bits",
        "negative by its range",
        "float within 0..1 as it is",
        "float past 1 by 255",
        "float of range 1 by its range",
        "flat negative is black",
        "flat negative 32-bit is black",
    ],
)
def test_wide_pixels_are_brought_to_unit_range_by_their_depth_or_their_range(picture, fmt, expected):
    data = encode(picture, fmt)
    assert Image.open(io.BytesIO(data)).mode == picture.mode
    decoded = decode(data)
    assert decoded.luma.dtype == np.float32 and decoded.luma.shape == (1, 3)
    np.testing.assert_allclose(decoded.luma, [expected], rtol=1e-6, atol=0)


@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf])
def test_a_float_image_holding_nan_or_infinity_is_refused_by_name(bad):
    data = encode(wide([0, bad, 0.5], "float32"), "TIFF")
    assert refusal(NonFinitePixels, data) == NON_FINITE


@pytest.mark.parametrize("mode, layout", [("I;16L", "<u2"), ("I;16N", "=u2"), ("I;16B", ">u2")])
def test_sixteen_bit_bands_of_any_byte_order_are_read_as_16_bit(mode, layout):
    """Pillow's files open as I;16 or I;16B; the other orders reach _bands only from other code."""
    band = Image.frombytes(mode, (3, 1), np.array([0, 32768, 65535], dtype=layout).tobytes())
    luma, alpha = _bands(band)
    assert luma.mode == "F" and alpha is None
    np.testing.assert_allclose(np.asarray(luma), [[0, 32768 / 65535, 1]], rtol=1e-6, atol=0)


def test_a_paletted_band_with_alpha_splits_into_its_colours_luma_and_its_alpha():
    picture = Image.new("PA", (2, 1))
    picture.putpalette([0, 0, 0, 255, 255, 255, 200, 100, 50])
    picture.putpixel((0, 0), (1, 128))
    picture.putpixel((1, 0), (2, 255))
    brown = Image.new("RGB", (1, 1), (200, 100, 50)).convert("L").getpixel((0, 0))
    luma, alpha = _bands(picture)
    assert luma.mode == "L" and alpha is not None
    assert np.asarray(luma).tolist() == [[255, brown]]
    assert np.asarray(alpha).tolist() == [[128, 255]]


def test_a_large_paletted_image_with_alpha_is_reduced_by_its_colours_not_its_palette_indices():
    picture = Image.new("PA", (8, 2))
    picture.putpalette([0, 0, 0, 255, 255, 255])
    picture.putdata([(index % 2, 255) for index in range(16)])
    shrunk = _early_shrink(picture, 4)
    assert shrunk.mode == "RGBA" and shrunk.size == (4, 1)
    assert np.asarray(shrunk.convert("L")).tolist() == [[128, 128, 128, 128]]


def test_a_grey_tiff_with_premultiplied_alpha_decodes():
    straight = Image.merge("LA", (Image.new("L", (6, 4), 100), Image.new("L", (6, 4), 128)))
    data = with_tiff_tag(encode(straight, "TIFF"), 338, 1, layout="<H")  # ExtraSamples: associated alpha
    assert Image.open(io.BytesIO(data)).mode == "La"
    decoded = decode(data)
    assert decoded.alpha is not None and decoded.alpha.shape == (4, 6)
    np.testing.assert_allclose(decoded.alpha, 128 / 255, atol=1e-6)
    np.testing.assert_allclose(decoded.luma, 100 / 128, atol=2 / 255)  # the stored grey was premultiplied


def test_colour_with_premultiplied_alpha_is_read_straight():
    """Pillow opens RGBa TIFFs as RGBA; an RGBa picture made by other code reaches _bands as it is."""
    straight = Image.merge("RGBA", [Image.new("L", (3, 2), v) for v in (100, 100, 100, 128)])
    luma, alpha = _bands(straight.convert("RGBa"))
    assert luma.mode == "L" and np.asarray(alpha).tolist() == [[128] * 3] * 2
    assert np.abs(np.asarray(luma, dtype=int) - 100).max() <= 1


# -- from_pixels and declared_pixels


@pytest.mark.parametrize(
    "values, expected",
    [
        (np.array([[0, 1, 255]], dtype=np.uint8), [[0, 1 / 255, 1]]),
        (np.array([[0, 1]], dtype=np.uint8), [[0, 1 / 255]]),
        (np.array([[0, 0.25, 1]]), [[0, 0.25, 1]]),
        (np.array([[0, 51, 255]], dtype=np.int64), [[0, 0.2, 1]]),
        (np.array([[-2, 0, 2]], dtype=np.int64), [[0, 0.5, 1]]),
    ],
    ids=["8-bit", "8-bit up to 1", "floats within 0..1", "integers by 255", "negative by their range"],
)
def test_from_pixels_reads_values_as_decode_reads_a_file_of_them(values, expected):
    decoded = from_pixels(values)
    assert decoded.luma.dtype == np.float32
    np.testing.assert_allclose(decoded.luma, expected, rtol=1e-6, atol=0)


def test_from_pixels_tells_the_size_as_width_by_height_and_has_no_alpha():
    decoded = from_pixels(np.zeros((2, 3), dtype=np.uint8))
    assert decoded.original_size == (3, 2) and decoded.format == "pixels"
    assert decoded.alpha is None and decoded.finer is None and decoded.luma.shape == (2, 3)


@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf])
def test_from_pixels_refuses_nan_or_infinity_by_name(bad):
    with pytest.raises(NonFinitePixels) as caught:
        from_pixels(np.array([[0.0, bad]]))
    assert str(caught.value) == NON_FINITE


def test_declared_pixels_is_the_header_s_width_times_height():
    assert declared_pixels(encode(grey(3, 7), "PNG")) == 21
    assert declared_pixels(png_header(40_000_001, 1)) == 40_000_001
    # past Pillow's decompression-bomb warning the size is still told; past its refusal, nothing is
    warned = Image.MAX_IMAGE_PIXELS // 10_000 + 1
    assert declared_pixels(png_header(warned, 10_000)) == warned * 10_000
    assert declared_pixels(png_header(2 * warned, 10_000)) == 0


def flipped(data: bytes, at: int) -> bytes:
    """``data`` with one bit of byte ``at`` flipped."""
    return data[:at] + bytes([data[at] ^ 1]) + data[at + 1 :]


@pytest.mark.parametrize(
    "data",
    [
        b"",
        b"junk, not an image",
        encode(grey(4, 4), "PPM"),
        encode(grey(4, 4), "PNG")[:30],
        flipped(encode(grey(4, 4), "PNG"), 28),
        encode(grey(4, 4), "PNG").replace(b"IHDR", b"IHDX"),
    ],
    ids=["empty", "junk", "PPM", "PNG cut short in its header", "PNG header's checksum wrong", "PNG without IHDR"],
)
def test_declared_pixels_is_zero_for_what_is_not_an_accepted_image(data):
    with pytest.raises(UnidentifiedImageError):
        Image.open(io.BytesIO(data), formats=FORMATS)  # Pillow cannot open it either
    assert declared_pixels(data) == 0


# -- refusals


def test_no_bytes_at_all_are_refused_as_an_empty_file():
    assert refusal(InvalidImage, b"") == "the file is empty (0 bytes)"


@pytest.mark.parametrize(
    "data",
    [
        b"junk, not an image",
        encode(grey(4, 4), "PPM"),
        encode(colour(16, 16), "ICO"),
        encode(grey(4, 4), "PCX"),
    ],
    ids=["junk", "PPM", "ICO", "PCX"],
)
def test_bytes_in_no_accepted_format_are_refused_as_unsupported(data):
    """Pillow reads PPM, ICO and PCX; the service does not."""
    assert refusal(UnsupportedImage, data) == UNSUPPORTED


def test_a_header_pillow_cannot_parse_is_refused_as_corrupt():
    assert refusal(InvalidImage, b"BM" + bytes(50)).startswith("the image header is corrupt: ")


def test_truncated_pixel_data_is_refused_as_corrupt():
    data = encode(grey(40, 40), "PNG")
    assert refusal(InvalidImage, data[: len(data) // 2]).startswith("the image data is truncated or corrupt: ")


def test_a_tiff_with_a_damaged_optional_tag_decodes_though_pillow_warns():
    """Only Pillow's decompression-bomb warning is an error while opening; its other warnings are not refusals."""
    picture = grey(3, 4)
    data = with_tiff_tag(encode(picture, "TIFF", dpi=(72, 72)), 282, 0x00FFFF00)  # XResolution past the end
    with pytest.warns(UserWarning, match="Truncated File Read"):
        decoded = decode(data)
    np.testing.assert_array_equal(decoded.luma, units(picture))


def test_an_image_of_exactly_max_pixels_decodes():
    assert decode(encode(grey(30, 40), "PNG"), max_pixels=1200).luma.shape == (30, 40)


@pytest.mark.parametrize("width, height, shown", [(1201, 1, "1201x1 = 1,201"), (41, 30, "41x30 = 1,230")])
def test_an_image_of_more_than_max_pixels_is_refused_as_too_large(width, height, shown):
    message = refusal(ImageTooLarge, encode(grey(height, width), "PNG"), max_pixels=1200)
    assert message == f"the image is {shown} pixels; the limit is 1,200"


def test_by_default_forty_million_pixels_are_read_and_one_more_is_refused():
    """Headers alone: the one admitted then fails for want of pixel data, after the size was judged."""
    assert refusal(InvalidImage, png_header(8000, 5000)).startswith("the image data is truncated or corrupt: ")
    message = refusal(ImageTooLarge, png_header(40_000_001, 1))
    assert message == "the image is 40000001x1 = 40,000,001 pixels; the limit is 40,000,000"


@pytest.mark.parametrize("times", [1, 2], ids=["warned", "refused"])
def test_a_decompression_bomb_is_refused_as_too_large_whatever_our_own_limit(times):
    """Pillow warns past MAX_IMAGE_PIXELS and refuses past twice that; both are refusals here."""
    width = times * Image.MAX_IMAGE_PIXELS // 10_000 + 1
    message = refusal(ImageTooLarge, png_header(width, 10_000), max_pixels=10**12)
    assert message.startswith("the image is too large to decode: ")


def jpeg_with_scans(scans: int) -> bytes:
    """A small baseline JPEG (one scan) followed by more start-of-scan markers, which the count sees."""
    data = encode(grey(16, 16), "JPEG")
    assert data.count(b"\xff\xda") == 1
    return data + b"\xff\xda" * (scans - 1)


def test_a_jpeg_of_exactly_the_scan_limit_decodes():
    assert decode(jpeg_with_scans(50)).luma.shape == (16, 16)


@pytest.mark.parametrize("scans, shown", [(51, "51"), (1001, "1,001")])
def test_a_jpeg_of_more_scans_than_the_limit_is_refused_as_too_costly(scans, shown):
    message = refusal(ImageTooCostly, jpeg_with_scans(scans))
    assert message == f"the JPEG has {shown} scans; the limit is 50 (a camera's progressive JPEG has about 10)"


def test_start_of_scan_bytes_count_only_in_a_jpeg():
    picture = grey(5, 6)
    decoded = decode(encode(picture, "PNG") + b"\xff\xda" * 60)
    np.testing.assert_array_equal(decoded.luma, units(picture))


# -- a request's budget


class Clock:
    """A clock the test moves: DecodeBudget's ``clock``."""

    def __init__(self, now: float):
        self.now = now

    def __call__(self) -> float:
        return self.now


def test_a_budget_spends_pixels_until_exactly_none_are_left():
    budget = DecodeBudget(pixels=1000, seconds=1)
    assert budget.spent == 0
    budget.spend(10, 20)
    assert budget.spent == 200
    with pytest.raises(RequestTooCostly) as caught:
        budget.spend(40, 30)
    assert str(caught.value) == (
        "the images of this request hold more than the 1,000 pixels one request may decode (MAX_REQUEST_PIXELS); "
        "send fewer or smaller images"
    )
    budget.spend(40, 20)
    assert budget.spent == 1000
    with pytest.raises(RequestTooCostly):
        budget.spend(1, 1)
    assert budget.spent == 1000


def test_a_budget_refuses_only_once_its_seconds_are_exceeded():
    clock = Clock(100.0)
    budget = DecodeBudget(pixels=1, seconds=2.5, clock=clock)
    budget.check_time()
    clock.now = 102.5
    budget.check_time()
    clock.now = 102.51
    with pytest.raises(RequestTooCostly) as caught:
        budget.check_time()
    assert str(caught.value) == "decoding this request's images took over 2.5 s; send fewer or smaller images"


def test_decode_spends_each_image_s_declared_pixels_on_the_request_s_budget():
    budget = DecodeBudget(pixels=1000, seconds=60)
    decode(encode(grey(20, 30), "PNG"), budget=budget)
    assert budget.spent == 600
    decode(encode(grey(20, 20), "PNG"), budget=budget)
    assert budget.spent == 1000
    with pytest.raises(RequestTooCostly):
        decode(encode(grey(1, 1), "PNG"), budget=budget)


def test_decode_checks_the_time_left_before_it_reads_anything():
    clock = Clock(0.0)
    budget = DecodeBudget(pixels=10**6, seconds=5, clock=clock)
    clock.now = 5.0
    assert decode(encode(grey(2, 2), "PNG"), budget=budget).luma.shape == (2, 2)
    clock.now = 6.0
    with pytest.raises(RequestTooCostly, match="over 5 s"):
        decode(b"", budget=budget)  # refused for the time spent, not as an empty file


# -- JPEG draft and the early shrink


@pytest.mark.parametrize(
    "size, work_size, scale",
    [((64, 64), 64, 1), ((120, 120), 64, 2), ((200, 150), 64, 4), ((400, 300), 64, 8), ((1000, 1000), None, 2)],
    ids=["full", "half", "quarter", "eighth", "half of the default"],
)
def test_a_jpeg_is_drafted_at_the_coarsest_scale_keeping_three_quarters_of_the_working_size(size, work_size, scale):
    data = encode(colour(size[1], size[0]), "JPEG")
    decoded = decode(data) if work_size is None else decode(data, work_size=work_size)
    drafted = Image.open(io.BytesIO(data))
    drafted.draft("L", (size[0] // scale, size[1] // scale))
    assert drafted.size == (math.ceil(size[0] / scale), math.ceil(size[1] / scale))
    np.testing.assert_array_equal(decoded.luma, units(drafted))
    assert decoded.original_size == size and decoded.format == "JPEG"


@pytest.mark.parametrize(
    "size, asked",
    [
        ((4000, 3000), (384, 288)),
        ((3000, 4000), (288, 384)),
        ((1000, 999), (384, 384)),
        ((10_000, 1), (384, 1)),
        ((1, 10_000), (1, 384)),
    ],
)
def test_the_draft_request_is_three_quarters_of_the_working_size_along_the_longest_side(size, asked):
    assert _draft_request(size, 512) == asked


def test_a_large_jpeg_is_drafted_for_the_detail_size_when_it_is_read_in_detail():
    decoded = decode(encode(colour(300, 400), "JPEG"), work_size=32, detail_size=100)
    assert decoded.luma.shape == (24, 32)
    assert decoded.finer is not None and decoded.finer.luma.shape == (75, 100)


@pytest.mark.parametrize(
    "picture, expected",
    [
        (grey(100, 129), lambda p: boxed(p.reduce(2), (64, 49))),
        (grey(100, 127), lambda p: boxed(p, (64, 50))),
        (grey(130, 200), lambda p: boxed(p.reduce(3), (64, 42))),
        (grey(3, 256), lambda p: p.reduce(4)),
        (Image.fromarray(noise(130, 200) > 127), lambda p: boxed(p.convert("L").reduce(3), (64, 42))),
        (colour(130, 200).convert("P"), lambda p: boxed(p.convert("RGBA").reduce(3).convert("L"), (64, 42))),
    ],
    ids=["twice", "not twice", "longest side", "sliver", "bilevel", "paletted"],
)
def test_a_large_image_is_first_reduced_by_the_whole_times_it_holds_the_working_size(picture, expected):
    decoded = decode(encode(picture, "PNG"), work_size=64)
    np.testing.assert_array_equal(decoded.luma, units(expected(picture)))


def test_a_large_transparent_paletted_image_is_reduced_with_its_alpha():
    picture = paletted_with_a_hole(130, 200)
    decoded = decode(encode(picture, "PNG"), work_size=64)
    reduced = picture.convert("RGBA").reduce(3)
    np.testing.assert_array_equal(decoded.luma, units(boxed(reduced.convert("L"), (64, 42))))
    np.testing.assert_array_equal(decoded.alpha, units(boxed(reduced.getchannel("A"), (64, 42))))


def sixteen_bit_noise(height: int, width: int) -> Image.Image:
    return Image.fromarray(noise(height, width).astype(np.uint16) * 235)


@pytest.mark.parametrize(
    "size, shrunk, shape",
    [((200, 130), (66, 43), (42, 64)), ((256, 3), (64, 1), (1, 64)), ((3, 256), (1, 64), (64, 1))],
    ids=["photo", "wide sliver", "tall sliver"],
)
def test_a_large_16_bit_image_is_boxed_down_to_whole_pixels_before_it_is_widened(size, shrunk, shape):
    picture = sixteen_bit_noise(size[1], size[0])
    decoded = decode(encode(picture, "PNG"), work_size=64)
    wide = np.asarray(picture.resize(shrunk, BOX), dtype=np.float32) / np.float32(65535)
    expected = np.asarray(boxed(Image.fromarray(wide, "F"), (shape[1], shape[0])))
    assert decoded.luma.shape == shape and decoded.luma.dtype == np.float32
    np.testing.assert_allclose(decoded.luma, expected, rtol=1e-6, atol=0)


def test_by_default_a_picture_is_read_at_most_512_pixels_across():
    picture = grey(600, 1000)
    np.testing.assert_array_equal(decode(encode(picture, "PNG")).luma, units(boxed(picture, (512, 307))))


# -- the detailed read


def test_a_picture_three_times_the_working_size_across_is_also_read_at_the_detail_size():
    picture = colour(60, 96, "RGBA")
    decoded = decode(encode(picture, "PNG"), work_size=32, detail_size=64)
    luma, alpha = picture.convert("L"), picture.getchannel("A")
    np.testing.assert_array_equal(decoded.luma, units(boxed(luma, (32, 20))))
    np.testing.assert_array_equal(decoded.alpha, units(boxed(alpha, (32, 20))))
    finer = decoded.finer
    assert finer is not None and finer.finer is None
    assert finer.original_size == (96, 60) and finer.format == "PNG"
    np.testing.assert_array_equal(finer.luma, units(boxed(luma, (64, 40))))
    np.testing.assert_array_equal(finer.alpha, units(boxed(alpha, (64, 40))))


def test_a_picture_just_under_three_times_the_working_size_is_read_at_the_working_size_only():
    picture = grey(60, 95)
    decoded = decode(encode(picture, "PNG"), work_size=32, detail_size=64)
    assert decoded.finer is None
    np.testing.assert_array_equal(decoded.luma, units(boxed(picture.reduce(2), (32, 20))))


def test_without_a_detail_size_a_large_picture_has_no_finer_reading():
    picture = grey(80, 127)
    decoded = decode(encode(picture, "PNG"), work_size=32)
    assert decoded.finer is None
    np.testing.assert_array_equal(decoded.luma, units(boxed(picture.reduce(3), (32, 20))))


def test_a_detail_size_under_the_working_size_reads_nothing_finer():
    picture = grey(96, 96)
    decoded = decode(encode(picture, "PNG"), work_size=32, detail_size=16)
    assert decoded.finer is None
    np.testing.assert_array_equal(decoded.luma, units(picture.reduce(3)))


def test_the_working_picture_of_a_detailed_read_is_boxed_down_from_the_detail():
    picture = grey(672, 672)
    decoded = decode(encode(picture, "PNG"), work_size=32, detail_size=224)
    detail = picture.reduce(3)
    assert decoded.finer is not None
    np.testing.assert_array_equal(decoded.finer.luma, units(detail))
    np.testing.assert_array_equal(decoded.luma, units(boxed(detail, (32, 32))))


@pytest.mark.parametrize("width, height", [(1536, 3), (3, 1536)])
def test_a_sliver_keeps_at_least_one_pixel_across(width, height):
    decoded = decode(encode(grey(height, width), "PNG"), work_size=32, detail_size=512)
    assert decoded.finer is not None
    if width > height:
        assert decoded.luma.shape == (1, 32) and decoded.finer.luma.shape == (1, 512)
    else:
        assert decoded.luma.shape == (32, 1) and decoded.finer.luma.shape == (512, 1)


# -- orientation and frames


def turned_exif() -> bytes:
    exif = Image.Exif()
    exif[0x0112] = 6  # Orientation: turn a quarter clockwise to show upright
    return exif.tobytes()


def png_text(key: str, value: str, international: bool = False) -> PngImagePlugin.PngInfo:
    info = PngImagePlugin.PngInfo()
    (info.add_itxt if international else info.add_text)(key, value)
    return info


def raw_profile() -> str:
    """EXIF as ImageMagick writes it into a PNG text chunk: a header of three lines, then hex."""
    hexed = turned_exif().hex()
    return f"\nexif\n{len(hexed) // 2:8d}\n{hexed}\n"


@pytest.mark.parametrize(
    "fmt, turn, options",
    [
        ("JPEG", {"exif": turned_exif()}, {}),
        ("PNG", {"exif": turned_exif()}, {}),
        ("WEBP", {"exif": turned_exif()}, {"lossless": True}),
        ("PNG", {"pnginfo": png_text("Raw profile type exif", raw_profile())}, {}),
        ("PNG", {"pnginfo": png_text("XML:com.adobe.xmp", XMP, international=True)}, {}),
        ("JPEG", {"xmp": XMP.encode()}, {}),
        ("TIFF", {"tiffinfo": {0x0112: 6}}, {}),
    ],
    ids=["JPEG EXIF", "PNG EXIF", "WebP EXIF", "PNG raw profile", "PNG XMP", "JPEG XMP", "TIFF tag"],
)
def test_a_picture_turned_by_its_metadata_is_decoded_upright(fmt, turn, options):
    picture = grey(10, 20)
    stored = Image.open(io.BytesIO(encode(picture, fmt, **options))).convert("L")  # a JPEG's pixels, not the picture's
    decoded = decode(encode(picture, fmt, **turn, **options))
    np.testing.assert_array_equal(decoded.luma, np.rot90(units(stored), k=-1))


def test_a_large_turned_picture_is_shrunk_then_turned():
    picture = grey(100, 200)
    decoded = decode(encode(picture, "PNG", exif=turned_exif()), work_size=32)
    upright = picture.reduce(6).transpose(Image.Transpose.ROTATE_270)
    np.testing.assert_array_equal(decoded.luma, units(boxed(upright, (16, 32))))


def test_a_large_turned_tiff_is_turned_by_pillow_as_it_loads_then_shrunk():
    picture = grey(100, 200)
    decoded = decode(encode(picture, "TIFF", tiffinfo={0x0112: 6}), work_size=32)
    upright = picture.transpose(Image.Transpose.ROTATE_270).reduce(6)
    assert decoded.original_size == (100, 200)
    np.testing.assert_array_equal(decoded.luma, units(boxed(upright, (16, 32))))


def test_only_the_first_frame_of_an_animation_is_read():
    first, second = grey(4, 5, seed=1), grey(4, 5, seed=2)
    data = encode(first, "GIF", save_all=True, append_images=[second])
    assert Image.open(io.BytesIO(data)).n_frames == 2
    np.testing.assert_array_equal(decode(data).luma, units(first))

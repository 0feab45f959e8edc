"""Named errors of the ML core.

Each carries a stable ``code`` that the HTTP layer maps to a status once, so
callers never have to parse messages.
"""

from __future__ import annotations


class MLError(Exception):
    """Base class: every error the core raises on purpose."""

    code = "ml_error"


class InvalidImage(MLError):
    """The bytes are not an image we can decode (or are truncated/corrupt)."""

    code = "invalid_image"


class UnsupportedImage(InvalidImage):
    """The bytes are not in any image format we accept (text, PDF, ZIP...)."""

    code = "unsupported_media_type"


class ImageTooLarge(MLError):
    """The image declares more pixels than we are willing to decode."""

    code = "image_too_large"


class ImageTooCostly(MLError):
    """The image is small but would cost far more to decode than any photo (e.g. thousands of JPEG scans)."""

    code = "image_too_costly"


class RequestTooCostly(ImageTooLarge):
    """The images of one request together exceed the request's decoding budget (pixels or time)."""

    code = "request_too_costly"


class NonFinitePixels(InvalidImage):
    """A float image holds NaN or infinite values: no brightness can be read from them."""

    code = "non_finite_pixels"


class NoDigitFound(MLError):
    """The image decoded fine but holds nothing that looks like ink."""

    code = "no_digit_found"


class NotADigit(MLError):
    """The model is sure enough that the picture is not one handwritten digit (a letter, a word, a doodle,
    several digits, a photo of something else). ``details``: the record of the refused upload."""

    code = "not_a_digit"

    def __init__(self, message: str, details: dict | None = None):
        super().__init__(message)
        self.details = details or {}


class DataIntegrityError(MLError):
    """A dataset file is missing, malformed or fails its sha256 check."""

    code = "data_integrity"


class ArtifactError(MLError):
    """A model artifact is incomplete, corrupt or of an unknown format."""

    code = "artifact_invalid"

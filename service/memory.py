"""Give memory freed after a large request back to the operating system.

glibc keeps freed heap for reuse, so one hostile request (tens of megapixels decoded) would leave a
worker's RSS that much higher for good. Returning memory after every request costs throughput (forcing
mmap for large blocks, `MALLOC_MMAP_THRESHOLD_=131072 benchmarks/soak.py`, slowed ordinary uploads
before the lock), so only requests that decoded many pixels pay for a trim."""

from __future__ import annotations

from functools import lru_cache

LARGE_REQUEST_PIXELS = 4_000_000


@lru_cache(maxsize=1)
def _malloc_trim():
    import ctypes  # here: imports that only the first large request needs
    import ctypes.util

    name = ctypes.util.find_library("c")
    try:
        return ctypes.CDLL(name).malloc_trim if name else None
    except (OSError, AttributeError):  # not glibc (musl, macOS): nothing to trim
        return None


def release_after(pixels_decoded: int) -> None:
    if pixels_decoded >= LARGE_REQUEST_PIXELS and (trim := _malloc_trim()) is not None:
        trim(0)

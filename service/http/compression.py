"""gzip for what browsers load and read (the pages, their scripts and styles, the history and the stats),
never for an answer to a POST's JSON: a prediction's answer is small and wanted at once, and compressing it
would cost every prediction CPU time to save a few bytes. The stdlib's gzip: every browser and client that
asks for compression accepts it."""

from __future__ import annotations

import gzip
from dataclasses import replace

from service.http.messages import Request, Response

# a body this small fits one packet either way: compressing it saves nothing a reader would notice
MIN_BYTES = 1024
VARY = "Accept-Encoding"


def accepts_gzip(request: Request) -> bool:
    """The client named gzip (or any encoding) in Accept-Encoding without refusing it with q=0."""
    for item in request.header("accept-encoding").split(","):
        name, _, params = item.strip().partition(";")
        if name.strip().lower() not in ("gzip", "x-gzip", "*"):
            continue
        quality = params.strip().removeprefix("q=").strip() if params.strip().startswith("q=") else "1"
        try:
            return float(quality) > 0
        except ValueError:
            return False
    return False


# static files are compressed once, as small as gzip goes; answers are compressed per request, at the
# level that costs a fraction of the time for nearly the same size
STATIC_LEVEL = 9
ANSWER_LEVEL = 6


def gzipped(body: bytes, level: int = STATIC_LEVEL) -> bytes | None:
    """``body`` gzipped (no timestamp: the same bytes give the same output, and the same ETag), or None
    where that would not make it smaller."""
    if len(body) < MIN_BYTES:
        return None
    packed = gzip.compress(body, compresslevel=level, mtime=0)
    return packed if len(packed) < len(body) else None


def add_vary(headers: dict[str, str], name: str = VARY) -> None:
    """Say that the answer depends on the request header ``name`` (a cache keeps one copy per value)."""
    named = [v.strip() for v in headers.get("Vary", "").split(",") if v.strip()]
    if name.lower() not in (v.lower() for v in named):
        headers["Vary"] = ", ".join([*named, name])


def compressible(request: Request, response: Response) -> bool:
    """A page the server wrote (the no-JavaScript answers), or the JSON of a read; not yet encoded."""
    if "Content-Encoding" in response.headers or response.status in (204, 304):
        return False
    if response.content_type.startswith("text/html"):
        return True
    return response.content_type.startswith("application/json") and request.method.upper() in ("GET", "HEAD")


def compress_answer(request: Request, response: Response) -> Response:
    """``response`` gzipped where it is compressible, the client accepts gzip and it gets smaller."""
    if not compressible(request, response):
        return response
    add_vary(response.headers)
    if not accepts_gzip(request):
        return response
    packed = gzipped(response.body, ANSWER_LEVEL)
    if packed is None:
        return response
    response.headers["Content-Encoding"] = "gzip"
    return replace(response, body=packed)

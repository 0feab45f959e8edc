"""The static page and its assets, served from service/assets/: revalidated by ETag, gzipped where the
client accepts it (each encoding its own ETag, as a cache must tell them apart)."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from functools import cache
from pathlib import Path

from service.errors import HTTPError
from service.http.compression import accepts_gzip, add_vary, gzipped
from service.http.messages import Request, Response

ASSETS = Path(__file__).resolve().parent.parent / "assets"
_TYPES = {
    ".html": "text/html; charset=utf-8",
    ".js": "text/javascript; charset=utf-8",
    ".css": "text/css; charset=utf-8",
    ".svg": "image/svg+xml",
    ".png": "image/png",
}
_TEXT = (".html", ".js", ".css", ".svg")


@dataclass(frozen=True)
class Asset:
    body: bytes
    content_type: str
    etag: str
    gzip: bytes | None  # None: not text, or too small to gain from it
    gzip_etag: str


def _asset(path: Path) -> Asset:
    body = path.read_bytes()
    digest = hashlib.sha256(body).hexdigest()[:16]
    packed = gzipped(body) if path.suffix in _TEXT else None
    return Asset(body, _TYPES[path.suffix], f'"{digest}"', packed, f'"{digest}-gzip"')


@cache
def _assets() -> dict[str, Asset]:
    """name -> the file, read and compressed once per process. Built from the directory, never from the names
    asked for: any other name is a 404 that leaves nothing behind."""
    return {
        path.name: _asset(path)
        for path in ASSETS.iterdir()
        if path.suffix in _TYPES and not path.name.startswith(".") and path.is_file()
    }


def asset_response(name: str, request: Request, cache: str = "no-cache") -> Response:
    """A static file, revalidated by ETag (a redeploy is seen at once, an unchanged file costs a 304);
    ``cache``: its Cache-Control, for a file a browser may keep without asking."""
    found = _assets().get(name)
    if found is None:
        raise HTTPError(404, "not_found", f"no static file {name!r}")
    headers = {"Cache-Control": cache}
    body, etag = found.body, found.etag
    if found.gzip is not None:
        add_vary(headers)
        if accepts_gzip(request):
            body, etag = found.gzip, found.gzip_etag
            headers["Content-Encoding"] = "gzip"
    headers["ETag"] = etag
    if etag in request.header("if-none-match"):
        headers.pop("Content-Encoding", None)
        return Response(304, b"", found.content_type, headers)
    return Response(200, body, found.content_type, headers)

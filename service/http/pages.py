"""The static page and its assets, served from service/assets/."""

from __future__ import annotations

import hashlib
from functools import cache
from pathlib import Path

from service.errors import HTTPError
from service.http.messages import Request, Response

ASSETS = Path(__file__).resolve().parent.parent / "assets"
_TYPES = {
    ".html": "text/html; charset=utf-8",
    ".js": "text/javascript; charset=utf-8",
    ".css": "text/css; charset=utf-8",
    ".svg": "image/svg+xml",
    ".png": "image/png",
}


@cache
def _assets() -> dict[str, tuple[bytes, str, str]]:
    """name -> (body, content type, etag) of every servable file in assets/, read once per process. Built from
    the directory, never from the names asked for: any other name is a 404 that leaves nothing behind."""
    table = {}
    for path in ASSETS.iterdir():
        if path.suffix in _TYPES and not path.name.startswith(".") and path.is_file():
            body = path.read_bytes()
            table[path.name] = (body, _TYPES[path.suffix], '"' + hashlib.sha256(body).hexdigest()[:16] + '"')
    return table


def asset_response(name: str, request: Request, cache: str = "no-cache") -> Response:
    """A static file, revalidated by ETag (a redeploy is seen at once, an unchanged file costs a 304);
    ``cache``: its Cache-Control, for a file a browser may keep without asking."""
    found = _assets().get(name)
    if found is None:
        raise HTTPError(404, "not_found", f"no static file {name!r}")
    body, content_type, etag = found
    headers = {"ETag": etag, "Cache-Control": cache}
    if etag in request.header("if-none-match"):
        return Response(304, b"", content_type, headers)
    return Response(200, body, content_type, headers)

"""HTML for people: the static page and its assets, and the result page the no-JavaScript form gets."""

from __future__ import annotations

import hashlib
from functools import cache
from html import escape
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


def asset_response(name: str, request: Request) -> Response:
    """A static file, revalidated by ETag (a redeploy is seen at once, an unchanged file costs a 304)."""
    found = _assets().get(name)
    if found is None:
        raise HTTPError(404, "not_found", f"no static file {name!r}")
    body, content_type, etag = found
    headers = {"ETag": etag, "Cache-Control": "no-cache"}
    if etag in request.header("if-none-match"):
        return Response(304, b"", content_type, headers)
    return Response(200, body, content_type, headers)


_STYLE = """
body{font-family:system-ui,sans-serif;max-width:40rem;margin:2rem auto;padding:0 1rem;color:#222}
h1{font-size:1.6rem} .digit{font-size:6rem;font-weight:700;margin:.2rem 0}
form{border:1px solid #ccc;border-radius:.5rem;padding:1rem} button{font-size:1rem;padding:.4rem 1rem}
table{border-collapse:collapse} td,th{padding:.2rem .6rem;text-align:left}
.bar{background:#4a7bd0;height:.8rem;display:inline-block}
"""


def _page(title: str, body: str) -> bytes:
    return (
        "<!doctype html><html lang=en><head><meta charset=utf-8>"
        '<meta name=viewport content="width=device-width,initial-scale=1">'
        f"<title>{escape(title)}</title><style>{_STYLE}</style></head><body>{body}</body></html>"
    ).encode()


def result_page(results: list[dict]) -> bytes:
    parts = ["<h1>Result</h1>"]
    for r in results:
        rows = "".join(
            f"<tr><th>{d}</th><td><span class=bar style='width:{p * 20:.2f}rem'></span> {p:.1%}</td></tr>"
            for d, p in enumerate(r["probabilities"])
        )
        answer, sure = (
            (r["digit"], "confidence") if r.get("is_digit", True) else ("not a digit", "sure it is not a digit:")
        )
        parts.append(
            f"<section><p>{escape(r['filename'])}</p><p class=digit>{answer}</p>"
            f"<p>{sure} {r['confidence']:.1%} · model {escape(r['model_version'])}</p>"
            f"<p><img src='predictions/{escape(r['id'])}/normalised.png' width=112 height=112 "
            f"style='image-rendering:pixelated;border:1px solid #ccc' alt='the 28 by 28 image the model saw'></p>"
            f"<table aria-label='probability per digit'>{rows}</table></section>"
        )
    parts.append('<p><a href="./">Try another picture</a></p>')
    return _page("Result", "".join(parts))

"""HTML for people: the upload form (works without JavaScript) and a result page."""
from __future__ import annotations

from html import escape

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


def upload_form() -> bytes:
    return _page(
        "Handwritten digit recognition",
        "<h1>Which digit is it?</h1>"
        '<form method=post action="./" enctype="multipart/form-data">'
        '<label for=file>Picture of one handwritten digit (PNG, JPEG, GIF, BMP, WebP, TIFF)</label><br>'
        '<input id=file name=file type=file accept="image/*" required> '
        "<button type=submit>Recognise</button></form>"
        '<p>Or from a terminal: <code>curl -F file=@digit.png URL</code></p>',
    )


def result_page(results: list[dict]) -> bytes:
    parts = ["<h1>Result</h1>"]
    for r in results:
        rows = "".join(
            f"<tr><th>{d}</th><td><span class=bar style='width:{p * 20:.2f}rem'></span> {p:.1%}</td></tr>"
            for d, p in enumerate(r["probabilities"])
        )
        parts.append(
            f"<section><p>{escape(r['filename'])}</p><p class=digit>{r['digit']}</p>"
            f"<p>confidence {r['confidence']:.1%} · model {escape(r['model_version'])}</p>"
            f"<table aria-label='probability per digit'>{rows}</table></section>"
        )
    parts.append('<p><a href="./">Try another picture</a></p>')
    return _page("Result", "".join(parts))

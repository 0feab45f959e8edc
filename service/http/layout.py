"""The frame of every page the server writes itself (the no-JavaScript form's answers): the page's own
stylesheet and icon, its header, and a link back to the form, so these pages look like the one they answer."""

from __future__ import annotations

from html import escape

from service.http.messages import Request

HTML = "text/html; charset=utf-8"


def base_of(request: Request) -> str:
    """The way from the request's URL back to the function's root, relative: the assets are found under
    any path prefix the function is served under, as the static page's relative URLs are."""
    return "../" * max(request.path.count("/") - 1, 0)


def page(title: str, body: str, base: str = "") -> bytes:
    """A whole page: ``body`` (trusted HTML: the callers escape every value in it) in the page's frame."""
    home = escape(base or "./")
    return (
        '<!doctype html><html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width,initial-scale=1">'
        f"<title>{escape(title)}</title>"
        f'<link rel="stylesheet" href="{escape(base)}assets/app.css">'
        f'<link rel="icon" href="{escape(base)}assets/favicon.svg" type="image/svg+xml">'
        f'</head><body><header class="top"><h1>Which digit is it?</h1>'
        f'<nav aria-label="pages"><a href="{home}">Recognise a digit</a></nav></header>'
        f'<main>{body}<p><a href="{home}">Try another picture</a></p></main></body></html>'
    ).encode()

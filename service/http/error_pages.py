"""Errors as a page for the browser that posted the form without JavaScript: it asked for HTML (the same
negotiation that gives it the HTML result), so a refusal is a page too, with the same status, the
error's message and a way back; every other client keeps the JSON error the API documents."""

from __future__ import annotations

import json
from dataclasses import replace
from html import escape

from service.http import layout
from service.http.messages import Request, Response
from service.http.params import wants_html


def posted_by_a_page(request: Request) -> bool:
    """A form a browser posted: a page navigation, which shows whatever comes back as the new page."""
    return request.method.upper() == "POST" and wants_html(request)


def for_pages(request: Request, response: Response) -> Response:
    """``response``, or its JSON error rewritten as a page where a page posted the request."""
    if response.status < 400 or response.content_type != "application/json" or not posted_by_a_page(request):
        return response
    try:
        error = json.loads(response.body)
        code, message = str(error["error"]), str(error["message"])
    except (ValueError, KeyError, TypeError):
        return response  # not the API's error shape: left as it is
    body = error_page(response.status, code, message, layout.base_of(request))
    return replace(response, body=body, content_type=layout.HTML)


def error_page(status: int, code: str, message: str, base: str = "") -> bytes:
    section = (
        '<section class="card" aria-labelledby="error-title">'
        f'<h2 id="error-title">That did not work ({status})</h2>'
        f'<p class="error" role="alert">{escape(message)}</p>'
        f'<p class="note">Error code: <code>{escape(code)}</code></p></section>'
    )
    return layout.page(f"Error: {code}", section, base)

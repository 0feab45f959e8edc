"""What a browser loads: the page, its assets and its icon."""

from __future__ import annotations

from service.http.messages import Request, Response
from service.http.pages import asset_response
from service.http.routes import Answer, route
from service.telemetry import RequestTelemetry

ICON = "favicon.svg"
# the icon changes with a redeploy at most, and a browser asks for it on every page: kept for a day
ICON_CACHE = "public, max-age=86400"


class Site:
    @route(
        "GET",
        "/",
        "page",
        "The page: upload, draw, history",
        answers={200: Answer("HTML page", {"text/html": {"type": "string"}})},
    )
    def page(self, request: Request, t: RequestTelemetry) -> Response:
        return asset_response("index.html", request)

    @route(
        "GET",
        "/assets/<name>",
        "asset",
        "The page's CSS, JavaScript and pages",
        segments={"name": {"example": "app.css"}},
        answers={
            200: Answer(
                "the file",
                {
                    "text/css": {"type": "string"},
                    "text/javascript": {"type": "string"},
                    "text/html": {"type": "string"},
                    "image/svg+xml": {"type": "string"},
                },
            ),
            304: Answer("not modified (ETag)"),
        },
        errors={404: None},
    )
    def asset(self, request: Request, t: RequestTelemetry, name: str) -> Response:
        return asset_response(name, request)

    @route(
        "GET",
        "/favicon.ico",
        "favicon",
        "The page's icon (SVG), where a browser looks for one by default",
        answers={200: Answer("the icon", {"image/svg+xml": {"type": "string"}}), 304: Answer("not modified (ETag)")},
    )
    def favicon(self, request: Request, t: RequestTelemetry) -> Response:
        return asset_response(ICON, request, ICON_CACHE)

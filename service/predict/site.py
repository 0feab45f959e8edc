"""What a browser loads: the page and its assets."""

from __future__ import annotations

from service.http.messages import Request, Response
from service.http.pages import asset_response
from service.http.routes import Answer, route
from service.telemetry import RequestTelemetry


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
                },
            ),
            304: Answer("not modified (ETag)"),
        },
        errors={404: None},
    )
    def asset(self, request: Request, t: RequestTelemetry, name: str) -> Response:
        return asset_response(name, request)

"""What a browser loads: the page, its assets, and the API document."""

from __future__ import annotations

from service.http.messages import Request, Response
from service.http.observability import document_response
from service.http.pages import asset_response
from service.http.routes import Answer, route
from service.telemetry import RequestTelemetry


class Site:
    def __init__(self, document: bytes):
        self.document = document  # the function's OpenAPI document, written once from its routes

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

    @route(
        "GET",
        "/openapi.json",
        "openapi",
        "This document",
        answers={200: Answer("OpenAPI 3.1", {"application/json": {"type": "object"}})},
    )
    def openapi(self, request: Request, t: RequestTelemetry) -> Response:
        return document_response(self.document)

"""Routes declared where their handlers are: ``@route(...)`` on a method says its method and path, who may
call it, its query parameters, its body and its answers. From those declarations the router answers 404,
405 (with ``Allow``) and HEAD wherever GET is declared, checks access and the query before the handler
runs, names the route in logs and metrics (the template, never the raw path, so ids do not explode the
label set), and ``service.http.openapi`` writes the OpenAPI document. A dozen templates with ``<name>``
segments need no routing library (werkzeug's, with what it imports, would load on every cold start).
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from ml.parameters import Parameters
from service.errors import HTTPError, status_of
from service.http.compression import add_vary
from service.http.messages import Request, Response, error_response
from service.http.pages import asset_response
from service.http.params import query_values, wants_html
from service.telemetry import RequestTelemetry

logger = logging.getLogger("digits.http")
_SEGMENT = re.compile(r"<(\w+)>")

Handler = Callable[..., Response]  # (request, telemetry, **path segments, **query values) -> Response


@dataclass(frozen=True)
class Access:
    """Who may call a route: the check (given the settings and the request), and what it looks like in the
    API document (security requirements, their schemes, the refusals it answers)."""

    check: Callable[[Any, Request], None]
    security: list[dict[str, list]]
    schemes: dict[str, dict]
    refusals: dict[int, tuple[str, str, str]]  # status -> (description, error code, message)


@dataclass(frozen=True)
class Link:
    """An operation an answer leads to (an OpenAPI link): its operationId, and where each of its parameters
    comes from in the answer (a runtime expression such as ``$response.body#/id``)."""

    operation: str
    parameters: dict[str, str]


@dataclass(frozen=True)
class Answer:
    """A successful answer as the API document shows it: media type -> JSON schema."""

    description: str
    content: dict[str, dict] = field(default_factory=dict)
    example: Any = None
    headers: dict[str, str] = field(default_factory=dict)  # name -> description
    links: tuple[Link, ...] = ()


@dataclass(frozen=True)
class Body:
    """A request body as the API document shows it: media type -> JSON schema."""

    content: dict[str, dict]
    required: bool = True
    example: Any = None


@dataclass(frozen=True)
class ErrorShape:
    """What a route's refusals look like: the API document's schema for them, and the body of one."""

    schema: str  # a component of the document's schemas
    body: Callable[[str, str], dict]  # (code, message) -> the JSON of the refusal


API_ERRORS = ErrorShape("Error", lambda code, message: {"error": code, "message": message})


@dataclass(frozen=True)
class Route:
    method: str
    path: str  # ``/predictions/<prediction_id>``: segments in angle brackets
    operation: str  # the OpenAPI operationId
    summary: str
    answers: dict[int, Answer]
    access: Access | None = None
    query: Parameters | None = None
    body: Body | None = None
    errors: dict[int, str | None] = field(default_factory=dict)  # status -> description (None: the usual one)
    segments: dict[str, dict] = field(default_factory=dict)  # path segment -> its OpenAPI parameter fields
    page: str | None = None  # an asset a browser navigating here gets instead: it holds no data, its fetches do
    headers: dict[str, str] = field(default_factory=dict)  # on every answer, refusals included
    deprecated: bool = False
    error_shape: ErrorShape = API_ERRORS

    @property
    def pattern(self) -> re.Pattern[str]:
        """``/predictions/<prediction_id>/image`` -> a regex whose named groups are the segments (no '/')."""
        parts = _SEGMENT.split(self.path)  # literal, name, literal, name, ...
        return re.compile("".join(re.escape(p) if i % 2 == 0 else f"(?P<{p}>[^/]+)" for i, p in enumerate(parts)))

    @property
    def openapi_path(self) -> str:
        return _SEGMENT.sub(r"{\1}", self.path)


def route(method: str, path: str, operation: str, summary: str, **declared: Any) -> Callable[[Handler], Handler]:
    """Declare the route a handler answers (the keywords are ``Route``'s fields)."""

    def mark(handler: Handler) -> Handler:
        routes = getattr(handler, "routes", ())
        handler.routes = (*routes, Route(method.upper(), path, operation, summary, **declared))  # type: ignore[attr-defined]
        return handler

    return mark


def routes_of(*classes: type) -> list[Route]:
    """Every route the classes declare, in the order they declare them."""
    return [r for cls in classes for member in vars(cls).values() for r in getattr(member, "routes", ())]


def handlers_of(*resources: object) -> list[tuple[Route, Handler]]:
    """Every (route, bound handler) of ``resources``, in the order their classes declare them."""
    found = []
    for resource in resources:
        for name in vars(type(resource)):
            handler = getattr(resource, name)
            found += [(r, handler) for r in getattr(handler, "routes", ())]
    return found


class Router:
    def __init__(self, routes: list[tuple[Route, Handler]], settings: Any, not_found_hint: str):
        self.routes = [r for r, _ in routes]
        self._table = [(r, r.pattern, handler) for r, handler in routes]
        self._settings = settings
        self._hint = not_found_hint

    def match(self, method: str, path: str) -> tuple[Route, Handler, dict[str, str]]:
        """(route, handler, path segments) of a request; 404 or 405 (with Allow) otherwise.
        A trailing slash is ignored; HEAD is answered wherever GET is."""
        path = "/" + path.strip("/")
        method = method.upper()
        allowed: set[str] = set()
        for declared_route, pattern, handler in self._table:
            found = pattern.fullmatch(path)
            if found is None:
                continue
            if declared_route.method == method or (method == "HEAD" and declared_route.method == "GET"):
                return declared_route, handler, found.groupdict()
            allowed.add(declared_route.method)
        if allowed:
            listed = ", ".join(sorted(allowed))
            raise HTTPError(405, "method_not_allowed", f"{path} answers {listed}", {"Allow": listed})
        raise HTTPError(404, "not_found", f"no route {path}; {self._hint}")

    def handle(self, request: Request, t: RequestTelemetry) -> Response:
        """The handler's answer, or the error it (or the route's checks) raised as its one HTTP answer."""
        declared_route = None
        try:
            declared_route, handler, segments = self.match(request.method, request.path)
            t.route = declared_route.path
            response = self._call(declared_route, handler, segments, request, t)
        except Exception as exc:  # noqa: BLE001 (each is answered; an unexpected one is logged as a bug)
            if not isinstance(exc, HTTPError) and status_of(exc) is None:
                logger.exception("unhandled error on %s %s", request.method, request.path)
            response = error_response(exc)
        if declared_route is not None:
            response.headers.update(declared_route.headers)
            if declared_route.page is not None:
                add_vary(response.headers, "Accept")  # a page for browsers, JSON for the rest, at one URL
        return response

    def _call(self, declared_route: Route, handler: Handler, segments: dict, request: Request, t) -> Response:
        if declared_route.page is not None and wants_html(request):
            return asset_response(declared_route.page, request)
        if declared_route.access is not None:
            declared_route.access.check(self._settings, request)
        query = query_values(declared_route.query, request.query) if declared_route.query else {}
        return handler(request, t, **segments, **query)

    def route_of(self, method: str, path: str) -> str:
        """The template a request matches (for logs and metrics), or ``other``."""
        try:
            return self.match(method, path)[0].path
        except HTTPError:
            return "other"

"""Declared routes: one table gives 404, 405 with ``Allow``, and HEAD wherever GET is declared.

Each app declares its routes once; the same table names the route of a request in logs and
metrics (the template, never the raw path, so ids do not explode the label set) and is compared
with the function's OpenAPI document by a test, in both directions. A dozen templates with
``<name>`` segments need no routing library: werkzeug's (with the package it imports) was ~35 ms
of every cold start.
"""

from __future__ import annotations

import re

from service.errors import HTTPError

_SEGMENT = re.compile(r"<(\w+)>")


def _pattern(template: str) -> re.Pattern[str]:
    """``/predictions/<prediction_id>/image`` -> a regex whose named groups are the segments (no '/')."""
    parts = _SEGMENT.split(template)  # literal, name, literal, name, ...
    regex = "".join(re.escape(part) if i % 2 == 0 else f"(?P<{part}>[^/]+)" for i, part in enumerate(parts))
    return re.compile(regex)


class Router:
    def __init__(self, routes: list[tuple[str, str, str]], not_found_hint: str):
        """``routes``: (method, template such as ``/predictions/<prediction_id>``, endpoint)."""
        self._table = [
            (method.upper(), template, endpoint, _pattern(template)) for method, template, endpoint in routes
        ]
        self._hint = not_found_hint
        self.routes = routes

    def match(self, method: str, path: str) -> tuple[str, str, dict[str, str]]:
        """(endpoint, template, arguments) of a request; 404 or 405 (with Allow) otherwise.
        A trailing slash is ignored; HEAD is answered wherever GET is."""
        path = "/" + path.strip("/")
        method = method.upper()
        allowed: set[str] = set()
        for declared, template, endpoint, pattern in self._table:
            found = pattern.fullmatch(path)
            if found is None:
                continue
            if declared == method or (method == "HEAD" and declared == "GET"):
                return endpoint, template, found.groupdict()
            allowed.add(declared)
        if allowed:
            listed = ", ".join(sorted(allowed))
            raise HTTPError(405, "method_not_allowed", f"{path} answers {listed}", {"Allow": listed})
        raise HTTPError(404, "not_found", f"no route {path}; {self._hint}")

    def route_of(self, method: str, path: str) -> str:
        """The template a request matches (for logs and metrics), or ``other``."""
        try:
            return self.match(method, path)[1]
        except HTTPError:
            return "other"

    def openapi_operations(self) -> set[tuple[str, str]]:
        """(method, OpenAPI path) of every route: ``<name>`` written as ``{name}``."""
        return {(method.lower(), _SEGMENT.sub(r"{\1}", template)) for method, template, _ in self.routes}

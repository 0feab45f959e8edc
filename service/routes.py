"""Declared routes: werkzeug's URL map, so 404, 405 with ``Allow`` and HEAD come from one table.

Each app declares its routes once; the same table names the route of a request in logs and
metrics (the template, never the raw path, so ids do not explode the label set) and is compared
with the function's OpenAPI document by a test, in both directions.
"""

from __future__ import annotations

import re

from werkzeug.exceptions import MethodNotAllowed, NotFound
from werkzeug.routing import Map, Rule

from service.http import HTTPError


class Router:
    def __init__(self, routes: list[tuple[str, str, str]], not_found_hint: str):
        """``routes``: (method, template such as ``/predictions/<prediction_id>``, endpoint)."""
        self._map = Map(
            [
                Rule(template, endpoint=endpoint, methods=[method], strict_slashes=False)
                for method, template, endpoint in routes
            ]
        )
        self._adapter = self._map.bind("localhost")
        self._hint = not_found_hint
        self.routes = routes

    def match(self, method: str, path: str) -> tuple[str, str, dict[str, str]]:
        """(endpoint, template, arguments) of a request; 404 or 405 (with Allow) otherwise."""
        path = "/" + path.strip("/")
        try:
            rule, arguments = self._adapter.match(path, method=method.upper(), return_rule=True)
        except MethodNotAllowed as exc:
            allowed = ", ".join(sorted(set(exc.valid_methods or ()) - {"HEAD"}))
            raise HTTPError(405, "method_not_allowed", f"{path} answers {allowed}", {"Allow": allowed}) from None
        except NotFound:
            raise HTTPError(404, "not_found", f"no route {path}; {self._hint}") from None
        return str(rule.endpoint), rule.rule, dict(arguments)

    def route_of(self, method: str, path: str) -> str:
        """The template a request matches (for logs and metrics), or ``other``."""
        try:
            return self.match(method, path)[1]
        except HTTPError:
            return "other"

    def openapi_operations(self) -> set[tuple[str, str]]:
        """(method, OpenAPI path) of every route: ``<name>`` written as ``{name}``."""
        return {(method.lower(), re.sub(r"<(?:\w+:)?(\w+)>", r"{\1}", template)) for method, template, _ in self.routes}

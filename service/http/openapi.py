"""The OpenAPI 3.1 document of a function, written from its route declarations (``service.http.routes``).

Nothing here is kept by hand per operation: paths and methods come from the routes; parameters from
their path segments and declared query ``Parameters``; security from their ``Access``; the error
answers from what each route declares or implies (a query or body: 400; an access check: its refusals;
a path id: 404), each with the one description and example below. A test compares the result with the
snapshot committed under tests/snapshots, so a change to the API shows in review.
"""

from __future__ import annotations

from typing import Any

from ml.parameters import QUERY_BOOLEAN, Parameter
from service.http.routes import Route

ERROR_SCHEMA = {
    "type": "object",
    "required": ["error", "message"],
    "properties": {
        "error": {"type": "string", "description": "a stable code (docs/api.md lists every code)"},
        "message": {"type": "string", "description": "what went wrong and what to do"},
        "id": {"type": "string", "description": "not_a_digit only: the refused upload's record"},
    },
}
# status -> (usual description, example code, example message)
ERRORS: dict[int, tuple[str, str, str]] = {
    400: ("Bad request: the named parameter or body is invalid", "invalid_json", "the body is not valid JSON"),
    404: ("No such record, route or file", "not_found", "no prediction with id 6b0c..."),
    408: (
        "The body did not arrive within READ_TIMEOUT_SECONDS (scripts/serve.sh); the connection is closed",
        "request_timeout",
        "the request body did not arrive within 10 s; send it faster or smaller",
    ),
    409: ("Conflict", "training_in_progress", "another training is running; try again when it is done"),
    413: ("Too large", "payload_too_large", "the request body is over the 4,194,304-byte limit; send a smaller image"),
    415: ("Unsupported Content-Type", "unsupported_media_type", "the file is not an image Pillow can read"),
    422: ("Unprocessable", "no_digit_found", "the image is blank or uniform: no digit to read"),
    431: (
        "Request line and headers over 16 KB (scripts/serve.sh); the connection is closed",
        "headers_too_large",
        "the request line and headers are over 16,384 bytes",
    ),
    503: (
        "Unavailable: no model yet, a store or the log unreachable (Retry-After)",
        "model_unavailable",
        "no model can be served yet; train one",
    ),
}
_REQUEST_ID = "The request's id: the client's X-Request-Id when it is sane, a new one otherwise; also in the log line and the stored record"
_REQUEST_ID_HEADER = {"description": _REQUEST_ID, "schema": {"type": "string"}}
_REQUEST_ID_PARAMETER = {
    "name": "X-Request-Id",
    "in": "header",
    "required": False,
    "schema": {"type": "string"},
    "description": "Your id for this request ([A-Za-z0-9._:-], at most 128); echoed back",
}


def document(title: str, description: str, routes: list[Route], schemas: dict[str, dict]) -> dict[str, Any]:
    paths: dict[str, dict] = {}
    schemes: dict[str, dict] = {}
    for r in routes:
        paths.setdefault(r.openapi_path, {})[r.method.lower()] = operation(r)
        if r.access is not None:
            schemes.update(r.access.schemes)
    components: dict[str, Any] = {"schemas": {"Error": ERROR_SCHEMA, **schemas}}
    if schemes:
        components["securitySchemes"] = schemes
    return {
        "openapi": "3.1.0",
        "info": {"title": title, "version": "1.0.0", "description": description},
        "paths": paths,
        "components": components,
    }


def operation(r: Route) -> dict[str, Any]:
    op: dict[str, Any] = {"operationId": r.operation, "summary": r.summary, "parameters": _parameters(r)}
    if r.deprecated:
        op["deprecated"] = True
    if r.access is not None:
        op["security"] = r.access.security
    if r.body is not None:
        content = {media: {"schema": schema} for media, schema in r.body.content.items()}
        if r.body.example is not None:
            content["application/json"]["example"] = r.body.example
        op["requestBody"] = {"required": r.body.required, "content": content}
    responses = {str(status): _answer(answer) for status, answer in r.answers.items()}
    schema = {"$ref": f"#/components/schemas/{r.error_shape.schema}"}
    for status, (text, code, message) in _refusals(r).items():
        responses[str(status)] = {
            "description": text,
            "content": {"application/json": {"schema": schema, "example": r.error_shape.body(code, message)}},
            "headers": {"X-Request-Id": _REQUEST_ID_HEADER},
        }
    op["responses"] = responses
    return op


def _refusals(r: Route) -> dict[int, tuple[str, str, str]]:
    """Every error answer of a route: implied by its declaration, then those it names."""
    found: dict[int, tuple[str, str, str]] = {}
    if r.query is not None or r.body is not None:
        found[400] = ERRORS[400]
        if r.query is not None and r.body is None:  # a body's refusals are the more common ones
            first = next(iter(r.query))
            found[400] = (ERRORS[400][0], f"invalid_{first.name}", first.refusal("x").args[0])
    if r.access is not None:
        found.update(r.access.refusals)
    if "prediction_id" in r.segments:
        found[404] = ERRORS[404]
    for status, text in r.errors.items():
        usual, code, message = found.get(status) or ERRORS[status]
        found[status] = (text or usual, code, message)
    return dict(sorted(found.items()))


def _answer(answer) -> dict[str, Any]:
    content = {media: {"schema": schema} for media, schema in answer.content.items()}
    if answer.example is not None:
        content["application/json"]["example"] = answer.example
    headers = {"X-Request-Id": _REQUEST_ID_HEADER}
    headers.update({name: {"description": text, "schema": {"type": "string"}} for name, text in answer.headers.items()})
    out: dict[str, Any] = {"description": answer.description}
    if content:
        out["content"] = content
    out["headers"] = headers
    if answer.links:
        out["links"] = {
            link.operation: {"operationId": link.operation, "parameters": link.parameters} for link in answer.links
        }
    return out


def _parameters(r: Route) -> list[dict[str, Any]]:
    out = [
        {"name": name, "in": "path", "required": True, "schema": {"type": "string"}, **fields}
        for name, fields in r.segments.items()
    ]
    out += [_query_parameter(p) for p in (r.query or ())]
    return [*out, _REQUEST_ID_PARAMETER]


def _query_parameter(p: Parameter) -> dict[str, Any]:
    if p.kind is bool:  # a query string's boolean is text: these are the words it accepts
        schema: dict[str, Any] = {"type": "string", "enum": list(QUERY_BOOLEAN)}
        return {"name": p.name, "in": "query", "schema": schema, "description": f"{p.help} (empty: false)"}
    schema = {k: v for k, v in p.json_schema().items() if k != "description"}
    return {"name": p.name, "in": "query", "schema": schema, "description": p.help}

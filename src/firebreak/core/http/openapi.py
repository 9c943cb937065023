"""The OpenAPI document, complete: every answer a route can give, as problem details, and every schema it names.

FastAPI documents a route's success and its 422; Firebreak's errors are RFC 9457 problem details
(``application/problem+json``, schema ``Problem``) and come from more places: the route itself, its dependencies
(authentication), the body guard (401 before the body, 413) and the error handlers (409 for a unique value taken).
``complete_openapi`` adds them to each operation:

- what the route and its dependencies declare with ``@answers(...)`` (e.g. ``get_principal``: 401, a role check: 403);
- 404 on an operation with a path parameter (the thing named does not exist);
- 400, 413 and 422 on an operation with a body, 401 as well on a path that needs credentials (the body guard);
- 422 on an operation with parameters (validation), as a problem instead of FastAPI's ``HTTPValidationError``;
- 409 on an operation that writes (POST, PUT, PATCH, DELETE): a name or address already taken is a conflict.

A route that documents its body by hand (it reads the body itself) names its models with ``request_body``; they
are added to ``components.schemas`` so that every ``$ref`` resolves.
"""

from __future__ import annotations

import copy
from collections.abc import Callable, Iterator, Mapping, Sequence
from typing import Any, TypeVar

from fastapi import FastAPI
from fastapi.dependencies.models import Dependant
from pydantic import BaseModel
from starlette.routing import BaseRoute

from firebreak.core.http.problems import PROBLEM_JSON
from firebreak.core.http.routing import is_api_route, route_views

F = TypeVar("F", bound=Callable[..., Any])
_ATTRIBUTE = "__firebreak_answers__"
_REF = "#/components/schemas/"
WRITE_METHODS = frozenset({"post", "put", "patch", "delete"})

TITLES: Mapping[int, str] = {
    400: "Bad request: the body could not be read as sent", 401: "Not authenticated", 403: "Forbidden",
    404: "Not found", 409: "Conflict: a name, address or state that is already taken", 410: "Gone",
    413: "Payload too large", 415: "Unsupported media type: send the content type the operation names",
    422: "Invalid request: the problem's errors name each field",
    429: "Too many requests", 503: "Not ready, or a service it needs is unavailable: retry later",
}

PROBLEM_SCHEMA: dict[str, Any] = {
    "title": "Problem",
    "type": "object",
    "description": "An error, as RFC 9457 problem details. `errors` names each field at fault.",
    "required": ["type", "title", "status"],
    "properties": {
        "type": {"type": "string", "description": "A URI for the kind of problem; about:blank when the status says "
                 "it all"},
        "title": {"type": "string"},
        "status": {"type": "integer"},
        "detail": {"type": "string", "description": "What was wrong, for the person reading it"},
        "instance": {"type": "string", "description": "The path that answered"},
        "errors": {"type": "array", "items": {
            "type": "object", "required": ["field", "message"],
            "properties": {"field": {"type": "string"}, "message": {"type": "string"}}}},
    },
}

# Models named by hand in a route's openapi_extra (see request_body), by schema name.
_named_models: dict[str, type[BaseModel]] = {}


def answers(*statuses: int) -> Callable[[F], F]:
    """Mark a route function, or a dependency, with the problem statuses it answers besides the automatic ones."""

    def mark(function: F) -> F:
        setattr(function, _ATTRIBUTE, tuple(sorted({*getattr(function, _ATTRIBUTE, ()), *statuses})))
        return function

    return mark


def request_body(content: Mapping[str, type[BaseModel] | dict[str, Any]], *, required: bool = True
                 ) -> dict[str, Any]:
    """``openapi_extra`` for a route that reads its body itself: media type -> a model, or a JSON schema."""
    documented: dict[str, Any] = {}
    for media_type, shape in content.items():
        if isinstance(shape, dict):
            documented[media_type] = {"schema": shape}
        else:
            _named_models[shape.__name__] = shape
            documented[media_type] = {"schema": {"$ref": _REF + shape.__name__}}
    return {"requestBody": {"required": required, "content": documented}}


def problem_response(status: int) -> dict[str, Any]:
    return {"description": TITLES.get(status, "Error"),
            "content": {PROBLEM_JSON: {"schema": {"$ref": _REF + "Problem"}}}}


def _calls(dependant: Dependant) -> Iterator[Callable[..., Any]]:
    if dependant.call is not None:
        yield dependant.call
    for sub in dependant.dependencies:
        yield from _calls(sub)


def declared_answers(route: Any) -> set[int]:
    """What the route and its dependencies declare with ``@answers`` (``route`` as ``route_views`` gives it)."""
    found: set[int] = set(getattr(route.endpoint, _ATTRIBUTE, ()))
    dependant = getattr(route, "dependant", None)
    for call in _calls(dependant) if dependant is not None else ():
        found.update(getattr(call, _ATTRIBUTE, ()))
    return found


def _add_named_models(document: dict[str, Any]) -> None:
    schemas = document.setdefault("components", {}).setdefault("schemas", {})
    for name, model in _named_models.items():
        if name in schemas:
            continue
        generated = model.model_json_schema(ref_template=_REF + "{model}", mode="validation")
        for sub_name, sub_schema in generated.pop("$defs", {}).items():
            schemas.setdefault(sub_name, sub_schema)
        schemas[name] = generated


def _refs(node: Any) -> Iterator[str]:
    if isinstance(node, dict):
        for key, value in node.items():
            if key == "$ref" and isinstance(value, str):
                yield value
            else:
                yield from _refs(value)
    elif isinstance(node, list):
        for value in node:
            yield from _refs(value)


def complete_openapi(document: dict[str, Any], routes: Sequence[BaseRoute], *, gated_prefixes: tuple[str, ...] = (),
                     public_paths: frozenset[str] = frozenset(),
                     body_limit: Callable[[Any], int] | None = None) -> dict[str, Any]:
    """The document with every problem answer declared (see the module's docstring). Returns a new dict."""
    document = copy.deepcopy(document)
    _add_named_models(document)
    document["components"]["schemas"]["Problem"] = PROBLEM_SCHEMA
    paths: dict[str, dict[str, Any]] = document.get("paths", {})
    for route in route_views(routes):
        if not is_api_route(route) or not route.include_in_schema or route.path_format not in paths:
            continue
        for method in sorted(m.lower() for m in route.methods or ()):
            operation = paths[route.path_format].get(method)
            if operation is None:
                continue
            statuses = declared_answers(route)
            has_body = "requestBody" in operation
            parameters = operation.get("parameters", [])
            if any(p.get("in") == "path" for p in parameters):
                statuses.add(404)
            if has_body:
                statuses.update((400, 413, 422))
                if route.path_format.startswith(gated_prefixes) and route.path_format not in public_paths:
                    statuses.add(401)
                if body_limit is not None:
                    operation["x-max-body-bytes"] = body_limit(route)
            if parameters:
                statuses.add(422)
            if method in WRITE_METHODS:
                statuses.add(409)
            responses = operation.setdefault("responses", {})
            for status in sorted(statuses):
                current = responses.get(str(status))
                if current is None or status == 422 or PROBLEM_JSON not in current.get("content", {}):
                    responses[str(status)] = problem_response(status)
    schemas = document["components"]["schemas"]
    used = {ref.removeprefix(_REF) for ref in _refs({k: v for k, v in document.items() if k != "components"})}
    used |= {ref.removeprefix(_REF) for ref in _refs(schemas)}
    for unused in ("HTTPValidationError", "ValidationError"):
        if unused in schemas and unused not in used:
            del schemas[unused]
    return document


def install_openapi(app: FastAPI, *, gated_prefixes: tuple[str, ...] = (), public_paths: frozenset[str] = frozenset(),
                    body_limit: Callable[[Any], int] | None = None) -> None:
    """Serve the completed document at the app's ``openapi_url`` (and to /docs)."""
    generate = app.openapi
    done: dict[int, dict[str, Any]] = {}

    def openapi() -> dict[str, Any]:
        generated = generate()
        if id(generated) not in done:
            done.clear()
            done[id(generated)] = complete_openapi(generated, app.routes, gated_prefixes=gated_prefixes,
                                                   public_paths=public_paths, body_limit=body_limit)
        return done[id(generated)]

    app.openapi = openapi  # type: ignore[method-assign]


__all__ = ["PROBLEM_SCHEMA", "answers", "complete_openapi", "declared_answers", "install_openapi", "problem_response",
           "request_body"]

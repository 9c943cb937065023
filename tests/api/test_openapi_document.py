"""The OpenAPI document is valid, complete, and says what each route answers, so that client generators work on it."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from fastapi.testclient import TestClient
from openapi_spec_validator import validate

from firebreak.bootstrap.http import GATED_PREFIXES, create_app
from firebreak.bootstrap.system import build_system
from firebreak.core.config import Settings
from firebreak.core.http.params import DB_INT_MAX
from firebreak.reports import api as reports_api

PROBLEM = "application/problem+json"
METHODS = ("get", "put", "post", "delete", "patch")


@pytest.fixture(scope="module")
def document(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    from firebreak.core.config import load_settings

    settings: Settings = load_settings(environ={}, data_dir=tmp_path_factory.mktemp("var"), queue_url="memory://")
    system = build_system(settings)
    try:
        with TestClient(create_app(system)) as client:
            response = client.get("/openapi.json")
            assert response.status_code == 200
            found: dict[str, Any] = response.json()
            return found
    finally:
        system.close()


def operations(document: dict[str, Any]) -> Iterator[tuple[str, str, dict[str, Any]]]:
    for path, item in document["paths"].items():
        for method in METHODS:
            if method in item:
                yield path, method, item[method]


def refs(node: Any) -> Iterator[str]:
    if isinstance(node, dict):
        for key, value in node.items():
            if key == "$ref":
                yield value
            else:
                yield from refs(value)
    elif isinstance(node, list):
        for value in node:
            yield from refs(value)


def test_document_is_valid_openapi(document: dict[str, Any]) -> None:
    validate(document)  # raises, naming the first place that is wrong


def test_every_reference_resolves(document: dict[str, Any]) -> None:
    schemas = document["components"]["schemas"]
    missing = sorted({r for r in refs(document) if r.removeprefix("#/components/schemas/") not in schemas})
    assert missing == []
    scan = document["paths"]["/v1/scan"]["post"]["requestBody"]["content"]
    assert scan["application/json"]["schema"] == {"$ref": "#/components/schemas/ScanSignalsRequest"}
    assert schemas["ScanSignalsRequest"]["properties"]["signals"]["items"] == {"$ref": "#/components/schemas/SignalIn"}
    assert "application/octet-stream" in scan
    events = document["paths"]["/v1/events"]["post"]["requestBody"]["content"]["application/json"]
    assert events["schema"] == {"$ref": "#/components/schemas/PlatformEvent"}


def _problem_statuses(operation: dict[str, Any]) -> set[int]:
    found = set()
    for status, response in operation["responses"].items():
        content = response.get("content", {})
        if PROBLEM in content:
            assert content[PROBLEM]["schema"] == {"$ref": "#/components/schemas/Problem"}
            found.add(int(status))
    return found


def test_every_operation_declares_its_problem_answers(document: dict[str, Any]) -> None:
    wrong: list[str] = []
    for path, method, operation in operations(document):
        declared = _problem_statuses(operation)
        expected: set[int] = set()
        if path.startswith(GATED_PREFIXES) and path not in ("/v1/version", *reports_api.PUBLIC_PATHS):
            expected.add(401)  # a token (or a signature) is needed
        if "{" in path:
            expected.add(404)
        if method != "get":
            expected.add(409)
        if "requestBody" in operation:
            expected.update((413, 422))
        if operation.get("parameters"):
            expected.add(422)
        if not expected <= declared:
            wrong.append(f"{method.upper()} {path}: missing {sorted(expected - declared)}")
        # A 422 is a problem too, never FastAPI's HTTPValidationError.
        if "422" in operation["responses"]:
            assert PROBLEM in operation["responses"]["422"]["content"], f"{method} {path}"
    assert wrong == []
    assert "HTTPValidationError" not in document["components"]["schemas"]
    problem = document["components"]["schemas"]["Problem"]
    assert problem["required"] == ["type", "title", "status"]


def test_staff_routes_declare_403_and_bodies_their_limit(document: dict[str, Any]) -> None:
    audit = document["paths"]["/v1/audit/verify"]["get"]
    assert {401, 403} <= _problem_statuses(audit)
    orders = document["paths"]["/v1/orders"]["post"]
    assert {401, 403, 409, 413, 422} <= _problem_statuses(orders)
    assert orders["x-max-body-bytes"] > document["paths"]["/v1/authorities"]["post"]["x-max-body-bytes"]
    for path, method, operation in operations(document):
        if "requestBody" in operation:
            assert operation["x-max-body-bytes"] >= 1024, f"{method} {path}"


def _integer_nodes(node: Any, where: str, schemas: dict[str, Any], seen: set[str]) -> Iterator[tuple[str, Any]]:
    if isinstance(node, dict):
        if "$ref" in node:
            name = node["$ref"].removeprefix("#/components/schemas/")
            if name not in seen:
                seen.add(name)
                yield from _integer_nodes(schemas[name], name, schemas, seen)
            return
        if node.get("type") == "integer":
            yield where, node
        for key, value in node.items():
            yield from _integer_nodes(value, f"{where}.{key}", schemas, seen)
    elif isinstance(node, list):
        for value in node:
            yield from _integer_nodes(value, where, schemas, seen)


def test_every_integer_a_client_sends_is_bounded_to_bigint(document: dict[str, Any]) -> None:
    """Ids and numbers of 2^63 or more used to reach the database and fail with 500."""
    schemas = document["components"]["schemas"]
    unbounded: list[str] = []
    for path, method, operation in operations(document):
        inputs = [operation.get("parameters", []), operation.get("requestBody", {})]
        for where, node in _integer_nodes(inputs, f"{method.upper()} {path}", schemas, set()):
            below = node.get("maximum", DB_INT_MAX + 1) <= DB_INT_MAX or node.get("exclusiveMaximum",
                                                                                      2**64) <= DB_INT_MAX + 1
            if not (below and ("minimum" in node or "exclusiveMinimum" in node)):
                unbounded.append(where)
    assert unbounded == []

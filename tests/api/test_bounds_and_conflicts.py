"""Hostile numbers and names: ids of 2^63 and more, names that differ only by case (in any script), and a unique
value taken behind a check's back. Each is a clear 4xx naming the field, never a 500, on SQLite and PostgreSQL."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from fastapi import APIRouter
from fastapi.testclient import TestClient

from firebreak.auth import service as auth_service
from firebreak.auth.models import CredentialScope, Role
from firebreak.banks.models import Bank
from firebreak.bootstrap.http import create_app
from firebreak.bootstrap.system import System
from firebreak.core.http.deps import SessionDep
from firebreak.platform.models import PlatformIntegration

HUGE = (2**63, 2**64, 10**30)


@pytest.fixture
def client(system: System) -> Iterator[TestClient]:
    with TestClient(create_app(system), raise_server_exceptions=False) as c:
        yield c


@pytest.fixture
def admin(system: System) -> dict[str, str]:
    with system.db.transaction() as session:
        user = auth_service.create_staff_user(session=session, clock=system.clock, actor="test", username="admin",
                                              password="a long password!", role=Role.ADMIN)
        token = auth_service.issue_token(session=session, clock=system.clock, actor="test", name="t",
                                         scope=CredentialScope.STAFF, staff_user_id=user.id).token
    return {"Authorization": f"Bearer {token}"}


def problem(response: Any, status: int) -> dict[str, object]:
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == "application/problem+json"
    found: dict[str, object] = response.json()
    return found


@pytest.mark.parametrize("number", HUGE)
def test_ids_beyond_64_bits_are_invalid_input_not_server_errors(client: TestClient, admin: dict[str, str],
                                                                number: int) -> None:
    client.post("/v1/banks", headers=admin, json={"name": "b"})
    for method, path in (("GET", f"/v1/authorities/{number}"), ("POST", f"/v1/authorities/{number}/deactivate"),
                         ("POST", f"/v1/authorities/{number}/reactivate"),
                         ("GET", f"/v1/authorities/1/contacts/{number}/x"),
                         ("POST", f"/v1/authorities/1/tokens/{number}/revoke"),
                         ("GET", f"/v1/media/{number}/spread"), ("GET", f"/v1/bank-entries/{number}/spread"),
                         ("GET", f"/v1/bank-entries/{number}/propagation"),
                         ("POST", f"/v1/banks/b/entries/{number}/disable"), ("DELETE", f"/c/bank/b/content/{number}"),
                         ("GET", f"/v1/actions?after_id={number}"), ("GET", f"/v1/banks/b/entries?after_id={number}")):
        response = client.request(method, path, headers=admin)
        assert response.status_code in (404, 405, 422), f"{method} {path}: {response.status_code} {response.text}"
        if response.status_code == 422:
            body = problem(response, 422)
            assert any(name in str(body["detail"]) for name in ("_id", "after_id")), body
    # In a body too: the authority of an unverified order.
    response = client.post("/v1/orders/FB-0000-XXXXXX/review", headers=admin,
                           json={"approve": True, "authority_id": number})
    assert problem(response, 422)["errors"] == [{"field": "authority_id", "message": response.json()["errors"][0][
        "message"]}]


def test_the_largest_id_is_merely_not_found(client: TestClient, admin: dict[str, str]) -> None:
    assert problem(client.get(f"/v1/authorities/{2**63 - 1}", headers=admin), 404)["detail"] == (
        f"no authority with id {2**63 - 1}")
    problem(client.get("/v1/authorities/0", headers=admin), 422)
    problem(client.get("/v1/authorities/-1", headers=admin), 422)


AUTHORITY = {"country": "AT", "jurisdiction": "Austria"}


@pytest.mark.parametrize(("first", "second"), [
    ("ÄMT für Jugendschutz", "ÄMT für Jugendschutz"),  # the very same name: used to pass the check on SQLite, then 500
    ("ÄMT für Jugendschutz", "ämt FÜR jugendschutz"),
    ("Straßenverkehrsbehörde", "STRASSENVERKEHRSBEHÖRDE"),  # full case folding: ß is ss
    ("ΣΩΜΑ Ελέγχου", "σωμα ελέγχου"),
    ("Office  Central", "office central"),  # white space
])
def test_authority_names_are_unique_whatever_their_case(client: TestClient, admin: dict[str, str], first: str,
                                                        second: str) -> None:
    created = client.post("/v1/authorities", headers=admin, json={"name": first, **AUTHORITY})
    assert created.status_code == 201, created.text
    body = problem(client.post("/v1/authorities", headers=admin, json={"name": second, **AUTHORITY}), 409)
    assert body["errors"] == [{"field": "name", "message": f"an authority named {first!r} already exists"}]
    # Renaming another authority to it is refused the same way.
    other = client.post("/v1/authorities", headers=admin, json={"name": "Another office", **AUTHORITY}).json()
    problem(client.patch(f"/v1/authorities/{other['id']}", headers=admin, json={"name": second}), 409)
    # Renaming an authority to its own name in another case is fine.
    renamed = client.patch(f"/v1/authorities/{created.json()['id']}", headers=admin, json={"name": second})
    assert renamed.status_code == 200 and renamed.json()["name"] == second.strip()


def test_bank_names_are_unique_whatever_their_case(client: TestClient, admin: dict[str, str]) -> None:
    assert client.post("/v1/banks", headers=admin, json={"name": "CSAM-hashes"}).status_code == 201
    body = problem(client.post("/v1/banks", headers=admin, json={"name": "csam-HASHES"}), 409)
    assert "CSAM-hashes" in str(body["detail"])
    assert client.get("/v1/banks/CSAM-hashes", headers=admin).status_code == 200


def test_staff_usernames_are_unique_whatever_their_case(system: System) -> None:
    with system.db.transaction() as session:
        auth_service.create_staff_user(session=session, clock=system.clock, actor="test", username="Łukasz",
                                       password="a long password!", role=Role.MODERATOR)
        with pytest.raises(auth_service.AuthError, match="Łukasz"):
            auth_service.create_staff_user(session=session, clock=system.clock, actor="test", username="łUKASZ",
                                           password="a long password!", role=Role.MODERATOR)


def test_a_unique_value_taken_behind_the_check_is_a_409_naming_the_field(system: System) -> None:
    """Two writes that each passed their check (a race): the database refuses the second, the client gets 409."""
    app = create_app(system)
    router = APIRouter()

    @router.post("/test/race/{kind}")
    def race(kind: str, session: SessionDep) -> dict[str, str]:
        if kind == "bank":
            session.add_all([Bank(name="Hashes", created_at=system.clock.now()),
                             Bank(name="HASHES", created_at=system.clock.now())])
        else:
            session.add_all([PlatformIntegration(name="Matrix", adapter="matrix", created_at=system.clock.now()),
                             PlatformIntegration(name="matrix", adapter="matrix", created_at=system.clock.now())])
        session.flush()
        return {}

    app.include_router(router)
    with TestClient(app, raise_server_exceptions=False) as client:
        for kind in ("bank", "integration"):
            body = problem(client.post(f"/test/race/{kind}"), 409)
            assert body["errors"] == [{"field": "name", "message": "already taken"}]
            assert "name is already taken" in str(body["detail"])
    with system.db.sessions() as session:
        assert session.query(Bank).count() == 0  # nothing was written

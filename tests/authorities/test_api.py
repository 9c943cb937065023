"""The registry over HTTP: admins write, liaison and auditors read, an authority sees only itself."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from fastapi.testclient import TestClient

from firebreak.auth.models import Role

BKA: dict[str, Any] = {"name": "Bundeskriminalamt", "country": "DE", "jurisdiction": "Germany",
                       "legal_bases": ["TCO Regulation (EU) 2021/784"], "mail_domains": ["bka.example"],
                       "notes": "staff only"}
PASSWORD = "correct horse battery staple"


def auth(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def test_admin_creates_and_staff_read(client: TestClient, staff_token: Callable[[Role], str]) -> None:
    admin, liaison, auditor = staff_token(Role.ADMIN), staff_token(Role.LIAISON), staff_token(Role.AUDITOR)
    r = client.post("/v1/authorities", json=BKA, headers=auth(admin))
    assert r.status_code == 201, r.text
    created = r.json()
    assert created["default_deadlines"]["terrorist_content"] == 3600 and created["trust_level"] == "standard"
    for reader in (liaison, auditor, admin):
        assert client.get(f"/v1/authorities/{created['id']}", headers=auth(reader)).json()["name"] == BKA["name"]
        assert [a["id"] for a in client.get("/v1/authorities", headers=auth(reader)).json()] == [created["id"]]
    r = client.patch(f"/v1/authorities/{created['id']}", json={"default_deadlines": {"ncii": 3600}},
                     headers=auth(admin))
    assert r.status_code == 200 and r.json()["default_deadlines"]["ncii"] == 3600
    assert r.json()["default_deadlines"]["csam"] == 86400
    categories = client.get("/v1/authorities/categories", headers=auth(liaison)).json()
    assert {c["name"]: c["statement_category"] for c in categories}["ncii"] == "STATEMENT_CATEGORY_CYBER_VIOLENCE"


def test_moderator_may_not_write_or_read(client: TestClient, staff_token: Callable[[Role], str]) -> None:
    moderator, liaison = staff_token(Role.MODERATOR), staff_token(Role.LIAISON)
    assert client.post("/v1/authorities", json=BKA, headers=auth(moderator)).status_code == 403
    assert client.post("/v1/authorities", json=BKA, headers=auth(liaison)).status_code == 403
    assert client.get("/v1/authorities", headers=auth(moderator)).status_code == 403
    assert client.post("/v1/authorities", json=BKA).status_code == 401


def test_bad_country_is_422_naming_the_field(client: TestClient, staff_token: Callable[[Role], str]) -> None:
    admin = staff_token(Role.ADMIN)
    r = client.post("/v1/authorities", json={**BKA, "country": "XX"}, headers=auth(admin))
    assert r.status_code == 422
    assert r.headers["content-type"].startswith("application/problem+json")
    body = r.json()
    assert [e["field"] for e in body["errors"]] == ["country"] and "country" in body["detail"]
    r = client.post("/v1/authorities", json={**BKA, "trusted_categories": ["csam"]}, headers=auth(admin))
    assert r.status_code == 422 and r.json()["errors"][0]["field"] == "trusted_categories"


def test_conflicts_and_unknown_ids(client: TestClient, staff_token: Callable[[Role], str]) -> None:
    admin = staff_token(Role.ADMIN)
    first = client.post("/v1/authorities", json=BKA, headers=auth(admin)).json()
    r = client.post("/v1/authorities", json={**BKA, "name": "Other"}, headers=auth(admin))
    assert r.status_code == 409 and r.json()["errors"][0]["field"] == "mail_domains"
    assert client.get("/v1/authorities/999999", headers=auth(admin)).status_code == 404
    r = client.patch(f"/v1/authorities/{first['id']}", json={"name": None}, headers=auth(admin))
    assert r.status_code == 422 and r.json()["errors"][0]["field"] == "name"


def test_contacts_and_tokens(client: TestClient, staff_token: Callable[[Role], str]) -> None:
    admin, auditor = staff_token(Role.ADMIN), staff_token(Role.AUDITOR)
    bka = client.post("/v1/authorities", json=BKA, headers=auth(admin)).json()
    other = client.post("/v1/authorities", json={**BKA, "name": "Ofcom", "country": "GB", "mail_domains": []},
                        headers=auth(admin)).json()
    base = f"/v1/authorities/{bka['id']}"
    r = client.post(f"{base}/contacts", json={"name": "Jana", "email": "Jana@BKA.example", "password": PASSWORD},
                    headers=auth(admin))
    assert r.status_code == 201, r.text
    contact = r.json()
    assert contact["email"] == "jana@bka.example" and contact["has_password"] is True
    assert "password_hash" not in contact and "password" not in contact
    r = client.post(f"{base}/contacts", json={"name": "Weak", "email": "weak@bka.example", "password": "short"},
                    headers=auth(admin))
    assert r.status_code == 422 and r.json()["errors"][0]["field"] == "password"
    assert client.post(f"{base}/contacts", json={"name": "Again", "email": "jana@bka.example"},
                       headers=auth(admin)).status_code == 409
    assert client.get(f"{base}/contacts", headers=auth(auditor)).json()[0]["name"] == "Jana"
    # Another authority's contact is not reachable through this one.
    r = client.post(f"/v1/authorities/{other['id']}/contacts/{contact['id']}/deactivate", headers=auth(admin))
    assert r.status_code == 404
    r = client.put(f"{base}/contacts/{contact['id']}/password", json={"password": "a new long passphrase"},
                   headers=auth(admin))
    assert r.status_code == 204

    r = client.post(f"{base}/tokens", json={"name": "case system"}, headers=auth(admin))
    assert r.status_code == 201 and r.headers["cache-control"] == "no-store"
    token = r.json()["token"]
    assert token.startswith("fbk_")
    listed = client.get(f"{base}/tokens", headers=auth(admin)).json()
    assert [t["id"] for t in listed] == [r.json()["id"]] and "token" not in listed[0]
    assert client.get(f"{base}/tokens", headers=auth(auditor)).status_code == 403
    assert client.get("/v1/authorities/me", headers=auth(token)).status_code == 200
    r = client.post(f"{base}/tokens/{listed[0]['id']}/revoke", headers=auth(admin))
    assert r.status_code == 200 and r.json()["revoked_at"] is not None
    assert client.get("/v1/authorities/me", headers=auth(token)).status_code == 401


def test_an_authority_token_sees_only_its_own_record(client: TestClient,
                                                     staff_token: Callable[[Role], str]) -> None:
    admin = staff_token(Role.ADMIN)
    bka = client.post("/v1/authorities", json=BKA, headers=auth(admin)).json()
    ofcom = client.post("/v1/authorities", json={**BKA, "name": "Ofcom", "country": "GB", "mail_domains": []},
                        headers=auth(admin)).json()
    client.post(f"/v1/authorities/{ofcom['id']}/contacts", json={"name": "Ofcom officer",
                                                                 "email": "o@ofcom.example"}, headers=auth(admin))
    token = client.post(f"/v1/authorities/{bka['id']}/tokens", json={"name": "api"}, headers=auth(admin)).json()
    mine = auth(token["token"])
    r = client.get("/v1/authorities/me", headers=mine)
    assert r.status_code == 200
    me = r.json()
    assert me["id"] == bka["id"] and me["name"] == "Bundeskriminalamt"
    assert "notes" not in me and "trust_level" not in me and "Ofcom" not in r.text
    for path in ("/v1/authorities", f"/v1/authorities/{ofcom['id']}", f"/v1/authorities/{bka['id']}",
                 f"/v1/authorities/{ofcom['id']}/contacts", "/v1/authorities/categories"):
        assert client.get(path, headers=mine).status_code == 403, path
    assert client.post("/v1/authorities", json={**BKA, "name": "Mine"}, headers=mine).status_code == 403
    assert client.get("/v1/authorities/me", headers=auth(admin)).status_code == 403


def test_deactivation_revokes_tokens(client: TestClient, staff_token: Callable[[Role], str]) -> None:
    admin = staff_token(Role.ADMIN)
    bka = client.post("/v1/authorities", json=BKA, headers=auth(admin)).json()
    token = client.post(f"/v1/authorities/{bka['id']}/tokens", json={"name": "api"}, headers=auth(admin)).json()
    r = client.post(f"/v1/authorities/{bka['id']}/deactivate", headers=auth(admin))
    assert r.status_code == 200 and r.json()["is_active"] is False
    assert client.get("/v1/authorities/me", headers=auth(token["token"])).status_code == 401
    r = client.post(f"/v1/authorities/{bka['id']}/tokens", json={"name": "again"}, headers=auth(admin))
    assert r.status_code == 422 and r.json()["errors"][0]["field"] == "authority"
    assert client.post(f"/v1/authorities/{bka['id']}/reactivate", headers=auth(admin)).json()["is_active"] is True

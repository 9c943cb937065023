"""Banks over HTTP: who may do what, bad input named, and entries changing what the upload check says."""

from __future__ import annotations

import time
from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from firebreak.audit.models import AuditEvent
from firebreak.auth import service as auth_service
from firebreak.auth.models import CredentialScope, Role
from firebreak.banks.models import Bank
from firebreak.bootstrap.http import create_app
from firebreak.bootstrap.system import System
from firebreak.matching.service import SYNC_INTERVAL
from firebreak.signals.hashing import hash_bytes
from tests.support import copies_of, jpeg, photo


@pytest.fixture
def client(system: System) -> Iterator[TestClient]:
    with TestClient(create_app(system), raise_server_exceptions=False) as c:
        yield c


def staff(system: System, role: Role) -> dict[str, str]:
    with system.db.transaction() as session:
        user = auth_service.create_staff_user(session=session, clock=system.clock, actor="test",
                                              username=f"{role.value}-user", password="a long password!", role=role)
        token = auth_service.issue_token(session=session, clock=system.clock, actor="test", name="t",
                                         scope=CredentialScope.STAFF, staff_user_id=user.id).token
    return {"Authorization": f"Bearer {token}"}


def platform_token(system: System) -> dict[str, str]:
    integration = system.gateway.ensure_integration(name="shop", adapter="webhook")
    with system.db.transaction() as session:
        token = auth_service.issue_token(session=session, clock=system.clock, actor="test", name="platform",
                                         scope=CredentialScope.PLATFORM, integration_id=integration.id).token
    return {"Authorization": f"Bearer {token}"}


@pytest.fixture
def admin(system: System) -> dict[str, str]:
    return staff(system, Role.ADMIN)


@pytest.fixture
def moderator(system: System) -> dict[str, str]:
    return staff(system, Role.MODERATOR)


@pytest.fixture
def platform(system: System) -> dict[str, str]:
    return platform_token(system)


def settle() -> None:
    """New PDQ entries reach the matching index within SYNC_INTERVAL of their commit (the documented promise)."""
    time.sleep(SYNC_INTERVAL + 0.05)


def scan(client: TestClient, platform: dict[str, str], data: bytes, jurisdiction: str | None = None) -> str:
    url = "/v1/scan" + (f"?jurisdiction={jurisdiction}" if jurisdiction else "")
    r = client.post(url, content=data, headers={**platform, "Content-Type": "application/octet-stream"})
    assert r.status_code == 200, r.text
    return str(r.json()["verdict"])


def scan_pdq(client: TestClient, platform: dict[str, str], pdq: str) -> str:
    r = client.post("/v1/scan", json={"signals": [{"signal_type": "pdq", "value": pdq}]}, headers=platform)
    assert r.status_code == 200, r.text
    return str(r.json()["verdict"])


def test_admin_creates_banks_and_staff_read_them(system: System, client: TestClient,
                                                 admin: dict[str, str]) -> None:
    body = {"name": "ncii-stopncii", "description": "StopNCII hashes", "action": "block",
            "jurisdictions": ["DE", "FR"], "pdq_distance": 20, "policy_category": "ncii"}
    r = client.post("/v1/banks", json=body, headers=admin)
    assert r.status_code == 201, r.text
    created = r.json()
    assert {k: created[k] for k in body} == body and created["enabled"] is True
    auditor = staff(system, Role.AUDITOR)
    assert [b["name"] for b in client.get("/v1/banks", headers=auditor).json()] == ["ncii-stopncii"]
    assert client.get("/v1/banks/ncii-stopncii", headers=auditor).json()["id"] == created["id"]
    assert client.get("/v1/banks/missing", headers=auditor).status_code == 404
    with system.db.sessions() as session:
        events = session.scalars(select(AuditEvent.action).where(AuditEvent.action == "bank.created")).all()
    assert events == ["bank.created"]


def test_only_admins_create_or_configure_banks(system: System, client: TestClient, admin: dict[str, str],
                                               moderator: dict[str, str]) -> None:
    for who in (moderator, staff(system, Role.LIAISON), staff(system, Role.AUDITOR), platform_token(system)):
        r = client.post("/v1/banks", json={"name": "mine"}, headers=who)
        assert r.status_code == 403, r.text
    assert client.post("/v1/banks", json={"name": "mine"}).status_code == 401
    assert client.post("/v1/banks", json={"name": "shared"}, headers=admin).status_code == 201
    assert client.patch("/v1/banks/shared", json={"action": "block"}, headers=moderator).status_code == 403
    with system.db.sessions() as session:
        assert session.scalars(select(Bank.name)).all() == ["shared"]


def test_duplicate_name_is_a_conflict(client: TestClient, admin: dict[str, str]) -> None:
    assert client.post("/v1/banks", json={"name": "orders"}, headers=admin).status_code == 201
    r = client.post("/v1/banks", json={"name": "orders", "action": "block"}, headers=admin)
    assert r.status_code == 409
    assert r.headers["content-type"].startswith("application/problem+json")
    assert "orders" in r.json()["detail"]


@pytest.mark.parametrize(("body", "field"), [
    ({"name": "has space"}, "name"),
    ({"name": "-leading-dash"}, "name"),
    ({"name": ""}, "name"),
    ({"name": "x" * 101}, "name"),
    ({"name": "ok", "jurisdictions": ["Germany"]}, "jurisdictions.0"),
    ({"name": "ok", "jurisdictions": ["DE", "fr"]}, "jurisdictions.1"),
    ({"name": "ok", "pdq_distance": 65}, "pdq_distance"),
    ({"name": "ok", "action": "delete"}, "action"),
    ({"name": "ok", "colour": "red"}, "colour"),
])
def test_bad_bank_is_refused_naming_the_field(system: System, client: TestClient, admin: dict[str, str],
                                              body: dict[str, object], field: str) -> None:
    r = client.post("/v1/banks", json=body, headers=admin)
    assert r.status_code == 422, r.text
    assert r.headers["content-type"].startswith("application/problem+json")
    assert field in [e["field"] for e in r.json()["errors"]], r.json()
    with system.db.sessions() as session:
        assert session.scalar(select(Bank)) is None


@pytest.mark.parametrize(("body", "field"), [
    ({"action": None}, "action"),
    ({"enabled": None}, "enabled"),
    ({"pdq_distance": None}, "pdq_distance"),
    ({"jurisdictions": None}, "jurisdictions"),
    ({"jurisdictions": ["xx"]}, "jurisdictions.0"),
])
def test_bad_bank_update_is_refused_naming_the_field(client: TestClient, admin: dict[str, str],
                                                     body: dict[str, object], field: str) -> None:
    assert client.post("/v1/banks", json={"name": "b", "action": "block"}, headers=admin).status_code == 201
    r = client.patch("/v1/banks/b", json=body, headers=admin)
    assert r.status_code == 422, r.text
    assert field in [e["field"] for e in r.json()["errors"]], r.json()
    assert client.get("/v1/banks/b", headers=admin).json()["action"] == "block"
    # Clearing what may be empty is fine.
    r = client.patch("/v1/banks/b", json={"description": None, "policy_category": None}, headers=admin)
    assert r.status_code == 200 and r.json()["description"] is None


def _bank_photo(client: TestClient, who: dict[str, str], bank: str, data: bytes) -> dict[str, int]:
    """Bank a file's SHA-256, MD5 and PDQ as a moderator would, by hand; returns entry ids by signal type."""
    h = hash_bytes(data)
    ids = {}
    for signal_type, value in (("sha256", h.sha256), ("md5", h.md5), ("pdq", h.pdq.value)):
        r = client.post(f"/v1/banks/{bank}/entries", json={"signal_type": signal_type.upper(), "value": value,
                                                           "note": "confirmed by review"}, headers=who)
        assert r.status_code == 201, r.text
        assert r.json()["signal_type"] == signal_type and r.json()["status"] == "active"
        ids[signal_type] = r.json()["id"]
    return ids


def _set(client: TestClient, who: dict[str, str], bank: str, entry_ids: dict[str, int], status: str) -> None:
    for entry_id in entry_ids.values():
        r = client.post(f"/v1/banks/{bank}/entries/{entry_id}/{status}", headers=who)
        assert r.status_code == 200, r.text
        assert r.json()["status"] == {"disable": "disabled", "withdraw": "withdrawn", "enable": "active"}[status]


def test_entry_status_changes_what_the_upload_check_says(system: System, client: TestClient,
                                                         admin: dict[str, str], moderator: dict[str, str],
                                                         platform: dict[str, str]) -> None:
    original = photo("rocket")
    data, copy = jpeg(original), copies_of(original)["half_size"]
    assert client.post("/v1/banks", json={"name": "confirmed", "action": "block"}, headers=admin).status_code == 201
    assert scan(client, platform, data) == "allow"

    ids = _bank_photo(client, moderator, "confirmed", data)
    settle()
    assert scan(client, platform, data) == "block"
    assert scan(client, platform, copy) == "block"  # a resized copy: PDQ
    r = client.post("/v1/scan", content=copy, headers={**platform, "Content-Type": "application/octet-stream"})
    assert {(m["bank"], m["signal_type"]) for m in r.json()["matches"]} == {("confirmed", "pdq")}
    assert scan(client, platform, jpeg(photo("coffee"))) == "allow"

    _set(client, moderator, "confirmed", ids, "disable")
    assert (scan(client, platform, data), scan(client, platform, copy)) == ("allow", "allow")
    _set(client, moderator, "confirmed", ids, "enable")
    assert (scan(client, platform, data), scan(client, platform, copy)) == ("block", "block")
    _set(client, moderator, "confirmed", ids, "withdraw")
    assert (scan(client, platform, data), scan(client, platform, copy)) == ("allow", "allow")

    listed = client.get("/v1/banks/confirmed/entries?status=withdrawn", headers=moderator).json()
    assert sorted(e["id"] for e in listed) == sorted(ids.values())
    assert client.get("/v1/banks/confirmed/entries?status=active", headers=moderator).json() == []
    with system.db.sessions() as session:
        actions = session.scalars(select(AuditEvent.action).where(AuditEvent.object_type == "bank_entry")).all()
    assert actions.count("bank_entry.added") == 3 and actions.count("bank_entry.withdrawn") == 3


def test_bank_settings_change_what_the_upload_check_says(client: TestClient, admin: dict[str, str],
                                                         moderator: dict[str, str], platform: dict[str, str]) -> None:
    original = photo("chelsea")
    h = hash_bytes(jpeg(original))
    copy = copies_of(original)["half_size"]  # 2 bits away from the original
    assert client.post("/v1/banks", json={"name": "de-only", "action": "block", "jurisdictions": ["DE"]},
                       headers=admin).status_code == 201
    r = client.post("/v1/banks/de-only/entries", json={"signal_type": "pdq", "value": h.pdq.value}, headers=moderator)
    assert r.status_code == 201
    settle()
    assert scan(client, platform, copy) == "block"  # no jurisdiction given: every bank applies
    assert scan(client, platform, copy, jurisdiction="de") == "block"
    assert scan(client, platform, copy, jurisdiction="FR") == "allow"
    assert client.patch("/v1/banks/de-only", json={"action": "review"}, headers=admin).json()["action"] == "review"
    assert scan(client, platform, copy) == "review"
    assert client.patch("/v1/banks/de-only", json={"enabled": False}, headers=admin).status_code == 200
    assert scan(client, platform, copy) == "allow"
    assert client.patch("/v1/banks/de-only", json={"enabled": True, "pdq_distance": 0},
                        headers=admin).status_code == 200
    assert scan_pdq(client, platform, h.pdq.value) == "review"  # the very hash still matches at distance 0
    assert scan(client, platform, copy) == "allow"  # the resized copy is 2 bits away


@pytest.mark.parametrize(("body", "field"), [
    ({"signal_type": "pdq", "value": "abc"}, "value"),
    ({"signal_type": "pdq", "value": "z" * 64}, "value"),
    ({"signal_type": "photodna", "value": "a" * 64}, "value"),
    ({"signal_type": "md5"}, "value"),
    ({"signal_type": "md5", "value": "a" * 32, "quality": 101}, "quality"),
])
def test_bad_entry_is_refused_naming_the_field(system: System, client: TestClient, admin: dict[str, str],
                                               moderator: dict[str, str], body: dict[str, object],
                                               field: str) -> None:
    assert client.post("/v1/banks", json={"name": "b"}, headers=admin).status_code == 201
    r = client.post("/v1/banks/b/entries", json=body, headers=moderator)
    assert r.status_code == 422, r.text
    assert field in [e["field"] for e in r.json()["errors"]], r.json()
    assert client.get("/v1/banks/b/entries", headers=moderator).json() == []


def test_entry_routes_answer_404_for_other_banks_entries(system: System, client: TestClient, admin: dict[str, str],
                                                        moderator: dict[str, str]) -> None:
    for name in ("one", "two"):
        assert client.post("/v1/banks", json={"name": name}, headers=admin).status_code == 201
    r = client.post("/v1/banks/one/entries", json={"signal_type": "md5", "value": "a" * 32}, headers=moderator)
    entry_id = r.json()["id"]
    assert client.post(f"/v1/banks/two/entries/{entry_id}/withdraw", headers=moderator).status_code == 404
    assert client.post(f"/v1/banks/one/entries/{entry_id + 999}/withdraw", headers=moderator).status_code == 404
    assert client.post(f"/v1/banks/one/entries/{entry_id}/delete", headers=moderator).status_code == 422
    assert client.post(f"/v1/banks/one/entries/{entry_id}/withdraw",
                       headers=staff(system, Role.AUDITOR)).status_code == 403
    assert client.get("/v1/banks/one/entries", headers=moderator).json()[0]["status"] == "active"


def test_stats_count_entries_by_status(client: TestClient, admin: dict[str, str], moderator: dict[str, str]) -> None:
    assert client.post("/v1/banks", json={"name": "s"}, headers=admin).status_code == 201
    assert client.get("/v1/banks/s/stats", headers=moderator).json() == {
        "active": 0, "disabled": 0, "withdrawn": 0, "total": 0}
    ids = [client.post("/v1/banks/s/entries", json={"signal_type": "md5", "value": f"{i:032x}"},
                       headers=moderator).json()["id"] for i in range(5)]
    client.post(f"/v1/banks/s/entries/{ids[0]}/disable", headers=moderator)
    client.post(f"/v1/banks/s/entries/{ids[1]}/withdraw", headers=moderator)
    client.post(f"/v1/banks/s/entries/{ids[2]}/withdraw", headers=moderator)
    assert client.get("/v1/banks/s/stats", headers=moderator).json() == {
        "active": 2, "disabled": 1, "withdrawn": 2, "total": 5}
    assert client.get("/v1/banks/missing/stats", headers=moderator).status_code == 404

"""Orders through the API: acknowledgement, every copy removed, receipt item by item, isolation, bad input."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from firebreak.auth import service as auth_service
from firebreak.auth.models import CredentialScope, Role
from firebreak.authorities.models import Authority, TrustLevel
from firebreak.bootstrap.http import create_app
from firebreak.bootstrap.system import System
from firebreak.core.clock import FakeClock
from firebreak.evidence.models import EvidenceRecord, LegalHold
from firebreak.orders.models import Order
from tests.support import RecordingPlatform, copies_of, jpeg, later, media_event, photo

LINK = "https://recording.test/c/{chat}/m/{message}"


@pytest.fixture
def platform(system: System) -> RecordingPlatform:
    system.gateway.ensure_integration(name="test", adapter="webhook")
    recording = RecordingPlatform()
    system.adapters.override("test", recording)
    return recording


@pytest.fixture
def client(system: System) -> Iterator[TestClient]:
    with TestClient(create_app(system), raise_server_exceptions=False) as c:
        yield c


def authority_token(system: System, name: str, *, trusted: bool = True, deadline: int | None = None) -> str:
    with system.db.transaction() as session:
        authority = Authority(name=name, country="KR", jurisdiction="Republic of Korea", legal_bases=["KCSC Act"],
                              mail_domains=[], mail_addresses=[],
                              default_deadlines={"sexual_deepfake": deadline or 86400},
                              trust_level=TrustLevel.TRUSTED if trusted else TrustLevel.STANDARD,
                              trusted_categories=["sexual_deepfake"] if trusted else [], language="en",
                              created_at=system.clock.now())
        session.add(authority)
        session.flush()
        return auth_service.issue_token(session=session, clock=system.clock, actor="test", name="api",
                                        scope=CredentialScope.AUTHORITY, authority_id=authority.id).token


def staff_token(system: System, role: Role = Role.LIAISON) -> str:
    with system.db.transaction() as session:
        user = auth_service.create_staff_user(session=session, clock=system.clock, actor="test",
                                              username=f"staff-{role.value}", password="a long password!",
                                              role=role)
        return auth_service.issue_token(session=session, clock=system.clock, actor="test", name="t",
                                        scope=CredentialScope.STAFF, staff_user_id=user.id).token


def seed(system: System, platform: RecordingPlatform) -> list[str]:
    """Three originals posted in chats, with copies forwarded around; returns links to the originals."""
    links = []
    n = 0
    for k, name in enumerate(("astronaut", "chelsea", "rocket")):
        copies = copies_of(photo(name))
        for j, (label, data) in enumerate(list(copies.items())[:4]):
            chat, message = f"chat-{(k + j) % 3}", f"{name}-{label}"
            platform.add_message(chat, message)
            system.gateway.record_event("test", media_event(chat, message, data, when=later(system.clock.now(), n)))
            n += 1
            if j == 0:
                links.append(LINK.format(chat=chat, message=message))
    platform.add_message("chat-0", "unrelated")
    system.gateway.record_event("test", media_event("chat-0", "unrelated", jpeg(photo("coffee")),
                                              when=later(system.clock.now(), n)))
    return links


def auth(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def run_until_reported(system: System, clock: FakeClock, rounds: int = 10) -> None:
    for _ in range(rounds):
        system.runner.reconcile()
        clock.advance(timedelta(seconds=2))
    system.runner.reconcile()


def test_order_by_api_removes_items_and_copies_and_reports_back(
        system: System, platform: RecordingPlatform, client: TestClient, clock: FakeClock) -> None:
    links = seed(system, platform)
    token = authority_token(system, "KCSC")
    body = {"category": "sexual_deepfake", "legal_basis": "Act on Promotion of Information and Communications "
            "Network Utilization, Art. 44-7", "authority_reference": "KCSC-2026-0042",
            "items": [{"kind": "message_link", "value": link} for link in links]
            + [{"kind": "message_link", "value": "https://other-platform.example/p/123"}]}
    r = client.post("/v1/orders", json=body, headers=auth(token))
    assert r.status_code == 201, r.text
    ack = r.json()
    assert ack["tracking_id"].startswith("FB-2026-")
    assert [i["recognised"] for i in ack["items"]] == [True, True, True, False]
    assert "not a link" in ack["items"][3]["reason"]
    assert ack["deadline_at"] is not None

    run_until_reported(system, clock)
    expected = {(m_chat, m) for (m_chat, m) in platform.messages if m != "unrelated"}
    assert platform.removed() == expected  # all 12 (3 originals + 9 copies), nothing else
    receipt = client.get(f"/v1/orders/{ack['tracking_id']}/receipt", headers=auth(token)).json()
    assert receipt["status"] == "completed"
    outcomes = [(i["outcome"], i["copies_removed"]) for i in receipt["items"]]
    assert outcomes == [("removed", 3), ("removed", 3), ("removed", 3), ("not_found", 0)]
    assert receipt["totals"]["copies_removed"] == 9
    assert receipt["items"][0]["statement_of_reasons"]["category"] == "STATEMENT_CATEGORY_CYBER_VIOLENCE"
    assert receipt["met_deadline"] is True
    html = client.get(f"/v1/orders/{ack['tracking_id']}/receipt.html", headers=auth(token))
    assert html.status_code == 200 and ack["tracking_id"] in html.text
    with system.db.sessions() as session:
        order = session.scalar(select(Order))
        assert order is not None and order.reported_back_at is not None and order.actioned_at is not None


def test_authority_sees_only_its_own_orders(system: System, platform: RecordingPlatform,
                                            client: TestClient) -> None:
    links = seed(system, platform)
    a, b = authority_token(system, "Authority A"), authority_token(system, "Authority B")
    r = client.post("/v1/orders", json={"category": "sexual_deepfake",
                                        "items": [{"kind": "message_link", "value": links[0]}]}, headers=auth(a))
    tracking = r.json()["tracking_id"]
    for method, path, kwargs in [
        ("GET", f"/v1/orders/{tracking}", {}), ("GET", f"/v1/orders/{tracking}/receipt", {}),
        ("GET", f"/v1/orders/{tracking}/receipt.html", {}), ("GET", f"/v1/orders/{tracking}/messages", {}),
        ("GET", f"/v1/orders/{tracking}/acknowledgement", {}),
        ("POST", f"/v1/orders/{tracking}/messages", {"json": {"body": "hello"}}),
        ("POST", f"/v1/orders/{tracking}/withdraw", {}),
        ("POST", f"/v1/orders/{tracking}/review", {"json": {"approve": True}}),
        ("POST", f"/v1/orders/{tracking}/report", {}),
    ]:
        response = client.request(method, path, headers=auth(b), **kwargs)
        assert response.status_code in (403, 404), (method, path, response.status_code)
        body = response.json()
        assert "tracking_id" not in body and "received_at" not in response.text  # nothing of A's order leaks
    assert client.get("/v1/orders", headers=auth(b)).json() == []
    assert [o["tracking_id"] for o in client.get("/v1/orders", headers=auth(a)).json()] == [tracking]
    assert client.get("/v1/dashboard/orders", headers=auth(a)).status_code == 403


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"category": "sexual_deepfake", "items": []}, "items"),
        ({"category": "sexual_deepfake",
          "items": [{"kind": "message_link", "value": f"https://x/{i}"} for i in range(10_000)]}, "items"),
        ({"category": "gossip", "items": [{"kind": "hash", "value": "a" * 64, "signal_type": "sha256"}]},
         "category"),
        ({"category": "ncii", "items": [{"kind": "hash", "value": "abc"}]}, "items.0"),
        ({"category": "ncii", "items": [{"kind": "teleport", "value": "x"}]}, "items.0.kind"),
    ],
)
def test_bad_orders_get_problem_naming_the_field(system: System, client: TestClient, body: dict[str, object],
                                                 field: str) -> None:
    token = authority_token(system, "KCSC")
    r = client.post("/v1/orders", json=body, headers=auth(token))
    assert r.status_code == 422
    assert r.headers["content-type"].startswith("application/problem+json")
    assert any(e["field"].startswith(field) for e in r.json()["errors"]), r.json()
    with system.db.sessions() as session:
        assert session.scalar(select(Order)) is None


def test_standard_authority_waits_for_liaison_review(system: System, platform: RecordingPlatform,
                                                     client: TestClient, clock: FakeClock) -> None:
    links = seed(system, platform)
    token = authority_token(system, "Police", trusted=False)
    r = client.post("/v1/orders", json={"category": "sexual_deepfake", "items": [
        {"kind": "message_link", "value": links[0]}, {"kind": "message_link", "value": links[1]}]},
        headers=auth(token))
    tracking = r.json()["tracking_id"]
    assert r.json()["status"] == "verified"
    system.runner.reconcile()
    assert platform.removed() == set()  # nothing happens before review
    liaison = staff_token(system)
    dash = client.get("/v1/dashboard/orders", headers=auth(liaison)).json()
    assert [o["tracking_id"] for o in dash] == [tracking] and dash[0]["seconds_left"] > 0
    r = client.post(f"/v1/orders/{tracking}/review", headers=auth(liaison), json={
        "approve": True, "declined_items": [{"position": 2, "decline_reason": "satire, not illegal here"}]})
    assert r.status_code == 200, r.text
    run_until_reported(system, clock)
    receipt = client.get(f"/v1/orders/{tracking}/receipt", headers=auth(token)).json()
    assert [i["outcome"] for i in receipt["items"]] == ["removed", "declined"]
    assert receipt["items"][1]["reason"] == "satire, not illegal here"
    assert receipt["status"] == "partially_completed"


def test_thread_between_authority_and_liaison(system: System, platform: RecordingPlatform,
                                              client: TestClient) -> None:
    token = authority_token(system, "KCSC")
    liaison = staff_token(system)
    r = client.post("/v1/orders", json={"category": "ncii", "items": [
        {"kind": "hash", "signal_type": "md5", "value": "0" * 32}]}, headers=auth(token))
    tracking = r.json()["tracking_id"]
    assert client.post(f"/v1/orders/{tracking}/messages", json={"body": "Any update?"},
                       headers=auth(token)).status_code == 201
    assert client.post(f"/v1/orders/{tracking}/messages", json={"body": "Working on it."},
                       headers=auth(liaison)).status_code == 201
    thread = client.get(f"/v1/orders/{tracking}/messages", headers=auth(token)).json()
    assert [(m["direction"], m["body"]) for m in thread] == [
        ("from_authority", "Any update?"), ("from_platform", "Working on it.")]


def test_a_preservation_request_holds_and_preserves_and_removes_nothing(
        system: System, platform: RecordingPlatform, client: TestClient, clock: FakeClock) -> None:
    links = seed(system, platform)
    token = authority_token(system, "Police")
    r = client.post("/v1/orders", headers=auth(token), json={
        "category": "sexual_deepfake", "requested_action": "preserve", "authority_reference": "CASE-7",
        "legal_basis": "18 U.S.C. 2703(f)", "items": [{"kind": "message_link", "value": link} for link in links]})
    assert r.status_code == 201, r.text
    tracking = r.json()["tracking_id"]
    run_until_reported(system, clock)

    assert platform.removed() == set()  # nothing taken down
    receipt = client.get(f"/v1/orders/{tracking}/receipt", headers=auth(token)).json()
    assert receipt["status"] == "completed"
    assert [i["outcome"] for i in receipt["items"]] == ["preserved"] * 3
    assert receipt["totals"]["preserved"] == 3 and receipt["totals"]["removed"] == 0
    with system.db.sessions() as session:
        holds = session.scalars(select(LegalHold)).all()
        preserved = session.scalars(select(EvidenceRecord)).all()
    assert len(holds) == 1 and "CASE-7" in holds[0].reason and "2703(f)" in holds[0].reason
    assert len(preserved) >= 3  # each item's message, kept with its context

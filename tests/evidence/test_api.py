"""Evidence over the API: who may see what, a reason for every opening, every access in the audit log."""

from __future__ import annotations

import io

from fastapi.testclient import TestClient
from sqlalchemy import select

from firebreak.audit.models import AuditEvent
from firebreak.auth.models import Role
from firebreak.bootstrap.system import System
from firebreak.core.clock import FakeClock
from firebreak.evidence.package import verify_package
from tests.evidence.conftest import auth, records, staff_token
from tests.evidence.test_packages import order_removing
from tests.support import RecordingPlatform


def test_every_access_to_evidence_is_audited_with_who_and_why(system: System, platform: RecordingPlatform,
                                                              clock: FakeClock, client: TestClient) -> None:
    tracking = order_removing(system, platform, clock)
    liaison, liaison_id = staff_token(system, Role.LIAISON)
    auditor, _ = staff_token(system, Role.AUDITOR)
    moderator, _ = staff_token(system, Role.MODERATOR)

    listed = client.get("/v1/evidence/records", params={"order": tracking}, headers=auth(auditor))
    assert listed.status_code == 200 and len(listed.json()) == 3
    assert {r["category"] for r in listed.json()} == {"csam"}
    assert client.get("/v1/evidence/records", params={"order": tracking}, headers=auth(moderator)).status_code == 403
    uid = listed.json()[0]["uid"]

    # Opening needs a reason; an auditor sees what exists but does not open it.
    missing = client.post(f"/v1/evidence/records/{uid}/context", json={}, headers=auth(liaison))
    assert missing.status_code == 422 and "reason" in missing.text
    blank = client.post(f"/v1/evidence/records/{uid}/context", json={"reason": "  "}, headers=auth(liaison))
    assert blank.status_code == 422 and "a reason is required" in blank.text
    assert client.post(f"/v1/evidence/records/{uid}/context", json={"reason": "curious"},
                       headers=auth(auditor)).status_code == 403

    context = client.post(f"/v1/evidence/records/{uid}/context", json={"reason": "Seoul police request 114"},
                          headers=auth(liaison))
    assert context.status_code == 200 and context.json()["record"] == uid
    media = client.post(f"/v1/evidence/records/{uid}/media", json={"reason": "Seoul police request 114"},
                        headers=auth(liaison))
    assert media.status_code == 200 and media.content[:2] == b"\xff\xd8"
    package = client.post("/v1/evidence/packages", json={"order": tracking, "reason": "Seoul police request 114"},
                          headers=auth(liaison))
    assert package.status_code == 200 and package.headers["content-type"] == "application/zip"
    assert verify_package(io.BytesIO(package.content)).ok

    with system.db.sessions() as session:
        accesses = session.scalars(select(AuditEvent).where(AuditEvent.action.in_(
            ["evidence.viewed", "evidence.exported", "evidence.packaged"])).order_by(AuditEvent.seq)).all()
    assert [(e.action, e.object_id) for e in accesses[:2]] == [("evidence.viewed", uid), ("evidence.exported", uid)]
    assert {e.object_id for e in accesses if e.action == "evidence.packaged"} == {r.uid for r in records(system)}
    assert all(e.actor == f"staff:{liaison_id}" and "Seoul police request 114" in e.data for e in accesses)
    # Refused attempts opened nothing, so left no access event.
    assert len(accesses) == 2 + 3


def test_holds_over_the_api(system: System, platform: RecordingPlatform, clock: FakeClock,
                            client: TestClient) -> None:
    tracking = order_removing(system, platform, clock)
    liaison, _ = staff_token(system, Role.LIAISON)
    placed = client.post("/v1/evidence/holds", json={"scope": "order", "subject": tracking,
                                                     "reason": "Preservation letter 2026/7"}, headers=auth(liaison))
    assert placed.status_code == 201, placed.text
    hold = placed.json()
    assert hold["label"].startswith(f"order {tracking}") and hold["active"] and hold["source"] == "staff"
    extended = client.post(f"/v1/evidence/holds/{hold['id']}/extend", json={"reason": "Second letter"},
                           headers=auth(liaison))
    assert extended.status_code == 200 and extended.json()["extensions"] == 1
    assert extended.json()["expires_at"] > hold["expires_at"]
    released = client.post(f"/v1/evidence/holds/{hold['id']}/release", json={"reason": "Case closed"},
                           headers=auth(liaison))
    assert released.status_code == 200 and released.json()["active"] is False
    again = client.post(f"/v1/evidence/holds/{hold['id']}/extend", json={"reason": "Too late"}, headers=auth(liaison))
    assert again.status_code == 422 and "was released" in again.json()["detail"]

    bad = client.post("/v1/evidence/holds", json={"scope": "account", "subject": "@someone", "reason": "x"},
                      headers=auth(liaison))
    assert bad.status_code == 422 and "Firebreak id (a number)" in bad.json()["detail"]
    unknown = client.post("/v1/evidence/holds", json={"scope": "chat", "subject": "99999", "reason": "x"},
                          headers=auth(liaison))
    assert unknown.status_code == 404 and "no chat 99999" in unknown.json()["detail"]
    assert client.post("/v1/evidence/holds", json={"scope": "galaxy", "subject": "1", "reason": "x"},
                       headers=auth(liaison)).status_code == 422
    listing = client.get("/v1/evidence/holds", headers=auth(liaison)).json()
    assert [h["id"] for h in listing] == [hold["id"]]
    assert client.get("/v1/evidence/purges", headers=auth(liaison)).json() == []

"""The review-queue interface a general review queue plugs into, video hashes from the device, and the mails a
person gets (in their language, about the case only)."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from fastapi.testclient import TestClient
from sqlalchemy import Connection, select
from sqlalchemy.orm import Session

from firebreak.auth.models import Role
from firebreak.banks.models import Bank, BankEntry
from firebreak.bootstrap.http import create_app
from firebreak.bootstrap.system import build_system
from firebreak.core.clock import FakeClock
from firebreak.core.config import Settings
from firebreak.reports.models import DeclineReason
from firebreak.signals.vpdq import value_to_frames
from tests.mail.sink import SmtpSink
from tests.reports.world import csrf_of, make_world
from tests.support import jpeg, scene


@dataclass
class RecordingQueue:
    """A review queue as the general one will implement it: every call is recorded."""

    calls: list[tuple[str, dict[str, Any]]] = field(default_factory=list)

    def enqueue(self, *, session: Session, kind: str, ref: str, priority: int, deadline: datetime | None,
                category: str, jurisdiction: str | None, title: str) -> None:
        assert session.in_transaction()  # in the caller's transaction: written together or not at all
        self.calls.append(("enqueue", {"kind": kind, "ref": ref, "priority": priority, "deadline": deadline,
                                       "category": category, "jurisdiction": jurisdiction, "title": title}))

    def withdraw(self, *, session: Session, kind: str, ref: str, reason: str) -> None:
        self.calls.append(("withdraw", {"kind": kind, "ref": ref, "reason": reason}))


def test_a_review_queue_gets_each_report_with_its_priority_deadline_and_outcome(
        settings: Settings, clock: FakeClock, connection: Connection) -> None:
    queue = RecordingQueue()
    system = build_system(settings, clock=clock, engine=connection.engine, bind=connection, review_queue=queue)
    world = make_world(system, TestClient(create_app(system), raise_server_exceptions=False, follow_redirects=False))
    messages = [world.post("class", "joon", jpeg(scene(90 + i), 90)) for i in range(3)]
    world.settle(1)
    start = clock.now()
    first = world.file_report([world.link(messages[0])], jurisdiction="KR", category="threat_to_share")
    second = world.file_report([world.link(messages[1])], jurisdiction="US", category="intimate_image")
    third = world.file_report([world.link(messages[2])], jurisdiction="KR")
    assert queue.calls == [
        ("enqueue", {"kind": "victim_report", "ref": first.case_number, "priority": 90,
                     "deadline": start + timedelta(hours=24), "category": "threat_to_share", "jurisdiction": "KR",
                     "title": f"Victim report {first.case_number}: threat to share, 1 link"}),
        ("enqueue", {"kind": "victim_report", "ref": second.case_number, "priority": 80,
                     "deadline": start + timedelta(hours=48), "category": "intimate_image", "jurisdiction": "US",
                     "title": f"Victim report {second.case_number}: intimate image, 1 link"}),
        ("enqueue", {"kind": "victim_report", "ref": third.case_number, "priority": 80,
                     "deadline": start + timedelta(hours=24), "category": "sexual_deepfake", "jurisdiction": "KR",
                     "title": f"Victim report {third.case_number}: sexual deepfake, 1 link"}),
    ]
    queue.calls.clear()
    # The use cases the queue's decision handler calls, inside the request's transaction.
    with system.db.transaction() as session:
        reports = system.reports
        one = reports.confirm(session=session, report_id=world.report(first.case_number).id, actor="staff:1",
                              staff_id=None)
        two = reports.decline(session=session, report_id=world.report(second.case_number).id, actor="staff:1",
                              staff_id=None, reason=DeclineReason.DUPLICATE)
        assert (one.status.value, two.status.value) == ("actioned", "declined")
    clock.set(start + timedelta(hours=24, seconds=1))
    system.runner.reconcile()
    assert queue.calls == [
        ("withdraw", {"kind": "victim_report", "ref": first.case_number, "reason": "confirmed"}),
        ("withdraw", {"kind": "victim_report", "ref": second.case_number, "reason": "declined"}),
        ("enqueue", {"kind": "victim_report", "ref": third.case_number, "priority": 100,  # escalated
                     "deadline": start + timedelta(hours=24), "category": "sexual_deepfake", "jurisdiction": "KR",
                     "title": f"Victim report {third.case_number}: sexual deepfake, 1 link"}),
    ]
    world.settle()
    assert world.message_status(messages[0]) == "removed"


def test_video_frames_from_the_device_bank_as_vpdq(world: Any) -> None:
    frames = [{"time": t, "hash": f"{(t + 1) * 0x1111:04x}" * 16, "quality": 90} for t in range(4)]
    body = {"hashes": [{"kind": "video", "sha256": "d" * 64, "md5": "e" * 32,
                        "pdq": {"hash": frames[0]["hash"], "quality": 90}, "frames": list(reversed(frames))}],
            "category": "intimate_image"}
    assert world.client.post("/v1/victim-reports/hashes", json=body).status_code == 201
    with world.system.db.sessions() as session:
        bank = session.scalar(select(Bank).where(Bank.name == "victims-hashes"))
        entries = {e.signal_type: e for e in session.scalars(select(BankEntry).where(BankEntry.bank_id == bank.id))}
    assert set(entries) == {"sha256", "md5", "vpdq"}  # a video matches by its frames, not as a picture
    banked = value_to_frames(entries["vpdq"].value)
    assert [(f.timestamp, f.pdq) for f in banked] == [(float(f["time"]), f["hash"]) for f in frames]


def test_update_mails_are_in_the_person_s_language_and_say_nothing_about_the_content(
        world: Any, sink: SmtpSink) -> None:
    message = world.post("class", "joon", jpeg(scene(95), 90))
    world.settle(1)
    english = world.file_report([world.link(message)], lang="en", contact_email="en@example.org",
                                email_updates="yes", details="my ex posted it")
    moderator = world.staff_client("mod", Role.MODERATOR)
    detail = moderator.get(f"/console/reports/{english.case_number}")
    moderator.post(f"/console/reports/{english.case_number}/decline",
                   data={"csrf_token": csrf_of(detail.text), "reason": "need_more_information"})
    hashes = world.client.post("/v1/victim-reports/hashes", json={
        "hashes": [{"kind": "image", "sha256": "a" * 64, "md5": "b" * 32, "pdq": None}], "category": "other",
        "contact": {"email": "ko@example.org"}, "email_updates": True, "language": "ko"}).json()
    world.client.post("/v1/victim-reports/withdraw", json={"token": hashes["status_token"]})
    world.settle(2)
    to_en = [m for m in sink.messages if "en@example.org" in m.envelope_to]
    to_ko = [m for m in sink.messages if "ko@example.org" in m.envelope_to]
    assert [m.subject for m in to_en] == [f"[Sandbox] We received your report {english.case_number}",
                                          f"[Sandbox] About your report {english.case_number}"]
    assert ("We could not act on your report " + english.case_number +
            ": we need more information to find or judge the content.") in to_en[1].text()
    assert [m.subject for m in to_ko] == [f"[Sandbox] 해시가 접수되었습니다 ({hashes['case_number']})",
                                          f"[Sandbox] 신고 {hashes['case_number']}가 철회되었습니다"]
    assert "이 신고에 관한 마지막 이메일입니다." in to_ko[1].text()
    for mail in to_en + to_ko:
        assert mail.header("Auto-Submitted") == "auto-generated"
        for secret in ("my ex", "chat.example", "deepfake", english.pin, hashes["pin"], hashes["status_token"]):
            assert secret not in mail.text()
    assert "/report/lookup" in to_en[0].text()
    assert json.dumps(world.report(hashes["case_number"]).sealed_private) == "null"  # erased on withdrawal

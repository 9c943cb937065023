"""End to end: a victim reports a sandbox message, a moderator confirms it, the message and every copy go, the status
link shows the counts, a re-upload is refused, and the search for copies is kept as evidence."""

from __future__ import annotations

import json
import re

import pytest
from sqlalchemy import select

from firebreak.audit.models import AuditEvent
from firebreak.auth.models import Role
from firebreak.banks.models import Bank, BankEntry, EntryStatus, MatchAction
from firebreak.core.jobs.models import ScheduledTask
from firebreak.integrations.sandbox import service as sandbox
from firebreak.integrations.sandbox.models import SandboxMessage, SandboxNotice
from firebreak.reports.models import ReportStatus, VictimReport
from firebreak.signals.hashing import hash_bytes
from tests.mail.sink import SmtpSink
from tests.reports.world import World, csrf_of, found
from tests.support import jpeg, photo, scene


def steps(html: str) -> dict[str, tuple[bool, int | None]]:
    """The status page's steps: key -> (done, count)."""
    out = {}
    for match in re.finditer(r'<li class="step( step--done)?" data-step="([a-z_]+)"(?: data-count="(\d+)")?', html):
        out[match[2]] = (bool(match[1]), int(match[3]) if match[3] is not None else None)
    return out


def test_a_confirmed_report_removes_the_message_and_every_copy_and_refuses_reuploads(
        world: World, sink: SmtpSink) -> None:
    picture = scene(21, (480, 360))
    original = world.post("class", "joon", jpeg(picture, 90), text="lol")
    forwarded = world.sandbox.forward(message_ref=original.id, to_chat_ref=world.chats["square"], by_handle="joon")
    reencoded = world.post("club", "tae", jpeg(picture, 45))
    smaller = world.post("square", "tae", jpeg(picture.resize((240, 180)), 80))
    unrelated = world.post("class", "hana", jpeg(photo("coffee"), 90))
    world.settle(2)

    filed = world.file_report([world.link(original)], lang="ko", contact_email="jiwoo@example.org",
                              email_updates="yes")
    status_page = world.client.get(filed.status_url)
    assert status_page.status_code == 200
    assert steps(status_page.text) == {"received": (True, None), "in_review": (True, None),
                                       "removed": (False, None), "copies_removed": (False, None),
                                       "reuploads_blocked": (False, None)}

    moderator = world.staff_client("mod", Role.MODERATOR)
    queue = moderator.get("/console/reports")
    assert queue.status_code == 200 and filed.case_number in queue.text
    detail = moderator.get(f"/console/reports/{filed.case_number}")
    assert "found" in detail.text and "jiwoo@example.org" not in detail.text  # moderators never see contacts
    confirmed = moderator.post(f"/console/reports/{filed.case_number}/confirm",
                               data={"csrf_token": csrf_of(detail.text), "note": "clear case"})
    assert confirmed.status_code == 303
    world.settle()

    assert world.message_status(original) == "removed"
    assert {world.message_status(m) for m in (forwarded, reencoded, smaller)} == {"removed"}
    assert world.message_status(unrelated) == "live"

    report = world.report(filed.case_number)
    assert report.status == ReportStatus.ACTIONED and report.closed_at is not None
    status_page = world.client.get(filed.status_url).text
    assert steps(status_page) == {"received": (True, None), "in_review": (True, None), "removed": (True, 1),
                                  "copies_removed": (True, 3), "reuploads_blocked": (True, 0)}
    for secret in ("lol", "sexual", "deepfake", "chat.example", "Class 2-3", report.message_links[0]):
        assert secret not in status_page  # the status link says nothing about the content

    with pytest.raises(sandbox.UploadRefused):
        world.post("club", "hana", jpeg(picture, 90))
    with pytest.raises(sandbox.UploadRefused):
        world.post("club", "hana", jpeg(picture.resize((300, 225)), 70))  # a near copy too
    assert steps(world.client.get(filed.status_url).text)["reuploads_blocked"] == (True, 2)

    # The search for copies is kept with the report and in the audit chain, as evidence of the effort.
    record = report.copy_search
    assert record is not None and record["copies_removed"] == 3 and record["reported_removed"] == 1
    assert {e["signal_type"] for e in record["entries"]} == {"sha256", "md5", "pdq"}
    assert all(e["finished_at"] for e in record["entries"])
    with world.system.db.sessions() as session:
        events = session.scalars(select(AuditEvent).where(AuditEvent.object_id == filed.case_number)
                                 .order_by(AuditEvent.seq)).all()
        assert [e.action for e in events if e.action.startswith("report.")][-1] == "report.copy_search"
        bank = session.scalar(select(Bank).where(Bank.name == "victims-sexual_deepfake"))
        assert bank is not None and bank.action == MatchAction.BLOCK
        assert session.scalars(select(BankEntry).where(BankEntry.bank_id == bank.id)).all()

    # The person asked for updates: three mails in Korean, naming the case and nothing about the content.
    world.settle(2)
    mails = [m for m in sink.messages if "jiwoo@example.org" in m.envelope_to]
    assert [m.subject for m in mails] == [
        f"[Sandbox] 신고가 접수되었습니다 ({filed.case_number})",
        f"[Sandbox] 신고 {filed.case_number}의 콘텐츠를 삭제하고 있습니다",
        f"[Sandbox] 신고 {filed.case_number} 삭제 완료"]
    assert "신고된 메시지 1건이 삭제되었습니다." in mails[2].text()
    assert "다른 곳에 있던 사본 3건이 삭제되었습니다." in mails[2].text()
    for mail in mails:
        for secret in ("deepfake", "chat.example", "lol", filed.pin, filed.status_url):
            assert secret not in mail.text()


def test_the_uploader_never_learns_who_reported(world: World) -> None:
    original = world.post("class", "joon", jpeg(scene(22), 90))
    world.settle(1)
    filed = world.file_report([world.link(original)], contact_email="jiwoo@example.org",
                              contact_name="Seoul Victim Support Centre", signature="Kim Ji-woo")
    moderator = world.staff_client("mod", Role.MODERATOR)
    detail = moderator.get(f"/console/reports/{filed.case_number}")
    moderator.post(f"/console/reports/{filed.case_number}/confirm", data={"csrf_token": csrf_of(detail.text)})
    world.settle()
    assert world.message_status(original) == "removed"
    with world.system.db.sessions() as session:
        reasons = [m.removed_reason or "" for m in session.scalars(select(SandboxMessage))]
        notices = [n.text for n in session.scalars(select(SandboxNotice))]
        payloads = [json.dumps(t.payload) for t in session.scalars(select(ScheduledTask))]
    assert "a sexual deepfake of a real person, confirmed by review" in " ".join(reasons)  # the rule, in words
    assert any("member of our trust and safety team" in n for n in notices)  # a person decided, and says so
    for secret in ("Kim", "Ji-woo", "jiwoo", "Seoul Victim", filed.case_number, filed.pin):
        assert secret not in " ".join(reasons + notices)  # what the platform shows its users
    for secret in ("Kim", "Ji-woo", "jiwoo", "Seoul Victim", filed.pin):
        assert not any(secret in p for p in payloads)  # job rows: mails carry the sealed address only


def test_a_declined_report_tells_the_person_why_and_changes_nothing(world: World) -> None:
    original = world.post("class", "joon", jpeg(scene(23), 90))
    world.settle(1)
    filed = world.file_report([world.link(original)])
    moderator = world.staff_client("mod", Role.MODERATOR)
    detail = moderator.get(f"/console/reports/{filed.case_number}")
    token = csrf_of(detail.text)
    refused = moderator.post(f"/console/reports/{filed.case_number}/decline", data={"csrf_token": token,
                                                                                     "reason": "whatever"})
    assert refused.status_code == 422 and "Choose the reason" in refused.text
    declined = moderator.post(f"/console/reports/{filed.case_number}/decline",
                              data={"csrf_token": token, "reason": "not_violating", "note": "a holiday photo"})
    assert declined.status_code == 303
    world.settle()
    assert world.message_status(original) == "live"
    page = world.client.get(filed.status_url).text
    assert steps(page) == {"received": (True, None), "in_review": (True, None), "declined": (True, None)}
    assert "does not break our rules" in found(r'id="summary"[^>]*>([^<]+)<', page)
    assert "holiday" not in page  # the moderator's note is for staff only
    again = moderator.post(f"/console/reports/{filed.case_number}/confirm", data={"csrf_token": token})
    assert again.status_code == 409 and "declined, not in review" in again.text


def test_only_admins_and_liaison_officers_see_contact_details_and_each_look_is_audited(world: World) -> None:
    original = world.post("class", "joon", jpeg(scene(24), 90))
    world.settle(1)
    filed = world.file_report([world.link(original)], contact_email="jiwoo@example.org", contact_phone="010-1234-5678")
    with world.system.db.sessions() as session:
        raw = session.execute(select(*VictimReport.__table__.c)).all()
    dump = json.dumps([list(map(str, row)) for row in raw])
    for secret in ("jiwoo@example.org", "010-1234-5678", "Kim Ji-woo"):
        assert secret not in dump  # sealed at rest
    moderator = world.staff_client("mod", Role.MODERATOR)
    detail = moderator.get(f"/console/reports/{filed.case_number}")
    assert "Show the contact details" not in detail.text
    refused = moderator.post(f"/console/reports/{filed.case_number}/contact",
                             data={"csrf_token": csrf_of(detail.text)})
    assert refused.status_code == 403 and "jiwoo@example.org" not in refused.text
    liaison = world.staff_client("lia", Role.LIAISON)
    detail = liaison.get(f"/console/reports/{filed.case_number}")
    assert "jiwoo@example.org" not in detail.text and "Confirm: remove it" not in detail.text
    shown = liaison.post(f"/console/reports/{filed.case_number}/contact", data={"csrf_token": csrf_of(detail.text)})
    assert shown.status_code == 200
    assert "jiwoo@example.org" in shown.text and "010-1234-5678" in shown.text and "Kim Ji-woo" in shown.text
    with world.system.db.sessions() as session:
        looks = session.scalars(select(AuditEvent).where(AuditEvent.action == "report.contact_viewed")).all()
    assert len(looks) == 1 and looks[0].actor.startswith("staff:") and "jiwoo" not in looks[0].data


def test_hash_only_submission_goes_to_review_and_withdrawing_withdraws_the_hashes_everywhere(world: World) -> None:
    picture = scene(25, (400, 300))
    data = jpeg(picture, 90)
    hashes = hash_bytes(data)
    body = {"hashes": [{"kind": "image", "sha256": hashes.sha256, "md5": hashes.md5,
                        "pdq": {"hash": hashes.pdq.value, "quality": hashes.pdq.quality}}],
            "category": "intimate_image", "language": "ko"}
    sent = world.client.post("/v1/victim-reports/hashes", json=body)
    assert sent.status_code == 201, sent.text
    answer = sent.json()
    assert answer["status"] == "hashes_active" and re.fullmatch(r"\d{4}-\d{4}", answer["pin"])
    with world.system.db.sessions() as session:
        bank = session.scalar(select(Bank).where(Bank.name == "victims-hashes"))
        assert bank is not None and bank.action == MatchAction.REVIEW  # a hash alone cannot be verified
        entries = session.scalars(select(BankEntry).where(BankEntry.bank_id == bank.id)).all()
        assert {e.signal_type for e in entries} == {"sha256", "md5", "pdq"}

    posted = world.post("club", "tae", jpeg(picture, 60))  # a near copy: shown to reviewers, not removed
    world.settle(2)
    assert world.message_status(posted) == "live"
    status = world.client.post("/v1/victim-reports/status", json={"token": answer["status_token"]}).json()
    assert {s["key"]: s["count"] for s in status["steps"]} == {"received": None, "hashes_active": 1, "matches": 1}

    case, pin = answer["case_number"], answer["pin"]
    wrong = world.client.post("/v1/victim-reports/withdraw", json={"case_number": case, "pin": "0000-0000"})
    assert wrong.status_code == 404
    done = world.client.post("/v1/victim-reports/withdraw",
                             json={"case_number": case.lower(), "pin": pin.replace("-", " ")})
    assert done.status_code == 200 and done.json() == {"case_number": case, "status": "withdrawn",
                                                        "withdrawn_now": True}
    with world.system.db.sessions() as session:
        assert {e.status for e in session.scalars(select(BankEntry).where(BankEntry.bank_id == bank.id))} == {
            EntryStatus.WITHDRAWN}
    again = world.post("square", "tae", jpeg(picture, 60))
    world.settle(2)
    assert world.message_status(again) == "live"
    status = world.client.post("/v1/victim-reports/status", json={"case_number": case, "pin": pin}).json()
    assert status["status"] == "withdrawn" and [s["key"] for s in status["steps"]] == ["received", "withdrawn"]
    repeat = world.client.post("/v1/victim-reports/withdraw", json={"token": answer["status_token"]})
    assert repeat.json()["withdrawn_now"] is False

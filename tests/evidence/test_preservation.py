"""A removed message is preserved, encrypted at rest, with the context that proves what happened to it."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import select

from firebreak.audit.models import AuditEvent
from firebreak.bootstrap.system import System
from firebreak.evidence.models import EvidenceMedia, RecordStatus, Trigger
from firebreak.evidence.service import EvidenceError
from firebreak.media.models import Placement
from tests.evidence.conftest import bank_and_remove, post, records
from tests.support import RecordingPlatform, jpeg, photo, scene


def test_a_removed_message_is_preserved_with_its_context(system: System, platform: RecordingPlatform) -> None:
    data = jpeg(photo("astronaut"))
    post(system, platform, "chat-a", "m1", data, sender="first-poster")
    post(system, platform, "chat-b", "m2", data, sender="forwarder", seconds=60, forwarded_from=("chat-a", "m1"))
    post(system, platform, "chat-c", "m3", data, sender="second-forwarder", seconds=120,
         forwarded_from=("chat-b", "m2"))
    post(system, platform, "chat-a", "unrelated", jpeg(photo("coffee")), seconds=10)

    bank_and_remove(system, data, category="ncii")

    assert platform.removed() == {("chat-a", "m1"), ("chat-b", "m2"), ("chat-c", "m3")}
    kept = records(system)
    assert len(kept) == 3  # one per removed message, nothing for the one left alone
    assert {r.trigger for r in kept} == {Trigger.REMOVAL} and {r.status for r in kept} == {RecordStatus.SEALED}
    assert {r.category for r in kept} == {"ncii"}
    assert all(r.retention_rule == "default retention: 90 days" for r in kept)

    with system.db.sessions() as session:
        forwarded = session.scalar(select(Placement.id).where(Placement.message_external_id == "m2"))
    middle = next(r for r in kept if r.placement_id == forwarded)
    assert middle.action_id is not None and middle.account_id is not None and middle.chat_id is not None
    opened = system.evidence.open(actor="staff:1", uid=middle.uid, reason="Police request 2026/114")
    assert opened.media == data  # the exact bytes, decrypted
    context = opened.context
    assert context["placement"]["chat"] == "chat-b" and context["placement"]["message"] == "m2"
    assert context["placement"]["status"] == "removed"
    assert context["sender"]["external_id"] == "forwarder"
    assert context["chat"]["external_id"] == "chat-b"
    # The forward chain: where it came from and where it went on.
    assert [(h["chat"], h["message"], h["sender"]) for h in context["forward_chain"]["from"]] == [
        ("chat-a", "m1", "first-poster")]
    assert [(h["chat"], h["message"]) for h in context["forward_chain"]["onward"]] == [("chat-c", "m3")]
    assert context["matches"] and context["matches"][0]["bank"] == "bank-ncii"
    assert context["matches"][0]["bank_action"] == "block"
    assert context["media"]["sha256"] == opened.media_sha256
    assert context["action"]["kind"] == "remove_message"
    assert {s["signal_type"] for s in context["signals"]} >= {"sha256", "md5", "pdq"}
    # Sealed after due process ran: the statement of reasons the forwarder was sent is part of the evidence.
    assert len(context["statements"]) == 1
    statement = context["statements"][0]
    assert statement["puid"] and statement["payload"]["decision_visibility"] == ["DECISION_VISIBILITY_CONTENT_REMOVED"]


def test_evidence_is_encrypted_at_rest_and_each_file_is_kept_once(system: System, platform: RecordingPlatform,
                                                                   settings_dir: Path) -> None:
    data = jpeg(scene(7))
    for i in range(3):
        post(system, platform, f"chat-{i}", f"m{i}", data, sender=f"user-{i}", seconds=i)
    bank_and_remove(system, data)
    kept = records(system)
    assert len(kept) == 3 and len({r.evidence_media_id for r in kept}) == 1  # the bytes are sealed once
    with system.db.sessions() as session:
        assert session.scalar(select(EvidenceMedia.size_bytes)) == len(data)
    # Nothing on disk holds the file, a telling slice of it, or the context in the clear.
    needle, account = data[1000:1064], b"user-1"
    for path in (settings_dir / "blobs").rglob("*"):
        if path.is_file():
            raw = path.read_bytes()
            assert needle not in raw and account not in raw, path


def test_opening_evidence_needs_a_reason_and_is_audited(system: System, platform: RecordingPlatform) -> None:
    data = jpeg(scene(8))
    post(system, platform, "c", "m", data)
    bank_and_remove(system, data)
    uid = records(system)[0].uid
    for reason in ("", "   "):
        with pytest.raises(EvidenceError, match="A reason is required"):
            system.evidence.open(actor="staff:9", uid=uid, reason=reason)
    system.evidence.open(actor="staff:9", uid=uid, reason="Checking the file before the court hearing")
    with system.db.sessions() as session:
        events = session.scalars(select(AuditEvent).where(AuditEvent.object_id == uid).order_by(AuditEvent.seq)).all()
    assert [e.action for e in events] == ["evidence.preserved", "evidence.viewed"]
    assert events[1].actor == "staff:9" and "Checking the file before the court hearing" in events[1].data


def test_a_message_the_platform_no_longer_had_is_not_preserved(system: System, platform: RecordingPlatform) -> None:
    data = jpeg(scene(9))
    post(system, platform, "c", "gone", data)
    platform.messages.pop(("c", "gone"))  # deleted on the platform before Firebreak acted: not found
    bank_and_remove(system, data)
    assert records(system) == []

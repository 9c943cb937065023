"""The sandbox messenger's own behaviour, and what it tells Firebreak."""

from __future__ import annotations

import hashlib
from datetime import UTC, timedelta

import pytest
from sqlalchemy import func, select

from firebreak.bootstrap.system import System
from firebreak.core.clock import FakeClock
from firebreak.integrations.sandbox import service
from firebreak.integrations.sandbox.flows import Sandbox
from firebreak.integrations.sandbox.models import AccountStatus, ChatKind, MessageStatus, SandboxMedia, SandboxMessage
from firebreak.platform.schemas import EventKind
from tests.integrations.sandbox.conftest import Cast
from tests.integrations.sandbox.doubles import RecordingLink, png


def _count(sandbox: Sandbox, model: type[SandboxMessage] | type[SandboxMedia]) -> int:
    with sandbox.deps.db.transaction() as s:
        return s.scalar(select(func.count()).select_from(model)) or 0


def test_users_have_unique_normalised_handles(system: System) -> None:
    with system.db.transaction() as s:
        user = service.create_user(session=s, clock=system.clock, handle="@Dora")
        assert (user.handle, user.display_name, user.external_id) == ("dora", "dora", f"u{user.id}")
        with pytest.raises(service.Conflict):
            service.create_user(session=s, clock=system.clock, handle="dora")
        with pytest.raises(service.InvalidInput) as bad:
            service.create_user(session=s, clock=system.clock, handle="9lives")
        assert bad.value.field == "handle"


def test_chat_rules(system: System, cast: Cast) -> None:
    with system.db.transaction() as s:
        alice, bob, carol = (service.get_user(session=s, ref=u.external_id) for u in (cast.alice, cast.bob, cast.carol))
        direct = service.create_chat(session=s, clock=system.clock, creator=alice, title="a-b", kind=ChatKind.DIRECT,
                                     members=["bob"])
        assert service.member_count(session=s, chat=direct) == 2
        with pytest.raises(service.InvalidInput) as bad:
            service.create_chat(session=s, clock=system.clock, creator=alice, title="x", kind=ChatKind.DIRECT,
                                members=["bob", "carol"])
        assert bad.value.field == "members"
        with pytest.raises(service.InvalidInput) as bad:
            service.create_chat(session=s, clock=system.clock, creator=alice, title="x", members=["nobody"])
        assert bad.value.field == "members" and "nobody" in str(bad.value)
        with pytest.raises(service.Forbidden):
            service.join(session=s, clock=system.clock, chat=direct, user=carol)

        group = service.get_chat(session=s, ref=cast.group.external_id)
        with pytest.raises(service.Forbidden):
            service.join(session=s, clock=system.clock, chat=group, user=carol)
        service.join(session=s, clock=system.clock, chat=group, user=carol, added_by=bob)
        service.join(session=s, clock=system.clock, chat=group, user=carol, added_by=bob)  # twice: no-op
        assert service.member_count(session=s, chat=group) == 3

        square = service.get_chat(session=s, ref=cast.square.external_id)
        service.join(session=s, clock=system.clock, chat=square, user=bob)
        assert service.is_member(session=s, chat=square, user=bob)
        assert [c.external_id for c in service.list_chats(session=s, viewer=carol)] == [
            cast.group.external_id, cast.square.external_id, ]


def test_post_scans_stores_then_reports(connected: Sandbox, link: RecordingLink, cast: Cast, clock: FakeClock) -> None:
    image = png(1)
    view = connected.post(chat_ref=cast.group.external_id, sender_handle="alice", text="look",
                      upload=service.Upload(image, "cat.png", "image/png"))
    assert link.scans == [("sandbox", view_sha(connected, view.media_id))]
    assert link.uploaders == [(cast.alice.external_id, cast.group.external_id)]  # a refusal would reach them
    assert view.status == MessageStatus.LIVE and view.text == "look" and view.media_kind == "image"
    [(integration, event)] = link.events
    assert integration == "sandbox"
    assert event.kind == EventKind.MEDIA_POSTED and event.event_id == f"{view.id}:media_posted"
    assert event.message_id == view.id
    assert event.chat.model_dump() == {"id": cast.group.external_id, "kind": "group", "is_public": False,
                                       "member_count": 2, "title": "Family", "admins": [cast.alice.external_id]}
    assert event.sender is not None and event.sender.id == cast.alice.external_id
    assert event.sender.display_name == "Alice A."
    assert event.sent_at == clock.now() and event.sent_at.tzinfo is not None
    assert event.sent_at.utcoffset() == timedelta(0)
    [media] = event.media
    assert media.media_id == view.media_id and media.url == f"sandbox-media://{view.media_id}"
    assert media.mime_type == "image/png" and media.data_base64 is None
    assert event.forwarded_from is None


def view_sha(sandbox: Sandbox, media_ref: str | None) -> str:
    with sandbox.deps.db.transaction() as s:
        return service.get_media(session=s, ref=media_ref or "").sha256


def test_blocked_upload_posts_nothing(connected: Sandbox, link: RecordingLink, cast: Cast) -> None:
    image = png(2)
    link.block(image)
    with pytest.raises(service.UploadRefused) as refused:
        connected.post(chat_ref=cast.group.external_id, sender_handle="alice", text="hidden text",
                   upload=service.Upload(image, "x.png", "image/png"))
    assert "not allowed" in refused.value.reason
    assert len(link.scans) == 1 and link.events == []
    assert _count(connected, SandboxMessage) == 0 and _count(connected, SandboxMedia) == 0


def test_a_file_firebreak_could_not_check_is_not_posted(connected: Sandbox, link: RecordingLink, cast: Cast) -> None:
    image = png(4)
    link.unreadable.add(hashlib.sha256(image).hexdigest())
    with pytest.raises(service.UploadRefused) as refused:
        connected.post(chat_ref=cast.group.external_id, sender_handle="alice", text=None,
                       upload=service.Upload(image, "x.png", "image/png"))
    assert "could not be checked" in refused.value.reason and "send the original" in refused.value.reason
    assert link.events == [] and _count(connected, SandboxMessage) == 0 and _count(connected, SandboxMedia) == 0


def test_upload_without_a_scan_is_a_programming_error(system: System, cast: Cast) -> None:
    with system.db.transaction() as s, pytest.raises(ValueError, match="scanned"):
        chat = service.get_chat(session=s, ref=cast.group.external_id)
        alice = service.get_user(session=s, ref=cast.alice.external_id)
        service.post_message(session=s, clock=system.clock, chat=chat, sender=alice, text=None,
                             upload=service.Upload(png(3)))


def test_who_may_post(connected: Sandbox, link: RecordingLink, cast: Cast) -> None:
    group = cast.group.external_id
    with pytest.raises(service.Forbidden, match="not a member"):
        connected.post(chat_ref=group, sender_handle="carol", text="hi", upload=None)
    with connected.deps.db.transaction() as s:
        bob = service.get_user(session=s, ref=cast.bob.external_id)
        service.escalate_account(user=bob, status=AccountStatus.RESTRICTED, at=connected.clock.now(),
                                 reason="r")
    connected.post(chat_ref=group, sender_handle="bob", text="text is fine", upload=None)
    with pytest.raises(service.Forbidden, match="restricted"):
        connected.post(chat_ref=group, sender_handle="bob", text=None, upload=service.Upload(png(4)))
    assert link.scans == []  # refused before anything was scanned
    with connected.deps.db.transaction() as s:
        chat = service.get_chat(session=s, ref=group)
        service.suspend_chat(chat=chat, at=connected.clock.now(), reason="spam")
    with pytest.raises(service.Forbidden, match="suspended"):
        connected.post(chat_ref=group, sender_handle="alice", text="hi", upload=None)
    with pytest.raises(service.InvalidInput) as empty:
        connected.post(chat_ref=cast.square.external_id, sender_handle="alice", text="  ", upload=None)
    assert empty.value.field == "text"
    with pytest.raises(service.InvalidInput) as empty:
        connected.post(chat_ref=cast.square.external_id, sender_handle="alice", text=None,
                   upload=service.Upload(b""))
    assert empty.value.field == "file"


def test_forward_reports_its_origin_and_is_scanned_again(connected: Sandbox, link: RecordingLink, cast: Cast) -> None:
    image = png(5)
    original = connected.post(chat_ref=cast.square.external_id, sender_handle="alice", text="pic",
                          upload=service.Upload(image))
    copy = connected.forward(message_ref=original.id, to_chat_ref=cast.group.external_id, by_handle="alice")
    assert copy.media_id == original.media_id and copy.text == "pic"
    assert copy.forwarded_from == f"{cast.square.external_id}/{original.id}"
    event = link.events[-1][1]
    assert event.kind == EventKind.MEDIA_FORWARDED and event.message_id == copy.id
    assert event.chat.id == cast.group.external_id
    assert event.forwarded_from is not None
    assert (event.forwarded_from.chat_id, event.forwarded_from.message_id) == (cast.square.external_id, original.id)
    assert event.media[0].url == f"sandbox-media://{original.media_id}"
    assert len(link.scans) == 2

    link.block(image)  # banked after it was posted: forwarding it now is refused
    with pytest.raises(service.UploadRefused):
        connected.forward(message_ref=original.id, to_chat_ref=cast.group.external_id, by_handle="bob")
    assert len(link.events) == 2


def test_sender_deletes(connected: Sandbox, link: RecordingLink, cast: Cast, clock: FakeClock) -> None:
    posted = connected.post(chat_ref=cast.group.external_id, sender_handle="bob", text=None,
                        upload=service.Upload(png(6)))
    with pytest.raises(service.Forbidden):
        connected.delete(message_ref=posted.id, by_handle="alice")
    clock.advance(60)
    connected.delete(message_ref=posted.id, by_handle="bob")
    connected.delete(message_ref=posted.id, by_handle="bob")  # again: no second event
    assert link.kinds == ["media_posted", "message_deleted"]
    deleted = link.events[-1][1]
    assert deleted.message_id == posted.id and deleted.media == [] and deleted.sent_at == clock.now()
    with connected.deps.db.transaction() as s:
        chat = service.get_chat(session=s, ref=cast.group.external_id)
        assert service.list_messages(session=s, chat=chat, viewer=None) == []


def test_removed_and_quarantined_become_placeholders(connected: Sandbox, cast: Cast) -> None:
    image = png(7)
    first = connected.post(chat_ref=cast.square.external_id, sender_handle="alice", text="one",
                       upload=service.Upload(image))
    second = connected.post(chat_ref=cast.square.external_id, sender_handle="carol", text="two", upload=None)
    again = connected.post(chat_ref=cast.group.external_id, sender_handle="bob", text="same bytes",
                       upload=service.Upload(image))
    assert again.media_id == first.media_id  # identical bytes are one file
    with connected.deps.db.transaction() as s:
        message = service.get_message(session=s, ref=second.id)
        service.transition(message, MessageStatus.REMOVED, at=connected.clock.now(), reason="Hate speech (ToS 4.2)")
        media = service.get_media(session=s, ref=first.media_id or "")
        service.quarantine(media=media, at=connected.clock.now(), reason="Known illegal image")
    with connected.deps.db.transaction() as s:
        square = service.get_chat(session=s, ref=cast.square.external_id)
        views = service.list_messages(session=s, chat=square, viewer=None, platform_name="Sandbox")
        group = service.get_chat(session=s, ref=cast.group.external_id)
        [in_group] = service.list_messages(session=s, chat=group, viewer=None, platform_name="Sandbox")
        outsider = service.get_user(session=s, ref=cast.carol.external_id)
        with pytest.raises(service.NotFound):
            service.list_messages(session=s, chat=group, viewer=outsider)
    assert [(v.id, v.status, v.text, v.media_id, v.placeholder) for v in views] == [
        (first.id, MessageStatus.REMOVED, None, None, "Removed by Sandbox: Known illegal image"),
        (second.id, MessageStatus.REMOVED, None, None, "Removed by Sandbox: Hate speech (ToS 4.2)"),
    ]
    assert in_group.placeholder == "Removed by Sandbox: Known illegal image"
    # a quarantined file cannot come back as a new upload either
    with pytest.raises(service.UploadRefused, match="taken it down"):
        connected.post(chat_ref=cast.group.external_id, sender_handle="bob", text=None,
                   upload=service.Upload(image))


def test_message_state_machine_refuses_illegal_moves(system: System, cast: Cast) -> None:
    with system.db.transaction() as s:
        chat = service.get_chat(session=s, ref=cast.group.external_id)
        alice = service.get_user(session=s, ref=cast.alice.external_id)
        message = service.post_message(session=s, clock=system.clock, chat=chat, sender=alice, text="hi").message
        service.transition(message, MessageStatus.DELETED, at=system.clock.now())
        with pytest.raises(ValueError, match="deleted to removed"):
            service.transition(message, MessageStatus.REMOVED, at=system.clock.now())
        assert message.deleted_at is not None and message.deleted_at.tzinfo == UTC

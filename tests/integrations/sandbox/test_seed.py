"""Seeding thousands of messages in one go, as the enforcement tests do."""

from __future__ import annotations

import time

import pytest
from sqlalchemy import func, select

from firebreak.bootstrap.system import System
from firebreak.integrations.sandbox import service
from firebreak.integrations.sandbox.models import ChatKind, SandboxMedia, SandboxMessage
from firebreak.integrations.sandbox.seed import SeedChat, SeedMessage, SeedUser, seed
from firebreak.platform.schemas import EventKind
from tests.integrations.sandbox.doubles import RecordingLink, png


def test_thousands_of_messages(system: System, link: RecordingLink) -> None:
    images = [png(i) for i in range(200)]  # stand-ins for transformed copies of one image
    handles = [f"user{i}" for i in range(20)]
    chats = [SeedChat(key=f"chat{i}", members=handles[i % 20:] + handles[:i % 20], is_public=i % 2 == 0)
             for i in range(10)]
    messages = [SeedMessage(chat=f"chat{i % 10}", sender=handles[(i * 7) % 20], media=images[i % 200],
                            mime_type="image/png", text=f"copy {i}") for i in range(3000)]
    messages += [SeedMessage(chat="chat3", sender=handles[5], forward_of=i) for i in range(0, 3000, 100)]
    messages.append(SeedMessage(chat="chat1", sender=handles[1], text="just words"))
    started = time.perf_counter()
    with system.db.transaction() as s:
        seeded = seed(session=s, clock=system.clock, users=[SeedUser(h, h.title()) for h in handles], chats=chats,
                      messages=messages)
    elapsed = time.perf_counter() - started
    assert elapsed < 30, f"seeding took {elapsed:.1f}s"
    assert len(seeded.users) == 20 and len(seeded.chats) == 10 and seeded.refused == []
    assert len(seeded.messages) == 3031 and len(set(seeded.messages)) == 3031
    assert len(seeded.events) == 3030 and link.events == [] and link.scans == []
    with system.db.transaction() as s:
        assert s.scalar(select(func.count()).select_from(SandboxMessage)) == 3031
        assert s.scalar(select(func.count()).select_from(SandboxMedia)) == 200
        forward = service.get_message(session=s, ref=seeded.messages[3000 + 1] or "")
        source = service.get_message(session=s, ref=seeded.messages[100] or "")
        assert forward.forwarded_from_id == source.id and forward.media_id == source.media_id
        assert forward.text == "copy 100" and forward.chat.title == "chat3"
    first, fwd = seeded.events[0], seeded.events[3001]
    assert first.kind == EventKind.MEDIA_POSTED and first.message_id == seeded.messages[0]
    assert first.chat.id == seeded.chats["chat0"] and first.chat.member_count == 20 and first.chat.is_public
    assert first.sender is not None
    assert (first.sender.id, first.sender.display_name) == (seeded.users["user0"], "User0")
    assert first.media[0].url is not None and first.media[0].url.startswith("sandbox-media://md")
    assert fwd.kind == EventKind.MEDIA_FORWARDED and fwd.forwarded_from is not None
    assert (fwd.forwarded_from.chat_id, fwd.forwarded_from.message_id) == (seeded.chats["chat0"], seeded.messages[100])


def test_scan_and_submit_while_seeding(system: System, link: RecordingLink) -> None:
    bad, good = png(1), png(2)
    link.block(bad)
    with system.db.transaction() as s:
        seeded = seed(
            session=s, clock=system.clock, link=link, users=["ann", "ben"],
            chats=[SeedChat(key="dm", members=["ann", "ben"], kind=ChatKind.DIRECT)],
            messages=[SeedMessage(chat="dm", sender="ann", media=bad),
                      SeedMessage(chat="dm", sender="ann", media=good),
                      SeedMessage(chat="dm", sender="ben", forward_of=0),
                      SeedMessage(chat="dm", sender="ben", media=good)],
            scan=True, submit_events=True,
        )
    assert seeded.refused == [0, 2] and seeded.messages[0] is None and seeded.messages[2] is None
    assert len(link.scans) == 2  # each distinct file once
    assert [e.message_id for _, e in link.events] == [seeded.messages[1], seeded.messages[3]]
    with system.db.transaction() as s:
        assert s.scalar(select(func.count()).select_from(SandboxMedia)) == 1
        # seeding into an existing chat by its id
        more = seed(session=s, clock=system.clock, messages=[SeedMessage(chat=seeded.chats["dm"], sender="ann",
                                                                           text="again")])
        assert more.messages[0] is not None and more.events == []


@pytest.mark.parametrize(("messages", "field"), [
    ([SeedMessage(chat="room", sender="ann", forward_of=0)], "messages[0].forward_of"),
    ([SeedMessage(chat="room", sender="nobody", text="x")], "messages[0].sender"),
    ([SeedMessage(chat="elsewhere", sender="ann", text="x")], "messages[0].chat"),
    ([SeedMessage(chat="room", sender="ann")], "messages[0].text"),
    ([SeedMessage(chat="room", sender="ann", media=b"")], "messages[0].media"),
])
def test_bad_seed_names_the_field(system: System, messages: list[SeedMessage], field: str) -> None:
    with system.db.transaction() as s:
        service.create_user(session=s, clock=system.clock, handle="nobody")
        with pytest.raises(service.InvalidInput) as bad:
            seed(session=s, clock=system.clock, users=["ann"], chats=[SeedChat(key="room", members=["ann"])],
                 messages=messages)
    assert bad.value.field == field

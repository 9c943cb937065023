"""Filling the sandbox quickly: users, chats and thousands of messages in a few batched INSERTs.

Tests (and the demo) use this to build a platform full of copies of one image. By default nothing is scanned and no
event is submitted per message; the events come back in ``Seeded.events`` for the caller to submit in bulk (after
commit on a file-backed SQLite database, where Firebreak's own transaction would wait for ours).
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy import insert, select
from sqlalchemy.orm import Session

from firebreak.core.clock import Clock
from firebreak.integrations.sandbox import service
from firebreak.integrations.sandbox.events import build_event
from firebreak.integrations.sandbox.models import (
    CHAT_PREFIX,
    MEDIA_PREFIX,
    MESSAGE_PREFIX,
    AccountStatus,
    ChatKind,
    ChatStatus,
    MessageStatus,
    SandboxChat,
    SandboxMedia,
    SandboxMembership,
    SandboxMessage,
    SandboxUser,
    parse_external_id,
)
from firebreak.platform.link import FirebreakLink
from firebreak.platform.schemas import EventKind, PlatformEvent, Verdict

_CHUNK = 500


@dataclass(frozen=True)
class SeedUser:
    handle: str
    display_name: str | None = None
    language: str | None = None  # the tag the platform tells Firebreak: notices come in it


@dataclass(frozen=True)
class SeedChat:
    key: str  # how SeedMessage.chat names this chat (an existing chat is named by its id, e.g. "c3")
    members: Sequence[str]  # handles; the first one created the chat
    title: str | None = None  # defaults to the key
    kind: ChatKind = ChatKind.GROUP
    is_public: bool = False


@dataclass(frozen=True)
class SeedMessage:
    chat: str  # a SeedChat key, or an existing chat's id
    sender: str  # a handle; must be a member of the chat
    text: str | None = None
    media: bytes | None = None
    mime_type: str | None = None
    filename: str | None = None
    forward_of: int | None = None  # index of an earlier SeedMessage: its file and text are forwarded
    sent_at: datetime | None = None  # default: the clock's now


@dataclass
class Seeded:
    users: dict[str, str] = field(default_factory=dict)  # handle -> "u7"
    chats: dict[str, str] = field(default_factory=dict)  # key -> "c3"
    messages: list[str | None] = field(default_factory=list)  # per SeedMessage: "m12", None if refused
    refused: list[int] = field(default_factory=list)  # indexes the scan refused (or forwards of them)
    events: list[PlatformEvent] = field(default_factory=list)  # media_posted / media_forwarded, in message order


def seed(
    *, session: Session, clock: Clock, link: FirebreakLink | None = None, integration: str = "sandbox",
    users: Sequence[str | SeedUser] = (), chats: Sequence[SeedChat] = (), messages: Sequence[SeedMessage] = (),
    scan: bool = False, submit_events: bool = False,
) -> Seeded:
    """Create users, chats and messages in bulk. Never commits.

    ``scan``: check each distinct file with ``link.scan_upload`` once; messages with a blocked file (and forwards of
    them) are not stored and are listed in ``refused``. ``submit_events``: pass every event to ``link.submit_event``
    at the end; otherwise the caller submits ``Seeded.events`` itself.
    """
    if (scan or submit_events) and link is None:
        raise ValueError("scanning or submitting events needs a FirebreakLink")
    now = clock.now()
    result = Seeded()
    people = _seed_users(session, now, users, result)
    rooms, members = _seed_chats(session, now, chats, people, result)
    media_ids = _seed_media(session, now, messages, link if scan else None, integration, result)
    _seed_messages(session, now, messages, rooms, members, people, media_ids, result)
    if submit_events and link is not None:
        for event in result.events:
            link.submit_event(integration, event)
    return result


def _seed_users(session: Session, now: datetime, users: Sequence[str | SeedUser],
                result: Seeded) -> dict[str, SandboxUser]:
    wanted = [u if isinstance(u, SeedUser) else SeedUser(u) for u in users]
    handles = [service.check_handle(u.handle) for u in wanted]
    people = {u.handle: u for u in session.scalars(select(SandboxUser).where(SandboxUser.handle.in_(handles)))}
    fresh = []
    for spec, handle in zip(wanted, handles, strict=True):
        if handle not in people:
            user = SandboxUser(handle=handle, display_name=spec.display_name or handle, status=AccountStatus.ACTIVE,
                               language=service.check_language(spec.language), created_at=now)
            people[handle] = user
            fresh.append(user)
    session.add_all(fresh)
    session.flush()
    result.users.update({h: people[h].external_id for h in handles})
    return people


def _person(session: Session, people: dict[str, SandboxUser], handle: str, where: str) -> SandboxUser:
    handle = handle.strip().lstrip("@").lower()
    if handle not in people:
        found = session.scalar(select(SandboxUser).where(SandboxUser.handle == handle))
        if found is None:
            raise service.InvalidInput(where, f"no user @{handle}")
        people[handle] = found
    return people[handle]


def _seed_chats(
    session: Session, now: datetime, chats: Sequence[SeedChat], people: dict[str, SandboxUser], result: Seeded,
) -> tuple[dict[str, SandboxChat], dict[int, set[int]]]:
    rooms: dict[str, SandboxChat] = {}
    listed: list[tuple[SandboxChat, list[SandboxUser]]] = []
    for i, spec in enumerate(chats):
        if spec.key in rooms or not spec.members:
            raise service.InvalidInput(f"chats[{i}]", "each chat needs a unique key and at least one member")
        crowd = list({u.id: u for u in (_person(session, people, h, f"chats[{i}].members")
                                        for h in spec.members)}.values())
        if spec.kind == ChatKind.DIRECT and (spec.is_public or len(crowd) != 2):
            raise service.InvalidInput(f"chats[{i}]", "a direct chat is private and has exactly two members")
        chat = SandboxChat(title=(spec.title or spec.key)[:200], kind=spec.kind, is_public=spec.is_public,
                           status=ChatStatus.ACTIVE, created_at=now, created_by_id=crowd[0].id)
        rooms[spec.key] = chat
        listed.append((chat, crowd))
    session.add_all(chat for chat, _ in listed)
    session.flush()
    rows = [{"chat_id": chat.id, "user_id": u.id, "created_at": now} for chat, crowd in listed for u in crowd]
    for start in range(0, len(rows), _CHUNK):
        session.execute(insert(SandboxMembership), rows[start:start + _CHUNK])
    members = {chat.id: {u.id for u in crowd} for chat, crowd in listed}
    result.chats.update({key: chat.external_id for key, chat in rooms.items()})
    return rooms, members


def _seed_media(
    session: Session, now: datetime, messages: Sequence[SeedMessage], link: FirebreakLink | None, integration: str,
    result: Seeded,
) -> dict[str, tuple[int, str]]:
    """sha256 -> (media id, mime) for every file that may be posted; refused and quarantined files are left out."""
    files: dict[str, bytes] = {}
    declared: dict[str, SeedMessage] = {}
    for i, spec in enumerate(messages):
        if spec.media is not None and spec.forward_of is None:
            if not spec.media:
                raise service.InvalidInput(f"messages[{i}].media", "the file is empty")
            digest = hashlib.sha256(spec.media).hexdigest()
            files.setdefault(digest, spec.media)
            declared.setdefault(digest, spec)
    known: dict[str, tuple[int, str]] = {}
    taken_down: set[str] = set()
    digests = list(files)
    for start in range(0, len(digests), _CHUNK):
        found = session.execute(select(
            SandboxMedia.sha256, SandboxMedia.id, SandboxMedia.mime_type, SandboxMedia.quarantined_at,
        ).where(SandboxMedia.sha256.in_(digests[start:start + _CHUNK])))
        for digest, pk, mime, quarantined_at in found:
            if quarantined_at is None:
                known[digest] = (pk, mime)
            else:
                taken_down.add(digest)
    blocked = set() if link is None else {
        digest for digest, data in files.items() if link.scan_upload(integration, data).verdict == Verdict.BLOCK}
    rows = [
        {"sha256": digest, "mime_type": service.sniff_mime(data, declared[digest].mime_type), "size_bytes": len(data),
         "filename": declared[digest].filename, "data": data, "created_at": now}
        for digest, data in files.items() if digest not in known and digest not in taken_down | blocked
    ]
    for start in range(0, len(rows), 100):
        batch = rows[start:start + 100]
        ids = session.scalars(insert(SandboxMedia).returning(SandboxMedia.id, sort_by_parameter_order=True), batch)
        known.update({str(row["sha256"]): (pk, str(row["mime_type"])) for row, pk in zip(batch, ids, strict=True)})
    return known


@dataclass
class _Planned:
    chat: SandboxChat
    sender: SandboxUser
    text: str | None
    media: tuple[int, str] | None
    forward_of: int | None
    sent_at: datetime
    stored: bool = True


def _seed_messages(
    session: Session, now: datetime, messages: Sequence[SeedMessage], rooms: dict[str, SandboxChat],
    members: dict[int, set[int]], people: dict[str, SandboxUser], media_ids: dict[str, tuple[int, str]],
    result: Seeded,
) -> None:
    # Resolve and check everything first, so a bad spec stores nothing.
    plan: list[_Planned] = []
    for i, spec in enumerate(messages):
        chat = rooms.get(spec.chat) or _existing_chat(session, spec.chat, rooms, members, f"messages[{i}].chat")
        sender = _person(session, people, spec.sender, f"messages[{i}].sender")
        if sender.id not in members[chat.id]:
            raise service.InvalidInput(f"messages[{i}].sender", f"@{sender.handle} is not a member of {spec.chat}")
        item = _Planned(chat, sender, service.check_text(spec.text), None, spec.forward_of, spec.sent_at or now)
        if spec.forward_of is not None:
            if not 0 <= spec.forward_of < i:
                raise service.InvalidInput(f"messages[{i}].forward_of", "must name an earlier message")
            source = plan[spec.forward_of]
            item.text, item.media, item.stored = source.text, source.media, source.stored
        elif spec.media is not None:
            item.media = media_ids.get(hashlib.sha256(spec.media).hexdigest())
            item.stored = item.media is not None
        elif item.text is None:
            raise service.InvalidInput(f"messages[{i}].text", "a message needs text or a file")
        plan.append(item)
    ids = _insert_messages(session, plan)
    counts = {chat_id: len(crowd) for chat_id, crowd in members.items()}
    for i, item in enumerate(plan):
        if not item.stored:
            result.refused.append(i)
            result.messages.append(None)
            continue
        result.messages.append(f"{MESSAGE_PREFIX}{ids[i]}")
        if item.media is None:
            continue
        origin = item.forward_of
        forwarded = None if origin is None else (plan[origin].chat.external_id, f"{MESSAGE_PREFIX}{ids[origin]}")
        result.events.append(build_event(
            kind=EventKind.MEDIA_POSTED if origin is None else EventKind.MEDIA_FORWARDED, chat=item.chat,
            members=counts[item.chat.id], message_ref=f"{MESSAGE_PREFIX}{ids[i]}", sender=item.sender,
            at=item.sent_at, media=(f"{MEDIA_PREFIX}{item.media[0]}", item.media[1]),
            forwarded_from=forwarded,
        ))


def _existing_chat(session: Session, ref: str, rooms: dict[str, SandboxChat], members: dict[int, set[int]],
                   where: str) -> SandboxChat:
    chat = session.get(SandboxChat, parse_external_id(CHAT_PREFIX, ref) or 0)
    if chat is None:
        raise service.InvalidInput(where, f"no chat {ref!r} among the seeded or existing chats")
    rooms[ref] = chat
    members[chat.id] = set(session.scalars(select(SandboxMembership.user_id).where(
        SandboxMembership.chat_id == chat.id)))
    return chat


def _row(item: _Planned, ids: dict[int, int]) -> dict[str, object]:
    return {
        "chat_id": item.chat.id, "sender_id": item.sender.id, "text": item.text,
        "media_id": None if item.media is None else item.media[0], "sent_at": item.sent_at,
        "status": MessageStatus.LIVE, "forwarded_from_id": None if item.forward_of is None else ids[item.forward_of],
    }


def _insert_messages(session: Session, plan: list[_Planned]) -> dict[int, int]:
    """Insert in order, in batches; a batch ends before a forward of a message in the same batch."""
    ids: dict[int, int] = {}
    batch: list[int] = []

    def flush() -> None:
        if not batch:
            return
        rows = [_row(plan[i], ids) for i in batch]
        inserted = session.scalars(insert(SandboxMessage).returning(SandboxMessage.id, sort_by_parameter_order=True),
                                   rows)
        ids.update(zip(batch, inserted, strict=True))
        batch.clear()

    for i, item in enumerate(plan):
        if not item.stored:
            continue
        if len(batch) >= _CHUNK or (item.forward_of is not None and item.forward_of not in ids):
            flush()
        batch.append(i)
    flush()
    return ids

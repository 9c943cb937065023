"""The sandbox messenger's operations. Keyword-only, take a session; never commit (the caller owns the transaction).

Talking to Firebreak is kept out of here on purpose: an upload arrives with the ``ScanResult`` the caller got from
``FirebreakLink.scan_upload`` (with no transaction open, see ``flows.py``), and operations return the
``PlatformEvent`` s to submit once the caller has committed.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import TypeVar

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from firebreak.core.clock import Clock
from firebreak.core.i18n import N_
from firebreak.integrations.sandbox.events import message_event
from firebreak.integrations.sandbox.models import (
    CHAT_PREFIX,
    MEDIA_PREFIX,
    MESSAGE_PREFIX,
    USER_PREFIX,
    AccountStatus,
    ChatKind,
    ChatStatus,
    MessageStatus,
    SandboxChat,
    SandboxMedia,
    SandboxMembership,
    SandboxMessage,
    SandboxNotice,
    SandboxUser,
    parse_external_id,
)
from firebreak.platform.schemas import EventKind, PlatformEvent, ScanResult, Verdict

_Row = TypeVar("_Row", SandboxUser, SandboxChat, SandboxMessage, SandboxMedia)
HANDLE = re.compile(r"[a-z][a-z0-9_]{1,31}")
LANGUAGE = re.compile(r"[A-Za-z]{2,3}(-[A-Za-z0-9]{2,8})?")  # what Firebreak accepts as SenderIn.language
MAX_TEXT = 4000
DEFAULT_PLATFORM_NAME = "the platform"


class SandboxError(Exception):
    """An operation the sandbox refuses; the message is for the person who asked."""


class NotFound(SandboxError):
    pass


class UnknownUser(NotFound):
    """A handle nobody has: for the person acting, that means "who are you?" rather than "not found"."""


class Forbidden(SandboxError):
    pass


class Conflict(SandboxError):
    pass


class InvalidInput(SandboxError):
    def __init__(self, field_name: str, message: str) -> None:
        super().__init__(message)
        self.field = field_name


class UploadRefused(SandboxError):
    """The upload gate said no. Nothing was stored. ``reason`` is shown to the sender."""

    def __init__(self, reason: str, scan: ScanResult | None = None) -> None:
        super().__init__(reason)
        self.reason = reason
        self.scan = scan


class ScanUnavailable(SandboxError):
    """Firebreak could not check the upload: the sandbox fails closed and posts nothing unscanned."""


class MediaGone(SandboxError):
    """The content exists but the platform took it down: not served."""


@dataclass(frozen=True)
class Upload:
    data: bytes
    filename: str | None = None
    mime_type: str | None = None  # as declared by the sender; the bytes decide where they can


@dataclass(frozen=True)
class Posted:
    message: SandboxMessage
    events: list[PlatformEvent] = field(default_factory=list)  # submit after commit


@dataclass(frozen=True)
class MessageView:
    """A message as a viewer sees it: content when it is live, a placeholder when the platform removed it."""

    id: str
    chat_id: str
    sender_id: str
    sender_handle: str
    sender_name: str
    sender_status: AccountStatus
    sent_at: datetime
    status: MessageStatus  # LIVE or REMOVED (hidden media counts as removed)
    text: str | None
    media_id: str | None
    media_mime: str | None
    media_kind: str | None  # image, video or file
    forwarded_from: str | None  # "c3/m12"
    placeholder: str | None  # "Removed by Sandbox: <reason>"
    removal_reason: str | None = None  # the reason alone, for pages that say "Removed by ..." in their language

    @property
    def path(self) -> str:
        return f"/sandbox/c/{self.chat_id}/m/{self.id}"


# --- look-ups ------------------------------------------------------------------------------------------------------


def _by_external(session: Session, model: type[_Row], prefix: str, ref: str, what: str) -> _Row:
    pk = parse_external_id(prefix, ref)
    row = session.get(model, pk) if pk is not None else None
    if row is None:
        raise NotFound(f"no {what} {ref!r}")
    return row


def get_user(*, session: Session, ref: str) -> SandboxUser:
    """A user by id (``u7``)."""
    return _by_external(session, SandboxUser, USER_PREFIX, ref, "user")


def get_user_by_handle(*, session: Session, handle: str) -> SandboxUser:
    user = session.scalar(select(SandboxUser).where(SandboxUser.handle == handle.strip().lstrip("@").lower()))
    if user is None:
        raise UnknownUser(f"no user @{handle.strip().lstrip('@')}")
    return user


def get_chat(*, session: Session, ref: str) -> SandboxChat:
    return _by_external(session, SandboxChat, CHAT_PREFIX, ref, "chat")


def get_message(*, session: Session, ref: str) -> SandboxMessage:
    return _by_external(session, SandboxMessage, MESSAGE_PREFIX, ref, "message")


def get_media(*, session: Session, ref: str) -> SandboxMedia:
    """By ``md9`` or by its URL ``sandbox-media://md9``."""
    return _by_external(session, SandboxMedia, MEDIA_PREFIX, ref.removeprefix("sandbox-media://"), "media")


def is_member(*, session: Session, chat: SandboxChat, user: SandboxUser) -> bool:
    found = session.scalar(select(SandboxMembership.id).where(
        SandboxMembership.chat_id == chat.id, SandboxMembership.user_id == user.id))
    return found is not None


def member_count(*, session: Session, chat: SandboxChat) -> int:
    return session.scalar(select(func.count()).where(SandboxMembership.chat_id == chat.id)) or 0


def list_chats(*, session: Session, viewer: SandboxUser | None) -> list[SandboxChat]:
    """Chats a viewer can read (public ones and their own); every chat for the demo operator (None)."""
    query = select(SandboxChat).order_by(SandboxChat.id)
    if viewer is not None:
        mine = select(SandboxMembership.chat_id).where(SandboxMembership.user_id == viewer.id)
        query = query.where(SandboxChat.is_public.is_(True) | SandboxChat.id.in_(mine))
    return list(session.scalars(query))


def list_users(*, session: Session) -> list[SandboxUser]:
    return list(session.scalars(select(SandboxUser).order_by(SandboxUser.id)))


def can_read(*, session: Session, chat: SandboxChat, viewer: SandboxUser | None) -> bool:
    return viewer is None or chat.is_public or is_member(session=session, chat=chat, user=viewer)


# --- users and chats -----------------------------------------------------------------------------------------------


def check_handle(handle: str) -> str:
    handle = handle.strip().lstrip("@").lower()
    if not HANDLE.fullmatch(handle):
        raise InvalidInput("handle", "2 to 32 characters: a letter, then letters, digits or _")
    return handle


def check_language(language: str | None) -> str | None:
    """A language tag as a platform says it (``ko``, ``en-GB``), or None when the user chose none."""
    tag = (language or "").strip()
    if not tag:
        return None
    if not LANGUAGE.fullmatch(tag):
        raise InvalidInput("language", "a language tag such as ko or en-GB")
    return tag


def create_user(*, session: Session, clock: Clock, handle: str, display_name: str | None = None,
                language: str | None = None) -> SandboxUser:
    handle = check_handle(handle)
    language = check_language(language)
    if session.scalar(select(SandboxUser.id).where(SandboxUser.handle == handle)) is not None:
        raise Conflict(f"the handle @{handle} is taken")
    name = (display_name or "").strip() or handle
    if len(name) > 100:
        raise InvalidInput("display_name", "at most 100 characters")
    user = SandboxUser(handle=handle, display_name=name, status=AccountStatus.ACTIVE, language=language,
                       created_at=clock.now())
    session.add(user)
    session.flush()
    return user


def set_language(*, user: SandboxUser, language: str | None) -> SandboxUser:
    """The language the user reads in (None: none chosen). The platform tells Firebreak with their next post or
    upload, and Firebreak's notices to them follow."""
    user.language = check_language(language)
    return user


def create_chat(
    *, session: Session, clock: Clock, creator: SandboxUser, title: str, kind: ChatKind = ChatKind.GROUP,
    is_public: bool = False, members: Sequence[str] = (),
) -> SandboxChat:
    """A chat with its creator and the users named by handle as members."""
    title = title.strip()
    if not title or len(title) > 200:
        raise InvalidInput("title", "1 to 200 characters")
    users = [creator]
    for handle in members:
        try:
            user = get_user_by_handle(session=session, handle=handle)
        except NotFound:
            raise InvalidInput("members", f"no user @{handle}") from None
        if user.id not in {u.id for u in users}:
            users.append(user)
    if kind == ChatKind.DIRECT:
        if is_public:
            raise InvalidInput("is_public", "a direct chat is private")
        if len(users) != 2:
            raise InvalidInput("members", "a direct chat has exactly two people: you and one other")
    now = clock.now()
    chat = SandboxChat(title=title, kind=kind, is_public=is_public, status=ChatStatus.ACTIVE, created_at=now,
                       created_by_id=creator.id)
    session.add(chat)
    session.flush()
    session.add_all(SandboxMembership(chat_id=chat.id, user_id=u.id, created_at=now) for u in users)
    session.flush()
    return chat


def join(*, session: Session, clock: Clock, chat: SandboxChat, user: SandboxUser,
         added_by: SandboxUser | None = None) -> None:
    """Join a public chat, or be added to a private one by a member. Joining twice is a no-op."""
    if is_member(session=session, chat=chat, user=user):
        return
    if chat.kind == ChatKind.DIRECT:
        raise Forbidden("nobody joins a direct chat")
    if not chat.is_public and (added_by is None or not is_member(session=session, chat=chat, user=added_by)):
        raise Forbidden(f"chat {chat.external_id} is private: a member has to add you")
    session.add(SandboxMembership(chat_id=chat.id, user_id=user.id, created_at=clock.now()))
    session.flush()


# --- posting -------------------------------------------------------------------------------------------------------


def check_can_post(*, session: Session, chat: SandboxChat, sender: SandboxUser, with_media: bool) -> None:
    if sender.status == AccountStatus.SUSPENDED:
        raise Forbidden("your account is suspended: you cannot post")
    if with_media and sender.status == AccountStatus.RESTRICTED:
        raise Forbidden("your account is restricted: you cannot post photos or videos")
    if chat.status == ChatStatus.SUSPENDED:
        raise Forbidden(f"chat {chat.external_id} is suspended: nobody can post in it")
    if not is_member(session=session, chat=chat, user=sender):
        raise Forbidden(f"you are not a member of chat {chat.external_id}")


def sniff_mime(data: bytes, declared: str | None) -> str:
    """What the bytes are, for display; the declared type only when the bytes do not say."""
    if data.startswith(b"\xff\xd8\xff"):
        return "image/jpeg"
    if data.startswith(b"\x89PNG\r\n\x1a\n"):
        return "image/png"
    if data[:6] in (b"GIF87a", b"GIF89a"):
        return "image/gif"
    if data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return "image/webp"
    if data[4:8] == b"ftyp":
        return "video/quicktime" if data[8:12] == b"qt  " else "video/mp4"
    if data.startswith(b"\x1a\x45\xdf\xa3"):
        return "video/webm"
    declared = (declared or "").strip().lower()
    return declared if re.fullmatch(r"[a-z0-9.+-]+/[a-z0-9.+-]+", declared) else "application/octet-stream"


def media_kind(mime: str) -> str:
    return "image" if mime.startswith("image/") else "video" if mime.startswith("video/") else "file"


def check_text(text: str | None) -> str | None:
    text = (text or "").strip() or None
    if text is not None and len(text) > MAX_TEXT:
        raise InvalidInput("text", f"at most {MAX_TEXT} characters")
    return text


def check_scan(scan: ScanResult | None) -> None:
    if scan is None:
        raise ValueError("an upload must be scanned by Firebreak before it is stored")
    if scan.verdict == Verdict.BLOCK:
        # Which bank matched is Firebreak's business, never the sender's.
        raise UploadRefused(N_("This file was refused: it matches content that is not allowed here."), scan)
    if scan.unchecked is not None and scan.verdict != Verdict.ALLOW:
        # Firebreak could not see the whole file (cut short, damaged) and the platform's setting wants a person to
        # look before such a file is shown: the sandbox, standing for a platform, keeps it back.
        raise UploadRefused(N_("This file could not be checked: it seems damaged or cut short, so it was not "
                               "posted. Please send the original file again."), scan)


def store_media(*, session: Session, clock: Clock, upload: Upload) -> SandboxMedia:
    """The media row for these bytes: existing (identical bytes are stored once) or new."""
    if not upload.data:
        raise InvalidInput("file", "the file is empty")
    digest = hashlib.sha256(upload.data).hexdigest()
    media = session.scalar(select(SandboxMedia).where(SandboxMedia.sha256 == digest))
    if media is not None:
        if media.quarantined_at is not None:
            raise UploadRefused(N_("This file was refused: the platform has taken it down."))
        return media
    media = SandboxMedia(
        sha256=digest, mime_type=sniff_mime(upload.data, upload.mime_type), size_bytes=len(upload.data),
        filename=upload.filename[-255:] if upload.filename else None, data=upload.data, created_at=clock.now(),
    )
    session.add(media)
    session.flush()
    return media


def post_message(
    *, session: Session, clock: Clock, chat: SandboxChat, sender: SandboxUser, text: str | None,
    upload: Upload | None = None, scan: ScanResult | None = None,
) -> Posted:
    """Post text and/or one file. An upload needs Firebreak's scan; a block verdict stores nothing."""
    text = check_text(text)
    if upload is None and text is None:
        raise InvalidInput("text", "a message needs text or a file")
    check_can_post(session=session, chat=chat, sender=sender, with_media=upload is not None)
    media = None
    if upload is not None:
        if not upload.data:
            raise InvalidInput("file", "the file is empty")
        check_scan(scan)
        media = store_media(session=session, clock=clock, upload=upload)
    message = SandboxMessage(chat=chat, sender=sender, text=text, media=media, sent_at=clock.now(),
                             status=MessageStatus.LIVE)
    session.add(message)
    session.flush()
    events = [] if media is None else [message_event(session=session, message=message, kind=EventKind.MEDIA_POSTED)]
    return Posted(message, events)


def forward_message(
    *, session: Session, clock: Clock, message: SandboxMessage, to_chat: SandboxChat, by: SandboxUser,
    scan: ScanResult | None = None,
) -> Posted:
    """Forward a live message into another chat. Its file is scanned again: it may have been banked since."""
    if not can_read(session=session, chat=message.chat, viewer=by) or message.status == MessageStatus.DELETED:
        raise NotFound(f"no message {message.external_id!r}")
    if hidden_reason(message) is not None:
        raise Forbidden("the platform removed this message: it cannot be forwarded")
    check_can_post(session=session, chat=to_chat, sender=by, with_media=message.media is not None)
    if message.media is not None:
        check_scan(scan)
    copy = SandboxMessage(chat=to_chat, sender=by, text=message.text, media=message.media, sent_at=clock.now(),
                          forwarded_from=message, status=MessageStatus.LIVE)
    session.add(copy)
    session.flush()
    events = [] if copy.media is None else [
        message_event(session=session, message=copy, kind=EventKind.MEDIA_FORWARDED)]
    return Posted(copy, events)


def delete_message(*, session: Session, clock: Clock, message: SandboxMessage, by: SandboxUser) -> Posted:
    """Its sender deletes a message. Deleting twice is a no-op (and sends no second event)."""
    if message.sender_id != by.id:
        raise Forbidden("only its sender can delete a message")
    if message.status == MessageStatus.DELETED:
        return Posted(message, [])
    if message.status == MessageStatus.REMOVED:
        raise Forbidden("the platform removed this message; it can only be restored after an appeal")
    transition(message, MessageStatus.DELETED, at=clock.now())
    session.flush()
    return Posted(message, [message_event(session=session, message=message, kind=EventKind.MESSAGE_DELETED)])


# --- state -----------------------------------------------------------------------------------------------------------

_MESSAGE_MOVES = {
    (MessageStatus.LIVE, MessageStatus.REMOVED),
    (MessageStatus.LIVE, MessageStatus.DELETED),
    (MessageStatus.REMOVED, MessageStatus.LIVE),  # restored after a successful appeal
}


def transition(message: SandboxMessage, new: MessageStatus, *, at: datetime, reason: str | None = None) -> None:
    """Every change of a message's status goes through here."""
    old = message.status
    if (old, new) not in _MESSAGE_MOVES:
        raise ValueError(f"a message cannot go from {old.value} to {new.value}")
    message.status = new
    if new == MessageStatus.REMOVED:
        message.removed_at, message.removed_reason = at, reason
    elif new == MessageStatus.DELETED:
        message.deleted_at = at
    else:
        message.restored_at, message.removed_at, message.removed_reason = at, None, None


def hidden_reason(message: SandboxMessage) -> str | None:
    """Why viewers may not see this message's content, or None when they may."""
    if message.status == MessageStatus.REMOVED:
        return message.removed_reason or "removed"
    if message.media is not None and message.media.quarantined_at is not None:
        return message.media.quarantine_reason or "removed"
    return None


_ACCOUNT_RANK = {AccountStatus.ACTIVE: 0, AccountStatus.RESTRICTED: 1, AccountStatus.SUSPENDED: 2}


def escalate_account(*, user: SandboxUser, status: AccountStatus, at: datetime, reason: str | None) -> bool:
    """Restrict or suspend. Never softens: restricting a suspended account changes nothing. True if changed."""
    if _ACCOUNT_RANK[status] <= _ACCOUNT_RANK[user.status]:
        return False
    user.status, user.status_reason, user.status_changed_at = status, reason, at
    return True


def reinstate_account(*, user: SandboxUser, at: datetime) -> bool:
    """Lift a restriction or suspension (an appeal succeeded). True if it changed anything."""
    if user.status == AccountStatus.ACTIVE:
        return False
    user.status, user.status_reason, user.status_changed_at = AccountStatus.ACTIVE, None, at
    return True


def reinstate_chat(*, chat: SandboxChat, at: datetime) -> bool:
    if chat.status == ChatStatus.ACTIVE:
        return False
    chat.status, chat.status_reason, chat.status_changed_at = ChatStatus.ACTIVE, None, at
    return True


def suspend_chat(*, chat: SandboxChat, at: datetime, reason: str | None) -> bool:
    if chat.status == ChatStatus.SUSPENDED:
        return False
    chat.status, chat.status_reason, chat.status_changed_at = ChatStatus.SUSPENDED, reason, at
    return True


def quarantine(*, media: SandboxMedia, at: datetime, reason: str | None) -> bool:
    if media.quarantined_at is not None:
        return False
    media.quarantined_at, media.quarantine_reason = at, reason
    return True


def add_notice(
    *, session: Session, clock: Clock, user: SandboxUser, text: str, chat_ref: str | None = None,
    message_ref: str | None = None, dedupe_key: str | None = None,
) -> tuple[SandboxNotice, bool]:
    """A notice in the user's inbox. The same notice (same key) asked for twice lands once. (notice, created)"""
    key = dedupe_key or hashlib.sha256(f"{chat_ref}\x00{message_ref}\x00{text}".encode()).hexdigest()
    key = key if len(key) <= 64 else hashlib.sha256(key.encode()).hexdigest()
    existing = session.scalar(select(SandboxNotice).where(SandboxNotice.user_id == user.id,
                                                         SandboxNotice.dedupe_key == key))
    if existing is not None:
        return existing, False
    notice = SandboxNotice(user_id=user.id, text=text, chat_ref=chat_ref, message_ref=message_ref, dedupe_key=key,
                           created_at=clock.now())
    session.add(notice)
    session.flush()
    return notice, True


def list_notices(*, session: Session, user: SandboxUser) -> list[SandboxNotice]:
    return list(session.scalars(select(SandboxNotice).where(SandboxNotice.user_id == user.id)
                                .order_by(SandboxNotice.id.desc())))


# --- reading -------------------------------------------------------------------------------------------------------


def view(message: SandboxMessage, *, platform_name: str = DEFAULT_PLATFORM_NAME,
         forwarded_chat: str | None = None) -> MessageView:
    reason = hidden_reason(message)
    media = message.media if reason is None else None
    forwarded = None
    if message.forwarded_from_id is not None:
        chat_ref = forwarded_chat or (message.forwarded_from.chat.external_id if message.forwarded_from else "?")
        forwarded = f"{chat_ref}/{MESSAGE_PREFIX}{message.forwarded_from_id}"
    return MessageView(
        id=message.external_id, chat_id=message.chat.external_id, sender_id=message.sender.external_id,
        sender_handle=message.sender.handle, sender_name=message.sender.display_name,
        sender_status=message.sender.status, sent_at=message.sent_at,
        status=MessageStatus.LIVE if reason is None else MessageStatus.REMOVED,
        text=message.text if reason is None else None,
        media_id=media.external_id if media else None, media_mime=media.mime_type if media else None,
        media_kind=media_kind(media.mime_type) if media else None, forwarded_from=forwarded,
        placeholder=None if reason is None else f"Removed by {platform_name}: {reason}", removal_reason=reason,
    )


def list_messages(
    *, session: Session, chat: SandboxChat, viewer: SandboxUser | None, platform_name: str = DEFAULT_PLATFORM_NAME,
    limit: int = 100, before: int | None = None,
) -> list[MessageView]:
    """The newest ``limit`` messages, oldest first. Deleted ones are gone; removed ones are placeholders."""
    if not can_read(session=session, chat=chat, viewer=viewer):
        raise NotFound(f"no chat {chat.external_id!r}")
    query = select(SandboxMessage).where(SandboxMessage.chat_id == chat.id,
                                         SandboxMessage.status != MessageStatus.DELETED)
    if before is not None:
        query = query.where(SandboxMessage.id < before)
    rows = list(session.scalars(query.order_by(SandboxMessage.id.desc()).limit(limit)))
    sources = _source_chats(session, (m.forwarded_from_id for m in rows))
    return [view(m, platform_name=platform_name, forwarded_chat=sources.get(m.forwarded_from_id or 0))
            for m in reversed(rows)]


def _source_chats(session: Session, ids: Iterable[int | None]) -> dict[int, str]:
    wanted = {i for i in ids if i is not None}
    if not wanted:
        return {}
    rows = session.execute(select(SandboxMessage.id, SandboxMessage.chat_id).where(SandboxMessage.id.in_(wanted)))
    return {mid: f"{CHAT_PREFIX}{cid}" for mid, cid in rows}


def readable_message(*, session: Session, ref: str, viewer: SandboxUser | None) -> SandboxMessage:
    """A message the viewer may look at (live or removed); deleted ones and others' private chats are not found."""
    message = get_message(session=session, ref=ref)
    if message.status == MessageStatus.DELETED or not can_read(session=session, chat=message.chat, viewer=viewer):
        raise NotFound(f"no message {ref!r}")
    return message


def served_media(*, session: Session, message: SandboxMessage, platform_name: str = DEFAULT_PLATFORM_NAME,
                 ) -> tuple[bytes, str]:
    """The file of a readable message, unless the platform took the message or the file down."""
    if message.media is None:
        raise NotFound(f"message {message.external_id} has no file")
    reason = hidden_reason(message)
    if reason is not None:
        raise MediaGone(f"Removed by {platform_name}: {reason}")
    return message.media.data, message.media.mime_type

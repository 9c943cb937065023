"""What the sandbox tells Firebreak about a message: one ``PlatformEvent`` per post, forward or deletion.

Media travels as a ``sandbox-media://<media id>`` URL (plus ``media_id`` and ``mime_type``), never as bytes:
Firebreak fetches the file through ``SandboxAdapter.fetch_media`` when it needs it, so a file forwarded a thousand
times is not shipped a thousand times. Event ids are ``<message id>:<kind>``, so re-sending an event is a no-op.
"""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from firebreak.integrations.sandbox.models import (
    USER_PREFIX,
    ChatKind,
    SandboxChat,
    SandboxMembership,
    SandboxMessage,
    SandboxUser,
)
from firebreak.platform.schemas import ChatIn, EventKind, ForwardedFrom, MediaIn, PlatformEvent, SenderIn

_CHAT_KIND: dict[ChatKind, Literal["group", "channel", "direct"]] = {
    ChatKind.GROUP: "group", ChatKind.CHANNEL: "channel", ChatKind.DIRECT: "direct"}


def _member_count(session: Session, chat: SandboxChat) -> int:
    return session.scalar(select(func.count()).where(SandboxMembership.chat_id == chat.id)) or 0


def message_event(*, session: Session, message: SandboxMessage, kind: EventKind, members: int | None = None,
                  ) -> PlatformEvent:
    """The event Firebreak gets about a message (a deletion is dated when it happened)."""
    source = message.forwarded_from if kind == EventKind.MEDIA_FORWARDED else None
    media = message.media if kind != EventKind.MESSAGE_DELETED else None
    return build_event(
        kind=kind, chat=message.chat,
        members=members if members is not None else _member_count(session, message.chat),
        message_ref=message.external_id, sender=message.sender,
        at=(message.deleted_at if kind == EventKind.MESSAGE_DELETED else None) or message.sent_at,
        media=None if media is None else (media.external_id, media.mime_type),
        forwarded_from=None if source is None else (source.chat.external_id, source.external_id),
    )


def sender_info(user: SandboxUser) -> SenderIn:
    """Who posted or uploaded, in the language they chose (Firebreak's notices to them use it)."""
    return SenderIn(id=user.external_id, display_name=user.display_name, language=user.language)


def chat_info(chat: SandboxChat, members: int | None = None) -> ChatIn:
    """What Firebreak is told about a chat; its creator administers it (chat-level notices go there)."""
    return ChatIn(id=chat.external_id, kind=_CHAT_KIND[chat.kind], is_public=chat.is_public, title=chat.title,
                  member_count=members, admins=[f"{USER_PREFIX}{chat.created_by_id}"] if chat.created_by_id else [])


def build_event(
    *, kind: EventKind, chat: SandboxChat, members: int, message_ref: str, sender: SandboxUser, at: datetime,
    media: tuple[str, str] | None, forwarded_from: tuple[str, str] | None = None,
) -> PlatformEvent:
    """One PlatformEvent. Media travels as a ``sandbox-media://<id>`` URL that Firebreak fetches through
    ``SandboxAdapter.fetch_media``, so the bytes are not shipped twice (and not at all if already known)."""
    return PlatformEvent(
        event_id=f"{message_ref}:{kind.value}", kind=kind,
        chat=chat_info(chat, members),
        message_id=message_ref, sender=sender_info(sender),
        sent_at=at,
        forwarded_from=None if forwarded_from is None else ForwardedFrom(chat_id=forwarded_from[0],
                                                                         message_id=forwarded_from[1]),
        media=[] if media is None else [MediaIn(media_id=media[0], url=f"sandbox-media://{media[0]}",
                                                mime_type=media[1])],
    )

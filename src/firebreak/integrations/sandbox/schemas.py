"""The sandbox's JSON shapes (``/sandbox/api``). Sandbox data only: nothing of Firebreak's ever goes out here."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field, StringConstraints

from firebreak.integrations.sandbox import service
from firebreak.integrations.sandbox.models import (
    AccountStatus,
    ChatKind,
    ChatStatus,
    MessageStatus,
    SandboxChat,
    SandboxNotice,
    SandboxUser,
)

Handle = Annotated[str, StringConstraints(strip_whitespace=True, pattern=r"^@?[A-Za-z][A-Za-z0-9_]{1,31}$")]
ChatRef = Annotated[str, StringConstraints(strip_whitespace=True, pattern=r"^c[1-9][0-9]{0,17}$")]


class UserCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    handle: Handle
    display_name: Annotated[str, StringConstraints(strip_whitespace=True, max_length=100)] | None = None
    language: Annotated[str, StringConstraints(strip_whitespace=True,
                                               pattern=r"^[A-Za-z]{2,3}(-[A-Za-z0-9]{2,8})?$")] | None = None


class UserUpdate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    language: Annotated[str, StringConstraints(strip_whitespace=True,
                                               pattern=r"^[A-Za-z]{2,3}(-[A-Za-z0-9]{2,8})?$")] | None


class UserOut(BaseModel):
    id: str
    handle: str
    display_name: str
    status: AccountStatus
    status_reason: str | None
    language: str | None

    @classmethod
    def of(cls, user: SandboxUser) -> UserOut:
        return cls(id=user.external_id, handle=user.handle, display_name=user.display_name, status=user.status,
                   status_reason=user.status_reason, language=user.language)


class ChatCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    title: Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=200)]
    kind: ChatKind = ChatKind.GROUP
    is_public: bool = False
    members: list[Handle] = Field(default_factory=list, max_length=500)  # besides you


class ChatOut(BaseModel):
    id: str
    title: str
    kind: ChatKind
    is_public: bool
    status: ChatStatus
    status_reason: str | None
    member_count: int
    link: str  # path of the chat in the web view

    @classmethod
    def of(cls, chat: SandboxChat, member_count: int) -> ChatOut:
        return cls(id=chat.external_id, title=chat.title, kind=chat.kind, is_public=chat.is_public,
                   status=chat.status, status_reason=chat.status_reason, member_count=member_count,
                   link=f"/sandbox/c/{chat.external_id}")


class SenderOut(BaseModel):
    id: str
    handle: str
    display_name: str
    status: AccountStatus


class MediaOut(BaseModel):
    id: str
    mime_type: str
    kind: str  # image, video or file
    download: str  # path of the bytes; served only while the message is live


class MessageOut(BaseModel):
    id: str
    chat_id: str
    sender: SenderOut
    sent_at: datetime
    status: MessageStatus  # live, or removed (then text and media are null and placeholder says why)
    text: str | None
    media: MediaOut | None
    forwarded_from: str | None  # "c3/m12"
    placeholder: str | None
    link: str

    @classmethod
    def of(cls, view: service.MessageView) -> MessageOut:
        media = None
        if view.media_id is not None and view.media_mime is not None:
            media = MediaOut(id=view.media_id, mime_type=view.media_mime, kind=view.media_kind or "file",
                             download=f"/sandbox/api/messages/{view.id}/media")
        return cls(
            id=view.id, chat_id=view.chat_id, sender=SenderOut(id=view.sender_id, handle=view.sender_handle,
                                                               display_name=view.sender_name,
                                                               status=view.sender_status),
            sent_at=view.sent_at, status=view.status, text=view.text, media=media,
            forwarded_from=view.forwarded_from, placeholder=view.placeholder, link=view.path,
        )


class ForwardIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    to_chat: ChatRef


class NoticeOut(BaseModel):
    id: int
    text: str
    chat_id: str | None
    message_id: str | None
    created_at: datetime

    @classmethod
    def of(cls, notice: SandboxNotice) -> NoticeOut:
        return cls(id=notice.id, text=notice.text, chat_id=notice.chat_ref, message_id=notice.message_ref,
                   created_at=notice.created_at)

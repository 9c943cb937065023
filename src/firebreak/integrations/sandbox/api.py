"""The sandbox's JSON API (``/sandbox/api``); its web view (``/sandbox/``) is in ``web.py``.

Who is calling is named by the header ``X-Sandbox-User: <handle>``. That is a demo convenience, not
authentication: the sandbox is a stand-in platform for demos and tests. It serves sandbox data only.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, File, Form, Header, Query, Response, UploadFile
from sqlalchemy.orm import Session

from firebreak.core.http.deps import Provide, SessionDep
from firebreak.core.http.guard import accepts
from firebreak.core.http.openapi import answers
from firebreak.core.http.problems import Problem
from firebreak.integrations.sandbox import service
from firebreak.integrations.sandbox.flows import Sandbox
from firebreak.integrations.sandbox.http import media_response, problems, read_upload
from firebreak.integrations.sandbox.models import MESSAGE_PREFIX, SandboxUser, parse_external_id
from firebreak.integrations.sandbox.schemas import (
    ChatCreate,
    ChatOut,
    ForwardIn,
    MessageOut,
    NoticeOut,
    UserCreate,
    UserOut,
    UserUpdate,
)

__all__ = ["router"]

SandboxDep = Annotated[Sandbox, Provide(Sandbox)]
router = APIRouter(prefix="/sandbox/api", tags=["sandbox"])


@answers(401)
def caller_handle(x_sandbox_user: Annotated[str | None, Header()] = None) -> str:
    if not x_sandbox_user or not x_sandbox_user.strip():
        raise Problem(401, "Who are you?", "Name yourself with the header 'X-Sandbox-User: <handle>' (a demo, not "
                      "authentication).", errors=[{"field": "X-Sandbox-User", "message": "missing"}])
    return x_sandbox_user.strip()


CallerHandle = Annotated[str, Depends(caller_handle)]
# What http.problems() can answer: a route that uses it may give any of these.
REFUSALS = (401, 403, 404, 409, 410, 422, 503)


def _caller(session: Session, handle: str) -> SandboxUser:
    try:
        return service.get_user_by_handle(session=session, handle=handle)
    except service.NotFound:
        raise Problem(401, "Who are you?", f"There is no sandbox user @{handle.lstrip('@')}.",
                      errors=[{"field": "X-Sandbox-User", "message": "unknown user"}]) from None


@router.post("/users", status_code=201, summary="Sign up (no header needed)")
@answers(*REFUSALS)
def create_user(data: UserCreate, session: SessionDep, sandbox: SandboxDep) -> UserOut:
    with problems():
        return UserOut.of(service.create_user(session=session, clock=sandbox.clock, handle=data.handle,
                                              display_name=data.display_name, language=data.language))


@router.get("/users/{user_id}")
@answers(*REFUSALS)
def get_user(user_id: str, session: SessionDep, handle: CallerHandle) -> UserOut:
    _caller(session, handle)
    with problems():
        return UserOut.of(service.get_user(session=session, ref=user_id))


@router.patch("/users/{user_id}", summary="Change your own settings (the language notices come in)")
@answers(*REFUSALS)
def update_user(user_id: str, data: UserUpdate, session: SessionDep, handle: CallerHandle) -> UserOut:
    me = _caller(session, handle)
    with problems():
        user = service.get_user(session=session, ref=user_id)
    if user.id != me.id:
        raise Problem(403, "Not yours", "You can change only your own settings.",
                      errors=[{"field": "user_id", "message": "another user"}])
    with problems():
        return UserOut.of(service.set_language(user=user, language=data.language))


@router.get("/notices", summary="Your inbox: what the platform did and why")
def my_notices(session: SessionDep, handle: CallerHandle) -> list[NoticeOut]:
    me = _caller(session, handle)
    return [NoticeOut.of(n) for n in service.list_notices(session=session, user=me)]


@router.post("/chats", status_code=201)
@answers(*REFUSALS)
def create_chat(data: ChatCreate, session: SessionDep, sandbox: SandboxDep, handle: CallerHandle) -> ChatOut:
    me = _caller(session, handle)
    with problems():
        chat = service.create_chat(session=session, clock=sandbox.clock, creator=me, title=data.title, kind=data.kind,
                                   is_public=data.is_public, members=data.members)
        return ChatOut.of(chat, service.member_count(session=session, chat=chat))


@router.get("/chats", summary="Public chats and yours")
def list_chats(session: SessionDep, handle: CallerHandle) -> list[ChatOut]:
    me = _caller(session, handle)
    return [ChatOut.of(c, service.member_count(session=session, chat=c))
            for c in service.list_chats(session=session, viewer=me)]


@router.get("/chats/{chat_id}")
@answers(*REFUSALS)
def get_chat(chat_id: str, session: SessionDep, handle: CallerHandle) -> ChatOut:
    me = _caller(session, handle)
    with problems():
        chat = service.get_chat(session=session, ref=chat_id)
        if not service.can_read(session=session, chat=chat, viewer=me):
            raise service.NotFound(f"no chat {chat_id!r}")
        return ChatOut.of(chat, service.member_count(session=session, chat=chat))


@router.post("/chats/{chat_id}/join")
@answers(*REFUSALS)
def join_chat(chat_id: str, session: SessionDep, sandbox: SandboxDep, handle: CallerHandle) -> ChatOut:
    me = _caller(session, handle)
    with problems():
        chat = service.get_chat(session=session, ref=chat_id)
        service.join(session=session, clock=sandbox.clock, chat=chat, user=me)
        return ChatOut.of(chat, service.member_count(session=session, chat=chat))


@router.get("/chats/{chat_id}/messages", summary="Messages, oldest first; removed ones as placeholders")
@answers(*REFUSALS)
def list_messages(
    chat_id: str, session: SessionDep, sandbox: SandboxDep, handle: CallerHandle,
    limit: Annotated[int, Query(ge=1, le=500)] = 100,
    before: Annotated[str | None, Query(pattern=r"^m[1-9][0-9]{0,17}$")] = None,
) -> list[MessageOut]:
    me = _caller(session, handle)
    with problems():
        chat = service.get_chat(session=session, ref=chat_id)
        views = service.list_messages(
            session=session, chat=chat, viewer=me, platform_name=sandbox.platform_name, limit=limit,
            before=parse_external_id(MESSAGE_PREFIX, before) if before else None)
    return [MessageOut.of(v) for v in views]


@router.post("/chats/{chat_id}/messages", status_code=201, summary="Post text and/or a file (multipart)")
@accepts("upload")
@answers(*REFUSALS)
def post_message(
    chat_id: str, sandbox: SandboxDep, handle: CallerHandle,
    text: Annotated[str | None, Form(max_length=service.MAX_TEXT)] = None,
    file: Annotated[UploadFile | None, File()] = None,
) -> MessageOut:
    with problems():
        upload = read_upload(file, sandbox.deps.max_upload_bytes)
        return MessageOut.of(sandbox.post(chat_ref=chat_id, sender_handle=handle, text=text, upload=upload))


@router.get("/messages/{message_id}")
@answers(*REFUSALS)
def get_message(message_id: str, session: SessionDep, sandbox: SandboxDep, handle: CallerHandle) -> MessageOut:
    me = _caller(session, handle)
    with problems():
        message = service.readable_message(session=session, ref=message_id, viewer=me)
        return MessageOut.of(service.view(message, platform_name=sandbox.platform_name))


@router.post("/messages/{message_id}/forward", status_code=201)
@answers(*REFUSALS)
def forward_message(message_id: str, data: ForwardIn, sandbox: SandboxDep, handle: CallerHandle) -> MessageOut:
    with problems():
        return MessageOut.of(sandbox.forward(message_ref=message_id, to_chat_ref=data.to_chat, by_handle=handle))


@router.delete("/messages/{message_id}", status_code=204, summary="Delete your own message")
@answers(*REFUSALS)
def delete_message(message_id: str, sandbox: SandboxDep, handle: CallerHandle) -> Response:
    with problems():
        sandbox.delete(message_ref=message_id, by_handle=handle)
    return Response(status_code=204)


@router.get("/messages/{message_id}/media", summary="The file, while the platform has not taken it down",
            response_class=Response)
@answers(*REFUSALS)
def message_media(message_id: str, session: SessionDep, sandbox: SandboxDep, handle: CallerHandle) -> Response:
    me = _caller(session, handle)
    with problems():
        message = service.readable_message(session=session, ref=message_id, viewer=me)
        data, mime = service.served_media(session=session, message=message, platform_name=sandbox.platform_name)
    return media_response(data, mime)

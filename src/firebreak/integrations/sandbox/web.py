"""The sandbox's web view (``/sandbox/``): watch content appear, and disappear when Firebreak acts.

Server-rendered with Jinja2; a tiny script (``static/sandbox.js``, no CDN: the demo machine may be offline) refreshes
the message list every 2 seconds and reveals blurred media on click. The viewer is the demo operator, who sees every
chat and posts "as" one of its members: a demo, not an access model.
"""

from __future__ import annotations

from importlib import resources
from typing import Annotated, Any

from fastapi import APIRouter, File, Form, Request, Response, UploadFile
from fastapi.responses import HTMLResponse, RedirectResponse
from sqlalchemy.orm import Session

from firebreak.core.http.deps import Provide, SessionDep
from firebreak.core.http.guard import accepts
from firebreak.integrations.sandbox import service
from firebreak.integrations.sandbox.flows import Sandbox
from firebreak.integrations.sandbox.http import media_response, read_upload, status_of
from firebreak.integrations.sandbox.models import ChatKind, SandboxChat, SandboxUser
from firebreak.web.templating import SECURITY_HEADERS, env, page_language, remember_language

SandboxDep = Annotated[Sandbox, Provide(Sandbox)]
router = APIRouter(prefix="/sandbox", tags=["sandbox web"], include_in_schema=False)

_ASSETS = {"sandbox.css": "text/css", "sandbox.js": "text/javascript"}
FormText = Annotated[str, Form()]
OptionalText = Annotated[str | None, Form()]


def _page(request: Request, name: str, status: int = 200, **context: Any) -> HTMLResponse:
    """A sandbox page in the browser's language (Accept-Language, or the switch at the foot of every page)."""
    language = page_language(request)
    html = env.get_template(f"sandbox/{name}").render(
        request=request, platform=context.pop("platform", "the platform"), lang=language.code, tz=None,
        language_links=language.links, **context)
    response = HTMLResponse(html, status_code=status, headers=SECURITY_HEADERS)
    remember_language(response, language)
    return response


def _error(request: Request, sandbox: Sandbox, exc: Exception) -> HTMLResponse:
    return _page(request, "error.html", status_of(exc), message=str(exc), platform=sandbox.platform_name)


@router.get("/assets/{name}", response_class=Response)
def asset(name: str) -> Response:
    if name not in _ASSETS:
        return Response(status_code=404)
    body = resources.files("firebreak.integrations.sandbox").joinpath("static", name).read_bytes()
    return Response(body, media_type=_ASSETS[name], headers={"Cache-Control": "no-cache"})


@router.get("/", response_class=HTMLResponse)
def index(request: Request, session: SessionDep, sandbox: SandboxDep) -> HTMLResponse:
    chats = service.list_chats(session=session, viewer=None)
    return _page(request, "index.html", platform=sandbox.platform_name, users=service.list_users(
        session=session), chats=[(c, service.member_count(session=session, chat=c)) for c in chats],
        kinds=[k.value for k in ChatKind])


@router.post("/users", response_class=HTMLResponse)
def create_user(request: Request, session: SessionDep, sandbox: SandboxDep, handle: FormText,
                display_name: OptionalText = None, language: OptionalText = None) -> Response:
    try:
        service.create_user(session=session, clock=sandbox.clock, handle=handle, display_name=display_name,
                            language=language)
    except service.SandboxError as exc:
        return _error(request, sandbox, exc)
    return RedirectResponse("/sandbox/", status_code=303)


@router.post("/chats", response_class=HTMLResponse)
def create_chat(
    request: Request, session: SessionDep, sandbox: SandboxDep, creator: FormText, title: FormText,
    kind: Annotated[ChatKind, Form()] = ChatKind.GROUP, is_public: Annotated[bool, Form()] = False,
    members: FormText = "",
) -> Response:
    try:
        chat = service.create_chat(
            session=session, clock=sandbox.clock, creator=service.get_user_by_handle(session=session, handle=creator),
            title=title, kind=kind, is_public=is_public, members=members.replace(",", " ").split())
    except service.SandboxError as exc:
        return _error(request, sandbox, exc)
    return RedirectResponse(f"/sandbox/c/{chat.external_id}", status_code=303)


def _chat_page(request: Request, session: Session, sandbox: Sandbox, chat: SandboxChat, *, status: int = 200,
               refusal: str | None = None, sender: str | None = None, text: str | None = None) -> HTMLResponse:
    members = [u for u in service.list_users(session=session) if service.is_member(session=session, chat=chat, user=u)]
    return _page(
        request, "chat.html", status, platform=sandbox.platform_name, chat=chat, members=members,
        chats=service.list_chats(session=session, viewer=None), refusal=refusal, sender=sender, text=text, single=False,
        messages=service.list_messages(session=session, chat=chat, viewer=None,
                                       platform_name=sandbox.platform_name),
    )


@router.get("/c/{chat_id}", response_class=HTMLResponse)
def chat_page(request: Request, chat_id: str, session: SessionDep, sandbox: SandboxDep) -> HTMLResponse:
    try:
        chat = service.get_chat(session=session, ref=chat_id)
    except service.SandboxError as exc:
        return _error(request, sandbox, exc)
    return _chat_page(request, session, sandbox, chat)


@router.get("/c/{chat_id}/messages", response_class=HTMLResponse, summary="The message list, for the 2 s refresh")
def chat_messages(request: Request, chat_id: str, session: SessionDep, sandbox: SandboxDep) -> HTMLResponse:
    try:
        chat = service.get_chat(session=session, ref=chat_id)
    except service.SandboxError as exc:
        return _error(request, sandbox, exc)
    views = service.list_messages(session=session, chat=chat, viewer=None, platform_name=sandbox.platform_name)
    return _page(request, "_messages.html", chat=chat, messages=views, single=False, platform=sandbox.platform_name,
                 chats=service.list_chats(session=session, viewer=None))


@router.get("/c/{chat_id}/m/{message_id}", response_class=HTMLResponse, summary="A message's permalink")
def message_page(request: Request, chat_id: str, message_id: str, session: SessionDep,
                 sandbox: SandboxDep) -> HTMLResponse:
    try:
        message = service.readable_message(session=session, ref=message_id, viewer=None)
        if message.chat.external_id != chat_id:
            raise service.NotFound(f"no message {message_id!r} in chat {chat_id!r}")
    except service.SandboxError as exc:
        return _error(request, sandbox, exc)
    name = sandbox.platform_name
    return _page(request, "message.html", platform=name, chat=message.chat,
                 messages=[service.view(message, platform_name=name)], single=True, chats=[])


@router.post("/c/{chat_id}/post", response_class=HTMLResponse)
@accepts("upload")
def post(
    request: Request, chat_id: str, sandbox: SandboxDep, sender: FormText, text: OptionalText = None,
    file: Annotated[UploadFile | None, File()] = None,
) -> Response:
    try:
        view = sandbox.post(chat_ref=chat_id, sender_handle=sender, text=text,
                          upload=read_upload(file, sandbox.deps.max_upload_bytes))
    except service.SandboxError as exc:
        with sandbox.deps.db.transaction() as session:  # the refusal is shown on the chat page, with what was typed
            try:
                chat = service.get_chat(session=session, ref=chat_id)
            except service.NotFound as missing:
                return _error(request, sandbox, missing)
            return _chat_page(request, session, sandbox, chat, status=status_of(exc), refusal=str(exc), sender=sender,
                              text=text)
    return RedirectResponse(f"/sandbox/c/{chat_id}#{view.id}", status_code=303)


@router.post("/c/{chat_id}/m/{message_id}/delete", response_class=HTMLResponse)
def delete(request: Request, chat_id: str, message_id: str, sandbox: SandboxDep, sender: FormText) -> Response:
    try:
        sandbox.delete(message_ref=message_id, by_handle=sender)
    except service.SandboxError as exc:
        return _error(request, sandbox, exc)
    return RedirectResponse(f"/sandbox/c/{chat_id}", status_code=303)


@router.post("/c/{chat_id}/m/{message_id}/forward", response_class=HTMLResponse)
def forward(request: Request, chat_id: str, message_id: str, sandbox: SandboxDep, sender: FormText,
            to_chat: FormText) -> Response:
    try:
        view = sandbox.forward(message_ref=message_id, to_chat_ref=to_chat, by_handle=sender)
    except service.SandboxError as exc:
        return _error(request, sandbox, exc)
    return RedirectResponse(f"/sandbox/c/{view.chat_id}#{view.id}", status_code=303)


@router.get("/u/{user_id}", response_class=HTMLResponse, summary="A user's standing and inbox")
def user_page(request: Request, user_id: str, session: SessionDep, sandbox: SandboxDep) -> HTMLResponse:
    try:
        user: SandboxUser = service.get_user(session=session, ref=user_id)
    except service.SandboxError as exc:
        return _error(request, sandbox, exc)
    return _page(request, "user.html", platform=sandbox.platform_name, user=user,
                 notices=service.list_notices(session=session, user=user))


@router.post("/u/{user_id}/language", response_class=HTMLResponse)
def set_language(request: Request, user_id: str, session: SessionDep, sandbox: SandboxDep,
                 language: OptionalText = None) -> Response:
    try:
        user: SandboxUser = service.get_user(session=session, ref=user_id)
        service.set_language(user=user, language=language)
    except service.SandboxError as exc:
        return _error(request, sandbox, exc)
    return RedirectResponse(f"/sandbox/u/{user.external_id}", status_code=303)


@router.get("/media/{message_id}", response_class=Response, summary="A message's file, while it may be shown")
def media(request: Request, message_id: str, session: SessionDep, sandbox: SandboxDep) -> Response:
    try:
        message = service.readable_message(session=session, ref=message_id, viewer=None)
        data, mime = service.served_media(session=session, message=message, platform_name=sandbox.platform_name)
    except service.SandboxError as exc:
        return Response(str(exc), status_code=status_of(exc), media_type="text/plain",
                        headers={"Cache-Control": "no-store"})
    return media_response(data, mime)


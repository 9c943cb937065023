"""Posting, forwarding and deleting as a person does it: the upload gate before, Firebreak's events after.

These own their transactions (like a request does), because of two facts about the in-process link:

- ``FirebreakLink.scan_upload`` may write in a transaction of its own. On SQLite a transaction holds the write lock
  from its first statement (``BEGIN IMMEDIATE``), so the scan runs with no sandbox transaction open.
- ``FirebreakLink.submit_event`` may fetch the media through ``SandboxAdapter.fetch_media`` at once, in another
  transaction; it must find the message and its file, so events are submitted only after the sandbox committed.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import TYPE_CHECKING

from sqlalchemy.orm import Session

from firebreak.platform.ingest import FirebreakLink
from firebreak.platform.schemas import PlatformEvent
from firebreak.sandbox import service
from firebreak.sandbox.models import MessageStatus, SandboxChat, SandboxMessage, SandboxUser

if TYPE_CHECKING:
    from firebreak.runtime import Runtime

log = logging.getLogger(__name__)

LINK_KEY = "sandbox.link"
INTEGRATION_KEY = "sandbox.integration"
DEFAULT_INTEGRATION = "sandbox"


class NotConnected(Exception):
    """The sandbox has no FirebreakLink: it refuses to post anything unscanned."""


def connect(runtime: Runtime, link: FirebreakLink, *, integration: str = DEFAULT_INTEGRATION) -> None:
    """Plug Firebreak into the sandbox: every upload is scanned by ``link`` and every post reported to it."""
    runtime.extras[LINK_KEY] = link
    runtime.extras[INTEGRATION_KEY] = integration


def link_of(runtime: Runtime) -> tuple[FirebreakLink, str]:
    link = runtime.extras.get(LINK_KEY)
    if link is None:
        raise NotConnected("the sandbox is not connected to Firebreak, so it accepts no posts")
    return link, str(runtime.extras.get(INTEGRATION_KEY, DEFAULT_INTEGRATION))


def platform_name(runtime: Runtime) -> str:
    return runtime.settings.platform_name or service.DEFAULT_PLATFORM_NAME


def post(
    runtime: Runtime, *, chat_ref: str, sender_handle: str, text: str | None, upload: service.Upload | None,
) -> service.MessageView:
    link, integration = link_of(runtime)

    def parties(session: Session) -> tuple[SandboxChat, SandboxUser]:
        return (service.get_chat(session=session, ref=chat_ref),
                service.get_user_by_handle(session=session, handle=sender_handle))

    with runtime.transaction() as session:  # refuse early, before scanning anything
        chat, sender = parties(session)
        if upload is None and service.check_text(text) is None:
            raise service.InvalidInput("text", "a message needs text or a file")
        service.check_can_post(session=session, chat=chat, sender=sender, with_media=upload is not None)
    scan = link.scan_upload(integration, upload.data) if upload is not None and upload.data else None
    with runtime.transaction() as session:
        chat, sender = parties(session)
        posted = service.post_message(session=session, clock=runtime.clock, chat=chat, sender=sender, text=text,
                                      upload=upload, scan=scan)
        result = service.view(posted.message, platform_name=platform_name(runtime))
    _submit(link, integration, posted.events)
    return result


def forward(runtime: Runtime, *, message_ref: str, to_chat_ref: str, by_handle: str) -> service.MessageView:
    link, integration = link_of(runtime)

    def parties(session: Session) -> tuple[SandboxMessage, SandboxChat, SandboxUser]:
        by = service.get_user_by_handle(session=session, handle=by_handle)
        return (service.readable_message(session=session, ref=message_ref, viewer=by),
                service.get_chat(session=session, ref=to_chat_ref), by)

    with runtime.transaction() as session:
        message, to_chat, by = parties(session)
        if service.hidden_reason(message) is not None:
            raise service.Forbidden("the platform removed this message: it cannot be forwarded")
        service.check_can_post(session=session, chat=to_chat, sender=by, with_media=message.media is not None)
        data = message.media.data if message.media is not None else None
    scan = link.scan_upload(integration, data) if data is not None else None
    with runtime.transaction() as session:
        message, to_chat, by = parties(session)
        posted = service.forward_message(session=session, clock=runtime.clock, message=message, to_chat=to_chat,
                                         by=by, scan=scan)
        result = service.view(posted.message, platform_name=platform_name(runtime))
    _submit(link, integration, posted.events)
    return result


def delete(runtime: Runtime, *, message_ref: str, by_handle: str) -> None:
    link, integration = link_of(runtime)
    with runtime.transaction() as session:
        by = service.get_user_by_handle(session=session, handle=by_handle)
        message = service.get_message(session=session, ref=message_ref)
        if message.status != MessageStatus.DELETED:
            message = service.readable_message(session=session, ref=message_ref, viewer=by)
        posted = service.delete_message(session=session, clock=runtime.clock, message=message, by=by)
    _submit(link, integration, posted.events)


def _submit(link: FirebreakLink, integration: str, events: Sequence[PlatformEvent]) -> None:
    for event in events:
        try:
            link.submit_event(integration, event)
        except Exception:  # the message is committed; a lost event is logged, not turned into a failed post
            log.exception("could not submit sandbox event %s to Firebreak", event.event_id)

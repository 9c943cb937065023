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
from dataclasses import dataclass

from sqlalchemy.orm import Session

from firebreak.core.clock import Clock
from firebreak.core.db.session import Database
from firebreak.integrations.sandbox import service
from firebreak.integrations.sandbox.events import chat_info, sender_info
from firebreak.integrations.sandbox.models import MessageStatus, SandboxChat, SandboxMessage, SandboxUser
from firebreak.platform.link import FirebreakLink
from firebreak.platform.schemas import ChatIn, PlatformEvent, ScanResult, SenderIn

log = logging.getLogger(__name__)

DEFAULT_INTEGRATION = "sandbox"


@dataclass(frozen=True)
class SandboxDeps:
    db: Database
    clock: Clock
    link: FirebreakLink  # every upload is scanned by it and every post reported to it
    integration: str = DEFAULT_INTEGRATION
    platform_name: str = service.DEFAULT_PLATFORM_NAME
    max_upload_bytes: int = 200 * 1024 * 1024


class Sandbox:
    """The messenger's use cases as its people do them. Firebreak is plugged in through ``deps.link``."""

    def __init__(self, deps: SandboxDeps) -> None:
        self.deps = deps

    @property
    def platform_name(self) -> str:
        return self.deps.platform_name or service.DEFAULT_PLATFORM_NAME

    @property
    def clock(self) -> Clock:
        return self.deps.clock

    def post(self, *, chat_ref: str, sender_handle: str, text: str | None, upload: service.Upload | None,
             ) -> service.MessageView:
        d = self.deps

        def parties(session: Session) -> tuple[SandboxChat, SandboxUser]:
            return (service.get_chat(session=session, ref=chat_ref),
                    service.get_user_by_handle(session=session, handle=sender_handle))

        with d.db.transaction() as session:  # refuse early, before scanning anything
            chat, sender = parties(session)
            if upload is None and service.check_text(text) is None:
                raise service.InvalidInput("text", "a message needs text or a file")
            service.check_can_post(session=session, chat=chat, sender=sender, with_media=upload is not None)
            who = (sender_info(sender), chat_info(chat))
        scan = self._scan(upload.data, who) if upload is not None and upload.data else None
        with d.db.transaction() as session:
            chat, sender = parties(session)
            posted = service.post_message(session=session, clock=d.clock, chat=chat, sender=sender, text=text,
                                          upload=upload, scan=scan)
            result = service.view(posted.message, platform_name=self.platform_name)
        _submit(d.link, d.integration, posted.events)
        return result

    def forward(self, *, message_ref: str, to_chat_ref: str, by_handle: str) -> service.MessageView:
        d = self.deps

        def parties(session: Session) -> tuple[SandboxMessage, SandboxChat, SandboxUser]:
            by = service.get_user_by_handle(session=session, handle=by_handle)
            return (service.readable_message(session=session, ref=message_ref, viewer=by),
                    service.get_chat(session=session, ref=to_chat_ref), by)

        with d.db.transaction() as session:
            message, to_chat, by = parties(session)
            if service.hidden_reason(message) is not None:
                raise service.Forbidden("the platform removed this message: it cannot be forwarded")
            service.check_can_post(session=session, chat=to_chat, sender=by, with_media=message.media is not None)
            data = message.media.data if message.media is not None else None
            who = (sender_info(by), chat_info(to_chat))
        scan = self._scan(data, who) if data is not None else None
        with d.db.transaction() as session:
            message, to_chat, by = parties(session)
            posted = service.forward_message(session=session, clock=d.clock, message=message, to_chat=to_chat,
                                             by=by, scan=scan)
            result = service.view(posted.message, platform_name=self.platform_name)
        _submit(d.link, d.integration, posted.events)
        return result

    def _scan(self, data: bytes, who: tuple[SenderIn, ChatIn]) -> ScanResult:
        """Ask Firebreak, naming the uploader and the chat: a refusal then reaches them with its reasons."""
        try:
            return self.deps.link.scan_upload(self.deps.integration, data, uploader=who[0], chat=who[1])
        except Exception as exc:  # an upload Firebreak did not check is not posted
            log.warning("upload check failed: %s: %s", type(exc).__name__, exc)
            raise service.ScanUnavailable("the upload could not be checked just now; nothing was posted, "
                                          "please try again") from exc

    def delete(self, *, message_ref: str, by_handle: str) -> None:
        d = self.deps
        with d.db.transaction() as session:
            by = service.get_user_by_handle(session=session, handle=by_handle)
            message = service.get_message(session=session, ref=message_ref)
            if message.status != MessageStatus.DELETED:
                message = service.readable_message(session=session, ref=message_ref, viewer=by)
            posted = service.delete_message(session=session, clock=d.clock, message=message, by=by)
        _submit(d.link, d.integration, posted.events)


def _submit(link: FirebreakLink, integration: str, events: Sequence[PlatformEvent]) -> None:
    for event in events:
        try:
            link.submit_event(integration, event)
        except Exception:  # the message is committed; a lost event is logged, not turned into a failed post
            log.exception("could not submit sandbox event %s to Firebreak", event.event_id)

"""Firebreak's hands in the sandbox: the ``PlatformAdapter`` named ``sandbox``.

Each action runs in a transaction of its own (the enforcement worker calls it outside any request), is idempotent,
and answers ``not_found`` for ids the sandbox does not know. Targets use the sandbox's ids: chats ``c12``, messages
``m345``, media ``md9`` (or its URL ``sandbox-media://md9``), accounts ``u7``.

Links (see docs/sandbox.md): ``<http(s) origin>/sandbox/c/<chat>`` and ``.../sandbox/c/<chat>/m/<message>`` on any
host name, so a link pasted into an e-mail resolves whatever name the demo ran under; and ``sandbox://c/<chat>``,
``sandbox://c/<chat>/m/<message>``.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import datetime
from typing import ClassVar

from sqlalchemy.exc import OperationalError
from sqlalchemy.orm import Session, sessionmaker

from firebreak.core.clock import Clock
from firebreak.core.db.session import transaction
from firebreak.integrations.sandbox import service
from firebreak.integrations.sandbox.models import (
    CHAT_PREFIX,
    MEDIA_PREFIX,
    MESSAGE_PREFIX,
    USER_PREFIX,
    AccountStatus,
    MessageStatus,
    SandboxMedia,
    SandboxMessage,
    SandboxModerationCall,
    SandboxUser,
    parse_external_id,
)
from firebreak.platform.adapters import ActionResult, ActionTarget, FetchedMedia, FetchError, LinkTarget
from firebreak.platform.models import PlatformIntegration
from firebreak.platform.registry import AdapterContext

MEDIA_URL_SCHEME = "sandbox-media://"
DEFAULT_REASON = "a decision of the platform's trust and safety team"
_ID = r"[1-9][0-9]{0,17}"
_WEB_LINK = re.compile(rf"(?i:https?)://[^/?#\s]+/sandbox/c/(c{_ID})(?:/m/(m{_ID}))?/?(?:[?#]\S*)?")
_APP_LINK = re.compile(rf"(?i:sandbox)://c/(c{_ID})(?:/m/(m{_ID}))?/?")


class SandboxAdapter:
    name: ClassVar[str] = "sandbox"

    def __init__(self, *, sessions: sessionmaker[Session], clock: Clock, public_url: str = "") -> None:
        self._sessions = sessions
        self._clock = clock
        self._public_url = public_url.rstrip("/")

    # --- actions -----------------------------------------------------------------------------------------------

    def remove_message(self, target: ActionTarget) -> ActionResult:
        def act(session: Session, now: datetime) -> ActionResult:
            message = _message(session, target)
            if message is None:
                return ActionResult.not_found(f"no message {target.message_id!r} in chat {target.chat_id!r}")
            if message.status == MessageStatus.DELETED:
                return ActionResult.not_found(f"message {message.external_id} was deleted by its sender")
            if message.status == MessageStatus.REMOVED:
                return ActionResult.done(f"message {message.external_id} was already removed")
            service.transition(message, MessageStatus.REMOVED, at=now, reason=_reason(target))
            return ActionResult.done(f"message {message.external_id} removed")

        return self._run("remove_message", target, act)

    def quarantine_media(self, target: ActionTarget) -> ActionResult:
        """Hide every message carrying the file and stop serving its bytes (they are kept, as evidence)."""

        def act(session: Session, now: datetime) -> ActionResult:
            media = _media(session, target)
            if media is None:
                return ActionResult.not_found(f"no media {target.media_id or target.message_id!r}")
            if not service.quarantine(media=media, at=now, reason=_reason(target)):
                return ActionResult.done(f"media {media.external_id} was already quarantined")
            return ActionResult.done(f"media {media.external_id} quarantined")

        return self._run("quarantine_media", target, act)

    def restrict_account(self, target: ActionTarget) -> ActionResult:
        return self._account(target, AccountStatus.RESTRICTED)

    def suspend_account(self, target: ActionTarget) -> ActionResult:
        return self._account(target, AccountStatus.SUSPENDED)

    def suspend_chat(self, target: ActionTarget) -> ActionResult:
        def act(session: Session, now: datetime) -> ActionResult:
            chat = service.get_chat(session=session, ref=target.chat_id or "")
            if not service.suspend_chat(chat=chat, at=now, reason=_reason(target)):
                return ActionResult.done(f"chat {chat.external_id} was already suspended")
            return ActionResult.done(f"chat {chat.external_id} suspended")

        return self._run("suspend_chat", target, act)

    def notify_user(self, target: ActionTarget) -> ActionResult:
        """A notice in the user's inbox whose text is ``target.reason`` (the statement of reasons summary).

        The same notice asked for twice lands once: by ``params["idempotency_key"]`` when given, else by
        (chat, message, text).
        """
        if not target.reason.strip():
            return ActionResult.failed("a notice needs its text: the statement of reasons summary in target.reason")

        def act(session: Session, now: datetime) -> ActionResult:
            user = _account(session, target)
            if user is None:
                return ActionResult.not_found(f"no account {target.account_id!r}")
            key = target.params.get("idempotency_key")
            notice, created = service.add_notice(
                session=session, clock=self._clock, user=user, text=target.reason.strip(), chat_ref=target.chat_id,
                message_ref=target.message_id, dedupe_key=str(key) if key else None,
            )
            return ActionResult.done(f"notice {notice.id} {'sent' if created else 'was already sent'}")

        return self._run("notify_user", target, act)

    def restore_message(self, target: ActionTarget) -> ActionResult:
        """Show a removed message again (an appeal succeeded). ``params["release_media"]`` also lifts a quarantine
        of its file; without it a quarantined file keeps the message hidden."""

        def act(session: Session, now: datetime) -> ActionResult:
            message = _message(session, target)
            if message is None or message.status == MessageStatus.DELETED:
                return ActionResult.not_found(f"no message {target.message_id!r} to restore")
            released = ""
            if target.params.get("release_media") and message.media and message.media.quarantined_at is not None:
                message.media.quarantined_at, message.media.quarantine_reason = None, None
                released = "; its file is served again"
            if message.status == MessageStatus.LIVE:
                return ActionResult.done(f"message {message.external_id} was not removed{released}")
            service.transition(message, MessageStatus.LIVE, at=now)
            return ActionResult.done(f"message {message.external_id} restored{released}")

        return self._run("restore_message", target, act)

    # --- media and links -----------------------------------------------------------------------------------------

    def fetch_media(self, url: str) -> FetchedMedia:
        """The bytes behind ``sandbox-media://md9``. Firebreak may fetch a quarantined file: it is the evidence."""
        if not url.startswith(MEDIA_URL_SCHEME) or parse_external_id(MEDIA_PREFIX, url[len(MEDIA_URL_SCHEME):]) is None:
            raise FetchError(f"not a sandbox media URL: {url[:200]!r}", retryable=False)
        try:
            with transaction(self._sessions) as session:
                media = service.get_media(session=session, ref=url)
                return FetchedMedia(data=media.data, mime_type=media.mime_type)
        except service.NotFound:
            raise FetchError(f"the sandbox has no media {url!r}", retryable=False) from None
        except OperationalError as exc:
            raise FetchError(f"sandbox database unavailable: {exc.orig or exc}", retryable=True) from None

    def message_link(self, chat_id: str, message_id: str) -> str:
        """The link the sandbox shows for a message (its web view when the public URL is known)."""
        if self._public_url:
            return f"{self._public_url}/sandbox/c/{chat_id}/m/{message_id}"
        return f"sandbox://c/{chat_id}/m/{message_id}"

    def parse_link(self, url: str) -> LinkTarget | None:
        url = url.strip()
        found = _WEB_LINK.fullmatch(url) or _APP_LINK.fullmatch(url)
        if found is None:
            return None
        return LinkTarget(chat_id=found.group(1), message_id=found.group(2))

    # --- plumbing ----------------------------------------------------------------------------------------------

    def _account(self, target: ActionTarget, status: AccountStatus) -> ActionResult:
        def act(session: Session, now: datetime) -> ActionResult:
            user = _account(session, target)
            if user is None:
                return ActionResult.not_found(f"no account {target.account_id!r}")
            if not service.escalate_account(user=user, status=status, at=now, reason=_reason(target)):
                return ActionResult.done(f"account {user.external_id} was already {user.status.value}")
            return ActionResult.done(f"account {user.external_id} {status.value}")

        return self._run("suspend_account" if status == AccountStatus.SUSPENDED else "restrict_account", target, act)

    def _run(self, action: str, target: ActionTarget, act: Callable[[Session, datetime], ActionResult]
             ) -> ActionResult:
        """Carry the action out in a transaction of its own, and log the call as the platform received it."""
        try:
            with transaction(self._sessions) as session:
                result = act(session, self._clock.now())
                _log(session, self._clock.now(), action, target, result)
                return result
        except service.NotFound as exc:
            result = ActionResult.not_found(str(exc))
        except OperationalError as exc:  # the database is down or busy: worth another try
            return ActionResult.retry(f"sandbox database unavailable: {exc.orig or exc}")
        with transaction(self._sessions) as session:
            _log(session, self._clock.now(), action, target, result)
        return result


def _log(session: Session, now: datetime, action: str, target: ActionTarget, result: ActionResult) -> None:
    outcome = ("already" if "already" in result.detail else "done") if result.outcome.value == "done" \
        else result.outcome.value
    ref = target.message_id or target.media_id or target.account_id or target.chat_id or ""
    session.add(SandboxModerationCall(action=action, target=ref[:200], outcome=outcome, detail=result.detail[:1000],
                                      at=now))


def _reason(target: ActionTarget) -> str:
    return target.reason.strip() or DEFAULT_REASON


def _message(session: Session, target: ActionTarget) -> SandboxMessage | None:
    pk = parse_external_id(MESSAGE_PREFIX, target.message_id or "")
    message = session.get(SandboxMessage, pk) if pk is not None else None
    if message is None or (target.chat_id and message.chat_id != parse_external_id(CHAT_PREFIX, target.chat_id)):
        return None
    return message


def _media(session: Session, target: ActionTarget) -> SandboxMedia | None:
    if target.media_id:
        pk = parse_external_id(MEDIA_PREFIX, target.media_id.removeprefix(MEDIA_URL_SCHEME))
        return session.get(SandboxMedia, pk) if pk is not None else None
    message = _message(session, target)  # no media id: the file of the message
    return message.media if message is not None else None


def _account(session: Session, target: ActionTarget) -> SandboxUser | None:
    pk = parse_external_id(USER_PREFIX, target.account_id or "")
    return session.get(SandboxUser, pk) if pk is not None else None


def create(integration: PlatformIntegration, context: AdapterContext) -> SandboxAdapter:
    """The ``sandbox`` entry point of ``firebreak.platform_adapters``: the messenger's tables are in Firebreak's
    own database."""
    return SandboxAdapter(sessions=context.db.sessions, clock=context.clock, public_url=context.settings.public_url)

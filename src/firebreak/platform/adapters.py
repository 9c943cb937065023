"""The one typed interface between Firebreak and a platform.

Events come in (media posted, forwarded, edited, deleted) as :class:`firebreak.platform.schemas.PlatformEvent`;
actions go out through a :class:`PlatformAdapter`. Every adapter method is idempotent: asking twice to remove the
same message is safe and the second answer is ``done`` or ``not_found``. An adapter raises nothing for platform
answers; it returns an :class:`ActionResult`. Only transport failures that are worth retrying come back as
``retryable=True``.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field
from typing import Any, ClassVar, Protocol, runtime_checkable

from firebreak.platform.models import PlatformIntegration


class Outcome(enum.StrEnum):
    DONE = "done"
    NOT_FOUND = "not_found"
    FAILED = "failed"


@dataclass(frozen=True)
class ActionResult:
    outcome: Outcome
    detail: str = ""
    retryable: bool = False  # a transport error or 5xx: try again later with backoff

    @classmethod
    def done(cls, detail: str = "") -> ActionResult:
        return cls(Outcome.DONE, detail)

    @classmethod
    def not_found(cls, detail: str = "") -> ActionResult:
        return cls(Outcome.NOT_FOUND, detail)

    @classmethod
    def retry(cls, detail: str) -> ActionResult:
        return cls(Outcome.FAILED, detail, retryable=True)

    @classmethod
    def failed(cls, detail: str) -> ActionResult:
        return cls(Outcome.FAILED, detail, retryable=False)


@dataclass(frozen=True)
class ActionTarget:
    """What an action is about, in the platform's own identifiers."""

    chat_id: str | None = None
    message_id: str | None = None
    media_id: str | None = None  # e.g. an mxc:// URI
    account_id: str | None = None
    reason: str = ""  # shown to the user where the platform shows reasons (statement of reasons summary)
    params: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class FetchedMedia:
    data: bytes
    mime_type: str | None = None


@dataclass(frozen=True)
class LinkTarget:
    """What a link that an authority or victim sent points at on the platform."""

    chat_id: str
    message_id: str | None = None  # None: a link to a whole chat


class FetchError(Exception):
    def __init__(self, message: str, *, retryable: bool) -> None:
        super().__init__(message)
        self.retryable = retryable


@runtime_checkable
class PlatformAdapter(Protocol):
    """Actions out. ``name`` is a storage key (``platform_integrations.adapter``): never rename one."""

    name: ClassVar[str]

    def remove_message(self, target: ActionTarget) -> ActionResult: ...

    def quarantine_media(self, target: ActionTarget) -> ActionResult: ...

    def restrict_account(self, target: ActionTarget) -> ActionResult: ...

    def suspend_account(self, target: ActionTarget) -> ActionResult: ...

    def suspend_chat(self, target: ActionTarget) -> ActionResult: ...

    def notify_user(self, target: ActionTarget) -> ActionResult: ...

    def restore_message(self, target: ActionTarget) -> ActionResult: ...

    def fetch_media(self, url: str) -> FetchedMedia:
        """Get the bytes behind a media URL the platform sent in an event. Raises FetchError."""
        ...

    def parse_link(self, url: str) -> LinkTarget | None:
        """The chat/message a link points at, or None if the link is not one of this platform's."""
        ...


class AdapterProvider(Protocol):
    """The adapter for an integration (``firebreak.platform.registry.Adapters`` is the one Firebreak uses)."""

    def for_integration(self, integration: PlatformIntegration) -> PlatformAdapter: ...


@runtime_checkable
class MessageLinks(Protocol):
    """Optional: an adapter that can say how the platform links to a message (for receipts)."""

    def message_link(self, chat_id: str, message_id: str) -> str | None: ...

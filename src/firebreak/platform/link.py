"""How a platform that lives inside Firebreak's process (the sandbox) talks to Firebreak.

The HTTP integrations send the same things over ``POST /v1/scan`` and ``POST /v1/events``;
this is the in-process equivalent, so the sandbox exercises the very same code paths.
"""

from __future__ import annotations

from typing import Protocol

from firebreak.platform.schemas import ChatIn, PlatformEvent, ScanResult, SenderIn


class FirebreakLink(Protocol):
    def scan_upload(self, integration: str, data: bytes, *, uploader: SenderIn | None = None,
                    chat: ChatIn | None = None) -> ScanResult:
        """Check an upload before it is accepted: allow, block (refuse it) or review. Name the uploader and the chat
        when known: a refusal then reaches the uploader as a notice with its reasons."""
        ...

    def submit_event(self, integration: str, event: PlatformEvent) -> None:
        """Record an event (media posted, forwarded, edited, deleted) after the platform accepted it."""
        ...

"""A FirebreakLink for tests: a real, small implementation that blocks by SHA-256 and records what it was told."""

from __future__ import annotations

import hashlib
import io
from dataclasses import dataclass, field

from PIL import Image

from firebreak.core.clock import Clock
from firebreak.platform.schemas import ChatIn, PlatformEvent, ScanResult, SenderIn, Verdict


@dataclass
class RecordingLink:
    clock: Clock
    blocked: set[str] = field(default_factory=set)  # sha256 hex of files to refuse
    unreadable: set[str] = field(default_factory=set)  # sha256 hex of files Firebreak could not check whole
    scans: list[tuple[str, str]] = field(default_factory=list)  # (integration, sha256)
    uploaders: list[tuple[str | None, str | None]] = field(default_factory=list)  # (uploader id, chat id) per scan
    events: list[tuple[str, PlatformEvent]] = field(default_factory=list)

    def block(self, data: bytes) -> None:
        self.blocked.add(hashlib.sha256(data).hexdigest())

    def scan_upload(self, integration: str, data: bytes, *, uploader: SenderIn | None = None,
                    chat: ChatIn | None = None) -> ScanResult:
        digest = hashlib.sha256(data).hexdigest()
        self.scans.append((integration, digest))
        self.uploaders.append((uploader.id if uploader else None, chat.id if chat else None))
        if digest in self.unreadable:  # as Firebreak answers a file cut short under the default setting
            return ScanResult(verdict=Verdict.REVIEW, matches=[], sha256=digest, checked_at=self.clock.now(),
                              unchecked="truncated")
        verdict = Verdict.BLOCK if digest in self.blocked else Verdict.ALLOW
        return ScanResult(verdict=verdict, matches=[], sha256=digest, checked_at=self.clock.now())

    def submit_event(self, integration: str, event: PlatformEvent) -> None:
        self.events.append((integration, event))

    @property
    def kinds(self) -> list[str]:
        return [event.kind.value for _, event in self.events]


def png(seed: int, size: int = 16) -> bytes:
    """A small, distinct PNG (stand-in test imagery)."""
    image = Image.new("RGB", (size, size), ((seed * 37) % 256, (seed * 91) % 256, (seed * 53) % 256))
    image.putpixel((seed % size, (seed // size) % size), (255 - (seed % 256), 0, 0))
    out = io.BytesIO()
    image.save(out, format="PNG")
    return out.getvalue()

"""Shared test support: stand-in images, a recording platform, event builders.

Images come from scikit-image's bundled photos or are generated; never real abusive imagery.
"""

from __future__ import annotations

import base64
import io
import threading
from datetime import datetime, timedelta
from typing import ClassVar

import numpy as np
from PIL import Image, ImageOps
from skimage import data as skdata

from firebreak.platform.adapters import ActionResult, ActionTarget, FetchedMedia, FetchError, LinkTarget
from firebreak.platform.schemas import ChatIn, ForwardedFrom, MediaIn, PlatformEvent, SenderIn


def photo(name: str = "astronaut") -> Image.Image:
    arr = getattr(skdata, name)()
    if arr.ndim == 2:
        arr = np.stack([arr] * 3, axis=-1)
    return Image.fromarray(arr[..., :3]).convert("RGB")


def jpeg(img: Image.Image, quality: int = 90) -> bytes:
    buf = io.BytesIO()
    img.convert("RGB").save(buf, "JPEG", quality=quality)
    return buf.getvalue()


def png(img: Image.Image) -> bytes:
    buf = io.BytesIO()
    img.save(buf, "PNG")
    return buf.getvalue()


def copies_of(img: Image.Image) -> dict[str, bytes]:
    """Transformed copies that perceptual matching must catch (exact, re-encoded, resized, mirrored...)."""
    w, h = img.size
    return {
        "exact": jpeg(img, 90),
        "reencoded_q50": jpeg(img, 50),
        "reencoded_q30": jpeg(img, 30),
        "half_size": jpeg(img.resize((w // 2, h // 2))),
        "double_size": jpeg(img.resize((w * 2, h * 2))),
        "mirrored": jpeg(ImageOps.mirror(img)),
        "flipped": jpeg(ImageOps.flip(img)),
        "rotated_90": jpeg(img.rotate(90, expand=True)),
        "grey": jpeg(ImageOps.grayscale(img).convert("RGB")),
        "png": png(img),
    }


def noise_image(seed: int, size: int = 256) -> Image.Image:
    """An unrelated, structured stand-in picture (smooth random shapes), different for each seed."""
    rng = np.random.default_rng(seed)
    low = rng.random((8, 8, 3)) * 255
    img = Image.fromarray(low.astype(np.uint8)).resize((size, size), Image.Resampling.BICUBIC)
    return img


UNRELATED_PHOTOS = ("coffee", "chelsea", "rocket", "camera", "hubble_deep_field", "immunohistochemistry")


class RecordingPlatform:
    """A real PlatformAdapter for tests: keeps messages in memory and records every action it is asked for."""

    name: ClassVar[str] = "recording"

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.messages: dict[tuple[str, str], str] = {}  # (chat, message) -> status
        self.calls: list[tuple[str, ActionTarget]] = []
        self.down = False
        self.media: dict[str, bytes] = {}

    def add_message(self, chat: str, message: str) -> None:
        self.messages[(chat, message)] = "live"

    def _act(self, kind: str, target: ActionTarget) -> ActionResult:
        with self.lock:
            self.calls.append((kind, target))
            if self.down:
                return ActionResult.retry("platform down")
            if kind == "remove_message":
                key = (target.chat_id or "", target.message_id or "")
                if key not in self.messages:
                    return ActionResult.not_found()
                self.messages[key] = "removed"
            return ActionResult.done()

    def removed(self) -> set[tuple[str, str]]:
        return {k for k, v in self.messages.items() if v == "removed"}

    def count(self, kind: str) -> int:
        return sum(1 for k, _ in self.calls if k == kind)

    def remove_message(self, target: ActionTarget) -> ActionResult:
        return self._act("remove_message", target)

    def quarantine_media(self, target: ActionTarget) -> ActionResult:
        return self._act("quarantine_media", target)

    def restrict_account(self, target: ActionTarget) -> ActionResult:
        return self._act("restrict_account", target)

    def suspend_account(self, target: ActionTarget) -> ActionResult:
        return self._act("suspend_account", target)

    def suspend_chat(self, target: ActionTarget) -> ActionResult:
        return self._act("suspend_chat", target)

    def notify_user(self, target: ActionTarget) -> ActionResult:
        return self._act("notify_user", target)

    def restore_message(self, target: ActionTarget) -> ActionResult:
        return self._act("restore_message", target)

    def fetch_media(self, url: str) -> FetchedMedia:
        if url not in self.media:
            raise FetchError("no such media", retryable=False)
        return FetchedMedia(self.media[url])

    def parse_link(self, url: str) -> LinkTarget | None:
        prefix = "https://recording.test/c/"
        if not url.startswith(prefix):
            return None
        parts = url[len(prefix):].split("/m/")
        return LinkTarget(parts[0], parts[1] if len(parts) > 1 else None)


def media_event(chat: str, message: str, data: bytes, *, sender: str = "u1", when: datetime,
                forwarded_from: tuple[str, str] | None = None, members: int = 20) -> PlatformEvent:
    return PlatformEvent(
        event_id=f"{chat}/{message}", kind="media_forwarded" if forwarded_from else "media_posted",
        chat=ChatIn(id=chat, kind="group", is_public=False, member_count=members, title=f"Chat {chat}"),
        message_id=message, sender=SenderIn(id=sender), sent_at=when,
        forwarded_from=ForwardedFrom(chat_id=forwarded_from[0], message_id=forwarded_from[1]) if forwarded_from
        else None,
        media=[MediaIn(media_id=f"media-{chat}-{message}", data_base64=base64.b64encode(data).decode())],
    )


def later(start: datetime, seconds: int) -> datetime:
    return start + timedelta(seconds=seconds)


def scene(seed: int, size: tuple[int, int] = (360, 270)) -> Image.Image:
    """A distinct, clearly artificial stand-in picture: shapes in random colours (different for each seed)."""
    from PIL import ImageDraw

    rng = np.random.default_rng(seed)
    img = Image.new("RGB", size, tuple(int(c) for c in rng.integers(0, 256, 3)))
    draw = ImageDraw.Draw(img)
    w, h = size
    for _ in range(40):
        x0, y0 = int(rng.integers(0, w)), int(rng.integers(0, h))
        x1, y1 = x0 + int(rng.integers(20, w // 2)), y0 + int(rng.integers(20, h // 2))
        colour = tuple(int(c) for c in rng.integers(0, 256, 3))
        (draw.ellipse if rng.random() < 0.5 else draw.rectangle)((x0, y0, x1, y1), fill=colour)
    return img


class FakeDns:
    """DKIM key records where tests cannot ask public DNS: ``dns.records["s1._domainkey.x.example"] = txt``."""

    def __init__(self) -> None:
        self.records: dict[str, bytes] = {}

    def __call__(self, name: bytes) -> bytes | None:
        return self.records.get(name.decode().rstrip(".").lower())

"""The recording platform that many tests act on keeps the adapter contract too, so what they assert about
Firebreak holds for a real adapter."""

from __future__ import annotations

import pytest

from firebreak.platform.adapters import ActionTarget
from tests.platform.adapter_contract import AdapterContract
from tests.support import RecordingPlatform, jpeg, scene


class RecordingWorld:
    def __init__(self, platform: RecordingPlatform) -> None:
        self.platform = platform

    def post_media(self) -> ActionTarget:
        n = len(self.platform.messages) + 1
        self.platform.add_message("c1", f"m{n}")
        self.platform.media[f"recording-media://{n}"] = jpeg(scene(n))
        return ActionTarget(chat_id="c1", message_id=f"m{n}", media_id=f"recording-media://{n}", account_id="u1")

    def is_visible(self, target: ActionTarget) -> bool:
        return self.platform.messages[(target.chat_id or "", target.message_id or "")] == "live"

    def link_to(self, target: ActionTarget) -> str:
        return f"https://recording.test/c/{target.chat_id}/m/{target.message_id}"

    def media_url(self, target: ActionTarget) -> str:
        return target.media_id or ""

    def media_bytes(self, target: ActionTarget) -> bytes:
        return self.platform.media[target.media_id or ""]


class TestRecordingPlatformContract(AdapterContract):
    @pytest.fixture
    def adapter(self) -> RecordingPlatform:
        return RecordingPlatform()

    @pytest.fixture
    def world(self, adapter: RecordingPlatform) -> RecordingWorld:
        return RecordingWorld(adapter)

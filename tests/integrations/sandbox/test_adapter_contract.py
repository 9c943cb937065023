"""The sandbox adapter keeps the adapter contract."""

from __future__ import annotations

import pytest

from firebreak.bootstrap.system import System
from firebreak.integrations.sandbox import service
from firebreak.integrations.sandbox.adapter import MEDIA_URL_SCHEME, SandboxAdapter
from firebreak.integrations.sandbox.flows import Sandbox
from firebreak.integrations.sandbox.models import MessageStatus
from firebreak.platform.adapters import ActionTarget
from tests.integrations.sandbox.conftest import Cast
from tests.integrations.sandbox.doubles import png
from tests.platform.adapter_contract import AdapterContract


class SandboxWorld:
    def __init__(self, sandbox: Sandbox, cast: Cast) -> None:
        self.sandbox = sandbox
        self.cast = cast
        self.posted = 0

    def post_media(self) -> ActionTarget:
        self.posted += 1
        view = self.sandbox.post(chat_ref=self.cast.group.external_id, sender_handle="bob", text=None,
                                 upload=service.Upload(png(100 + self.posted), "p.png", "image/png"))
        return ActionTarget(chat_id=self.cast.group.external_id, message_id=view.id, media_id=view.media_id,
                            account_id=self.cast.bob.external_id)

    def _message(self, target: ActionTarget) -> service.MessageView:
        with self.sandbox.deps.db.transaction() as s:
            return service.view(service.get_message(session=s, ref=target.message_id or ""))

    def is_visible(self, target: ActionTarget) -> bool:
        return self._message(target).status == MessageStatus.LIVE

    def link_to(self, target: ActionTarget) -> str:
        return f"https://messenger.example/sandbox/c/{target.chat_id}/m/{target.message_id}"

    def media_url(self, target: ActionTarget) -> str:
        return f"{MEDIA_URL_SCHEME}{target.media_id}"

    def media_bytes(self, target: ActionTarget) -> bytes:
        with self.sandbox.deps.db.transaction() as s:
            return service.get_media(session=s, ref=target.media_id or "").data


class TestSandboxAdapterContract(AdapterContract):
    @pytest.fixture
    def adapter(self, system: System) -> SandboxAdapter:
        return SandboxAdapter(sessions=system.db.sessions, clock=system.clock)

    @pytest.fixture
    def world(self, connected: Sandbox, cast: Cast) -> SandboxWorld:
        return SandboxWorld(connected, cast)

"""The Matrix adapter keeps the adapter contract, against a real Synapse on loopback."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import pytest

from firebreak.integrations.matrix.adapter import MatrixAdapter
from firebreak.platform.adapters import ActionTarget
from tests.integrations.matrix.harness import MatrixUser, SynapseServer
from tests.platform.adapter_contract import AdapterContract

pytestmark = pytest.mark.slow


@dataclass
class MatrixWorld:
    synapse: SynapseServer
    new_user: Callable[[str], MatrixUser]
    fresh_png: Callable[[], bytes]
    files: dict[str, bytes] = field(default_factory=dict)
    _room: tuple[MatrixUser, MatrixUser, str] | None = None

    def post_media(self) -> ActionTarget:
        if self._room is None:
            alice, bob = self.new_user("alice"), self.new_user("bob")
            room = self.synapse.create_room(alice, invite=[bob])
            self.synapse.join(bob, room)
            self._room = (alice, bob, room)
        alice, bob, room = self._room
        data = self.fresh_png()
        mxc = self.synapse.upload(bob, data)
        self.files[mxc] = data
        event_id = self.synapse.send_image(bob, room, mxc)
        return ActionTarget(chat_id=room, message_id=event_id, media_id=mxc, account_id=bob.user_id)

    def is_visible(self, target: ActionTarget) -> bool:
        assert self._room is not None
        seen = self.synapse.get_event(self._room[0], target.chat_id or "", target.message_id or "")
        return bool(seen["content"])

    def link_to(self, target: ActionTarget) -> str:
        return f"https://matrix.to/#/{target.chat_id}/{target.message_id}?via=localhost"

    def media_url(self, target: ActionTarget) -> str:
        return target.media_id or ""

    def media_bytes(self, target: ActionTarget) -> bytes:
        return self.files[target.media_id or ""]


class TestMatrixAdapterContract(AdapterContract):
    @pytest.fixture
    def world(self, synapse: SynapseServer, new_user: Callable[[str], MatrixUser],
              fresh_png: Callable[[], bytes]) -> MatrixWorld:
        return MatrixWorld(synapse, new_user, fresh_png)

    @pytest.fixture
    def adapter(self, adapter: MatrixAdapter) -> MatrixAdapter:  # the conftest's, against the session's Synapse
        return adapter

"""The contract every platform adapter keeps, as a base test class (like tests/signals/contract.py for signal types).

An adapter's test module subclasses :class:`AdapterContract` and provides two fixtures: ``adapter`` (the adapter under
test) and ``world`` (a :class:`ContractWorld`: the platform behind it, seen as its people see it). Every test below then
runs against that adapter. A plugin's adapter should do the same.
"""

from __future__ import annotations

import re
from typing import Protocol

import pytest

from firebreak.platform.adapters import ActionResult, ActionTarget, FetchError, Outcome, PlatformAdapter


class ContractWorld(Protocol):
    """The platform behind an adapter, as the contract needs to see it."""

    def post_media(self) -> ActionTarget:
        """A new message with a picture in a chat, live: chat_id, message_id, media_id and account_id filled."""
        ...

    def is_visible(self, target: ActionTarget) -> bool:
        """Whether the chat's members still see the message."""
        ...

    def link_to(self, target: ActionTarget) -> str:
        """A link to the message, as the platform shows it to its people."""
        ...

    def media_url(self, target: ActionTarget) -> str:
        """The URL an event would give for the message's file (what ``fetch_media`` is asked for)."""
        ...

    def media_bytes(self, target: ActionTarget) -> bytes:
        """The bytes of the message's file."""
        ...


FOREIGN_LINKS = ("https://elsewhere.example/c/1/m/2", "mailto:someone@example.org", "not a link", "")
ACTIONS = ("remove_message", "quarantine_media", "restrict_account", "suspend_account", "suspend_chat",
           "notify_user", "restore_message")


class AdapterContract:
    """Subclass it, provide ``adapter`` and ``world``; every adapter gets the whole contract checked."""

    @pytest.fixture
    def adapter(self) -> PlatformAdapter:
        raise NotImplementedError("provide the adapter under test")

    @pytest.fixture
    def world(self) -> ContractWorld:
        raise NotImplementedError("provide the platform behind the adapter")

    def test_is_a_platform_adapter_with_a_stable_name(self, adapter: PlatformAdapter) -> None:
        assert isinstance(adapter, PlatformAdapter)
        name = type(adapter).name
        assert re.fullmatch(r"[a-z][a-z0-9_]{0,31}", name), name
        assert "name" in vars(type(adapter)) or any("name" in vars(base) for base in type(adapter).__mro__[1:-1]), \
            "name is written on the class, never derived from the class name"

    def test_remove_message_removes_it_and_asking_again_is_harmless(self, adapter: PlatformAdapter,
                                                                    world: ContractWorld) -> None:
        target = world.post_media()
        kept = world.post_media()
        assert world.is_visible(target)
        first = adapter.remove_message(target)
        assert first.outcome == Outcome.DONE, first
        assert not world.is_visible(target)
        again = adapter.remove_message(target)
        assert again.outcome in (Outcome.DONE, Outcome.NOT_FOUND), again
        assert world.is_visible(kept), "only the message asked for goes"

    def test_an_unknown_message_is_not_found(self, adapter: PlatformAdapter, world: ContractWorld) -> None:
        real = world.post_media()
        unknown = ActionTarget(chat_id=real.chat_id, message_id=_unknown_id(real.message_id))
        result = adapter.remove_message(unknown)
        assert result.outcome == Outcome.NOT_FOUND, result
        assert world.is_visible(real)

    def test_every_action_answers_with_a_result(self, adapter: PlatformAdapter, world: ContractWorld) -> None:
        """Platform answers come back as results, never as exceptions (an unknown target included)."""
        real = world.post_media()
        unknown = ActionTarget(chat_id=real.chat_id, message_id=_unknown_id(real.message_id),
                               media_id=_unknown_id(real.media_id), account_id=_unknown_id(real.account_id))
        for action in ACTIONS:
            result = getattr(adapter, action)(unknown)
            assert isinstance(result, ActionResult), (action, result)
            assert isinstance(result.detail, str)
        assert world.is_visible(real)

    def test_links_to_its_own_messages_are_read_and_no_others(self, adapter: PlatformAdapter,
                                                              world: ContractWorld) -> None:
        target = world.post_media()
        parsed = adapter.parse_link(world.link_to(target))
        assert parsed is not None
        assert (parsed.chat_id, parsed.message_id) == (target.chat_id, target.message_id)
        for link in FOREIGN_LINKS:
            assert adapter.parse_link(link) is None, link

    def test_fetch_media_gives_the_file_or_a_fetch_error(self, adapter: PlatformAdapter, world: ContractWorld) -> None:
        target = world.post_media()
        assert adapter.fetch_media(world.media_url(target)).data == world.media_bytes(target)
        with pytest.raises(FetchError):
            adapter.fetch_media(world.media_url(target) + "-no-such-file")
        with pytest.raises(FetchError) as refused:
            adapter.fetch_media("file:///etc/passwd")
        assert refused.value.retryable is False


def _unknown_id(value: str | None) -> str:
    """An id of the same shape that the platform does not have."""
    if value is None:
        return "unknown"
    digits = re.sub(r"\d+", lambda m: str(int(m[0]) + 10_000_000), value, count=1)
    return digits if digits != value else value + "-unknown"

"""SandboxAdapter: Firebreak's actions land in the sandbox, idempotently, and unknown ids are not_found."""

from __future__ import annotations

import pytest
from sqlalchemy.orm import sessionmaker

from firebreak.bootstrap.system import System
from firebreak.core.clock import FakeClock
from firebreak.integrations.sandbox import service
from firebreak.integrations.sandbox.adapter import SandboxAdapter
from firebreak.integrations.sandbox.flows import Sandbox
from firebreak.integrations.sandbox.models import AccountStatus, ChatStatus, MessageStatus
from firebreak.platform.adapters import ActionTarget, FetchError, LinkTarget, Outcome, PlatformAdapter
from tests.integrations.sandbox.conftest import Cast
from tests.integrations.sandbox.doubles import png


def _post(sandbox: Sandbox, chat: str, sender: str, seed: int | None = None, text: str | None = None) -> str:
    upload = service.Upload(png(seed), "p.png", "image/png") if seed is not None else None
    return sandbox.post(chat_ref=chat, sender_handle=sender, text=text, upload=upload).id


def _message(sandbox: Sandbox, ref: str) -> service.MessageView:
    with sandbox.deps.db.transaction() as s:
        return service.view(service.get_message(session=s, ref=ref), platform_name="Sandbox")


def _detached() -> SandboxAdapter:
    return SandboxAdapter(sessions=sessionmaker(), clock=FakeClock())  # for what needs no database


def test_is_a_platform_adapter(system: System) -> None:
    assert isinstance(SandboxAdapter(sessions=system.db.sessions, clock=system.clock), PlatformAdapter)
    assert isinstance(_detached(), PlatformAdapter)
    with pytest.raises(TypeError, match="sessions"):
        SandboxAdapter()  # type: ignore[call-arg]
    assert SandboxAdapter.name == "sandbox"


def test_remove_message(connected: Sandbox, adapter: SandboxAdapter, cast: Cast, clock: FakeClock) -> None:
    ref = _post(connected, cast.group.external_id, "alice", seed=1, text="caption")
    target = ActionTarget(chat_id=cast.group.external_id, message_id=ref, reason="Illegal content (order 12)")
    first = adapter.remove_message(target)
    assert first.outcome == Outcome.DONE
    removed_at = clock.now()
    clock.advance(30)
    again = adapter.remove_message(ActionTarget(message_id=ref, reason="another reason"))
    assert again.outcome == Outcome.DONE and "already" in again.detail
    view = _message(connected, ref)
    assert view.status == MessageStatus.REMOVED and view.text is None and view.media_id is None
    assert view.placeholder == "Removed by Sandbox: Illegal content (order 12)"  # the first reason stays
    with connected.deps.db.transaction() as s:
        assert service.get_message(session=s, ref=ref).removed_at == removed_at


@pytest.mark.parametrize("target", [
    ActionTarget(message_id="m999999"), ActionTarget(message_id="x1"), ActionTarget(), ActionTarget(message_id="c1"),
])
def test_unknown_messages_are_not_found(adapter: SandboxAdapter, target: ActionTarget) -> None:
    assert adapter.remove_message(target).outcome == Outcome.NOT_FOUND
    assert adapter.restore_message(target).outcome == Outcome.NOT_FOUND
    assert adapter.quarantine_media(target).outcome == Outcome.NOT_FOUND


def test_message_in_another_chat_is_not_found(connected: Sandbox, adapter: SandboxAdapter, cast: Cast) -> None:
    ref = _post(connected, cast.group.external_id, "alice", text="hi")
    result = adapter.remove_message(ActionTarget(chat_id=cast.square.external_id, message_id=ref))
    assert result.outcome == Outcome.NOT_FOUND
    assert _message(connected, ref).status == MessageStatus.LIVE


def test_message_deleted_by_its_sender_is_not_found(connected: Sandbox, adapter: SandboxAdapter, cast: Cast) -> None:
    ref = _post(connected, cast.group.external_id, "bob", text="oops")
    connected.delete(message_ref=ref, by_handle="bob")
    result = adapter.remove_message(ActionTarget(message_id=ref))
    assert result.outcome == Outcome.NOT_FOUND and "deleted by its sender" in result.detail


def test_quarantine_hides_every_copy(connected: Sandbox, adapter: SandboxAdapter, cast: Cast) -> None:
    original = _post(connected, cast.square.external_id, "alice", seed=2)
    copy = connected.forward(message_ref=original, to_chat_ref=cast.group.external_id, by_handle="alice").id
    media_id = _message(connected, original).media_id
    assert media_id is not None
    assert adapter.quarantine_media(ActionTarget(media_id=f"sandbox-media://{media_id}",
                                                 reason="Known CSAM hash")).outcome == Outcome.DONE
    again = adapter.quarantine_media(ActionTarget(media_id=media_id))
    assert again.outcome == Outcome.DONE and "already" in again.detail
    for ref in (original, copy):
        assert _message(connected, ref).placeholder == "Removed by Sandbox: Known CSAM hash"
    with connected.deps.db.transaction() as s, pytest.raises(service.MediaGone):
        service.served_media(session=s, message=service.get_message(session=s, ref=copy))


def test_quarantine_by_message(connected: Sandbox, adapter: SandboxAdapter, cast: Cast) -> None:
    ref = _post(connected, cast.group.external_id, "bob", seed=3)
    assert adapter.quarantine_media(ActionTarget(message_id=ref)).outcome == Outcome.DONE
    assert _message(connected, ref).status == MessageStatus.REMOVED
    text_only = _post(connected, cast.group.external_id, "bob", text="no file")
    assert adapter.quarantine_media(ActionTarget(message_id=text_only)).outcome == Outcome.NOT_FOUND


def test_restrict_then_suspend_account(connected: Sandbox, adapter: SandboxAdapter, cast: Cast) -> None:
    bob = ActionTarget(account_id=cast.bob.external_id, reason="Repeated uploads of banned media")
    assert adapter.restrict_account(bob).outcome == Outcome.DONE
    assert adapter.restrict_account(bob).outcome == Outcome.DONE
    _post(connected, cast.group.external_id, "bob", text="words still work")
    with pytest.raises(service.Forbidden, match="restricted"):
        _post(connected, cast.group.external_id, "bob", seed=4)
    assert adapter.suspend_account(bob).outcome == Outcome.DONE
    softer = adapter.restrict_account(bob)  # never softens a suspension
    assert softer.outcome == Outcome.DONE and "already suspended" in softer.detail
    with pytest.raises(service.Forbidden, match="suspended"):
        _post(connected, cast.group.external_id, "bob", text="hello?")
    with connected.deps.db.transaction() as s:
        user = service.get_user(session=s, ref=cast.bob.external_id)
        assert (user.status, user.status_reason) == (AccountStatus.SUSPENDED, "Repeated uploads of banned media")
    for act in (adapter.restrict_account, adapter.suspend_account, adapter.notify_user):
        assert act(ActionTarget(account_id="u999999", reason="x")).outcome == Outcome.NOT_FOUND
        assert act(ActionTarget(account_id="bob", reason="x")).outcome == Outcome.NOT_FOUND


def test_suspend_chat(connected: Sandbox, adapter: SandboxAdapter, cast: Cast) -> None:
    target = ActionTarget(chat_id=cast.square.external_id, reason="Channel dedicated to illegal content")
    assert adapter.suspend_chat(target).outcome == Outcome.DONE
    assert "already" in adapter.suspend_chat(target).detail
    with connected.deps.db.transaction() as s:
        assert service.get_chat(session=s, ref=cast.square.external_id).status == ChatStatus.SUSPENDED
    with pytest.raises(service.Forbidden, match="suspended"):
        _post(connected, cast.square.external_id, "carol", text="anyone?")
    assert adapter.suspend_chat(ActionTarget(chat_id="c999999")).outcome == Outcome.NOT_FOUND
    assert adapter.suspend_chat(ActionTarget()).outcome == Outcome.NOT_FOUND


def test_notify_user_puts_the_reasons_in_the_inbox_once(connected: Sandbox, adapter: SandboxAdapter,
                                                        cast: Cast) -> None:
    ref = _post(connected, cast.group.external_id, "bob", seed=5)
    summary = "We removed your message m1: it matched a known illegal image. You can appeal at https://x/appeal/1."
    target = ActionTarget(account_id=cast.bob.external_id, chat_id=cast.group.external_id, message_id=ref,
                          reason=summary)
    assert adapter.notify_user(target).outcome == Outcome.DONE
    assert "already" in adapter.notify_user(target).detail
    other = ActionTarget(account_id=cast.bob.external_id, reason=summary, params={"idempotency_key": "sor-2"})
    assert adapter.notify_user(other).outcome == Outcome.DONE
    with connected.deps.db.transaction() as s:
        notices = service.list_notices(session=s, user=service.get_user(session=s, ref=cast.bob.external_id))
    assert [(n.text, n.message_ref) for n in notices] == [(summary, None), (summary, ref)]
    empty = adapter.notify_user(ActionTarget(account_id=cast.bob.external_id, reason="  "))
    assert empty.outcome == Outcome.FAILED and not empty.retryable


def test_restore_message_after_appeal(connected: Sandbox, adapter: SandboxAdapter, cast: Cast) -> None:
    ref = _post(connected, cast.group.external_id, "alice", seed=6, text="holiday")
    adapter.remove_message(ActionTarget(message_id=ref, reason="mistake"))
    assert adapter.restore_message(ActionTarget(message_id=ref)).outcome == Outcome.DONE
    view = _message(connected, ref)
    assert (view.status, view.text, view.placeholder) == (MessageStatus.LIVE, "holiday", None)
    again = adapter.restore_message(ActionTarget(message_id=ref))
    assert again.outcome == Outcome.DONE and "not removed" in again.detail

    adapter.quarantine_media(ActionTarget(message_id=ref, reason="hash match"))
    adapter.remove_message(ActionTarget(message_id=ref, reason="hash match"))
    adapter.restore_message(ActionTarget(message_id=ref))
    assert _message(connected, ref).status == MessageStatus.REMOVED  # the file is still quarantined
    adapter.restore_message(ActionTarget(message_id=ref, params={"release_media": True}))
    assert _message(connected, ref).media_id is not None


def test_fetch_media(connected: Sandbox, adapter: SandboxAdapter, cast: Cast) -> None:
    image = png(7)
    ref = _post(connected, cast.group.external_id, "alice", seed=7)
    media_id = _message(connected, ref).media_id
    fetched = adapter.fetch_media(f"sandbox-media://{media_id}")
    assert (fetched.data, fetched.mime_type) == (image, "image/png")
    adapter.quarantine_media(ActionTarget(media_id=media_id))
    assert adapter.fetch_media(f"sandbox-media://{media_id}").data == image  # evidence stays reachable to Firebreak
    for url in ("sandbox-media://md999999", "sandbox-media://m1", "https://example.org/a.png", "mxc://x/y"):
        with pytest.raises(FetchError) as failed:
            adapter.fetch_media(url)
        assert not failed.value.retryable


@pytest.mark.parametrize(("url", "expected"), [
    ("https://demo.example.org/sandbox/c/c12/m/m345", LinkTarget("c12", "m345")),
    ("http://localhost:8000/sandbox/c/c12/m/m345/", LinkTarget("c12", "m345")),
    ("  HTTPS://10.0.0.5:9000/sandbox/c/c12/m/m345?utm=mail#top ", LinkTarget("c12", "m345")),
    ("https://firebreak.internal/sandbox/c/c7", LinkTarget("c7", None)),
    ("http://127.0.0.1:8000/sandbox/c/c7/", LinkTarget("c7", None)),
    ("sandbox://c/c12/m/m345", LinkTarget("c12", "m345")),
    ("sandbox://c/c12", LinkTarget("c12", None)),
    ("https://t.me/somechannel/123", None),
    ("https://matrix.to/#/!room:example.org/$event", None),
    ("https://example.org/other/sandbox/c/c12", None),
    ("ftp://example.org/sandbox/c/c12", None),
    ("https://example.org/sandbox/c/12/m/345", None),
    ("https://example.org/sandbox/c/c12/m/m345/extra", None),
    ("sandbox-media://md3", None),
    ("", None),
])
def test_parse_link(url: str, expected: LinkTarget | None) -> None:
    assert _detached().parse_link(url) == expected

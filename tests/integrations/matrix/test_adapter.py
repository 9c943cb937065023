"""MatrixAdapter against a real Synapse: what members of the room and the uploader see after each action."""

from __future__ import annotations

from collections.abc import Callable
from urllib.parse import quote

import pytest

from firebreak.integrations.matrix.adapter import MatrixAdapter
from firebreak.platform.adapters import ActionTarget, FetchError, LinkTarget, Outcome, PlatformAdapter
from tests.integrations.matrix.harness import MatrixRequestError, MatrixUser, SynapseServer

pytestmark = pytest.mark.slow

NewUser = Callable[[str], MatrixUser]
FreshPng = Callable[[], bytes]


def _image_post(synapse: SynapseServer, new_user: NewUser, fresh_png: FreshPng
                ) -> tuple[MatrixUser, MatrixUser, str, str, str]:
    """alice's room where bob posted an image: (alice, bob, room, event_id, mxc)."""
    alice, bob = new_user("alice"), new_user("bob")
    room = synapse.create_room(alice, invite=[bob])
    synapse.join(bob, room)
    mxc = synapse.upload(bob, fresh_png())
    return alice, bob, room, synapse.send_image(bob, room, mxc), mxc


def test_it_is_a_platform_adapter_named_matrix(adapter: MatrixAdapter) -> None:
    assert isinstance(adapter, PlatformAdapter)
    assert MatrixAdapter.name == "matrix"


def test_config_errors_name_the_setting() -> None:
    with pytest.raises(ValueError, match="admin_token"):
        MatrixAdapter({"homeserver_url": "http://127.0.0.1:8008"})
    with pytest.raises(ValueError, match="homeserver_url"):
        MatrixAdapter({"admin_token": "x"})
    with pytest.raises(ValueError, match="restrict_mode"):
        MatrixAdapter({"homeserver_url": "http://127.0.0.1:8008", "admin_token": "x", "restrict_mode": "ban"})


def test_remove_message_redacts_the_event_for_everyone(synapse: SynapseServer, adapter: MatrixAdapter,
                                                       new_user: NewUser, fresh_png: FreshPng) -> None:
    alice, bob, room, event_id, _ = _image_post(synapse, new_user, fresh_png)
    assert synapse.get_event(alice, room, event_id)["content"]["msgtype"] == "m.image"

    result = adapter.remove_message(ActionTarget(chat_id=room, message_id=event_id, reason="Removed: order FB-1"))

    assert result.outcome == Outcome.DONE, result
    assert bob.user_id in result.detail  # redacted as its sender: no admin had to join the room
    seen = synapse.get_event(alice, room, event_id)
    assert seen["content"] == {}
    assert seen["unsigned"]["redacted_because"]["content"]["reason"] == "Removed: order FB-1"
    again = adapter.remove_message(ActionTarget(chat_id=room, message_id=event_id))
    assert (again.outcome, again.detail) == (Outcome.DONE, "already redacted")


def test_remove_message_after_the_sender_left_redacts_as_admin(synapse: SynapseServer, adapter: MatrixAdapter,
                                                               new_user: NewUser, fresh_png: FreshPng) -> None:
    alice, bob, room, event_id, _ = _image_post(synapse, new_user, fresh_png)
    synapse.leave(bob, room)  # a sender no longer in the room cannot redact

    result = adapter.remove_message(ActionTarget(chat_id=room, message_id=event_id))

    assert result.outcome == Outcome.DONE, result
    assert "server admin" in result.detail
    assert synapse.get_event(alice, room, event_id)["content"] == {}


def test_remove_message_of_unknown_or_misplaced_events_is_not_found(synapse: SynapseServer, adapter: MatrixAdapter,
                                                                    new_user: NewUser,
                                                                    fresh_png: FreshPng) -> None:
    _, _, room, event_id, _ = _image_post(synapse, new_user, fresh_png)
    unknown = adapter.remove_message(ActionTarget(chat_id=room, message_id="$no-such-event"))
    assert unknown.outcome == Outcome.NOT_FOUND
    elsewhere = adapter.remove_message(ActionTarget(chat_id="!other:localhost", message_id=event_id))
    assert elsewhere.outcome == Outcome.NOT_FOUND
    assert adapter.remove_message(ActionTarget(chat_id=room)).outcome == Outcome.FAILED


def test_restore_message_is_impossible_and_says_so(adapter: MatrixAdapter) -> None:
    result = adapter.restore_message(ActionTarget(chat_id="!r:localhost", message_id="$e"))
    assert result.outcome == Outcome.FAILED
    assert not result.retryable
    assert "cannot undo a redaction" in result.detail


def test_quarantine_media_makes_it_undownloadable(synapse: SynapseServer, adapter: MatrixAdapter,
                                                  new_user: NewUser, fresh_png: FreshPng) -> None:
    alice, _, _, _, mxc = _image_post(synapse, new_user, fresh_png)
    assert synapse.download(alice, mxc).status_code == 200

    result = adapter.quarantine_media(ActionTarget(media_id=mxc))

    assert result.outcome == Outcome.DONE, result
    assert synapse.download(alice, mxc).status_code == 404
    again = adapter.quarantine_media(ActionTarget(media_id=mxc))
    assert again.outcome == Outcome.DONE
    assert "already quarantined" in again.detail
    assert adapter.quarantine_media(ActionTarget(media_id="mxc://localhost/nonesuch")).outcome == Outcome.NOT_FOUND
    invalid = adapter.quarantine_media(ActionTarget(media_id="https://example.org/x.png"))
    assert (invalid.outcome, invalid.retryable) == (Outcome.FAILED, False)


def test_fetch_media_returns_the_uploaded_bytes(synapse: SynapseServer, adapter: MatrixAdapter,
                                                new_user: NewUser, fresh_png: FreshPng) -> None:
    alice = new_user("alice")
    data = fresh_png()
    mxc = synapse.upload(alice, data, content_type="image/png")

    fetched = adapter.fetch_media(mxc)

    assert fetched.data == data
    assert fetched.mime_type == "image/png"
    with pytest.raises(FetchError) as missing:
        adapter.fetch_media("mxc://localhost/nonesuch")
    assert not missing.value.retryable
    with pytest.raises(FetchError):
        adapter.fetch_media("not a uri")


def test_suspend_account_stops_them_sending(synapse: SynapseServer, adapter: MatrixAdapter,
                                            new_user: NewUser) -> None:
    alice = new_user("alice")
    room = synapse.create_room(alice)

    result = adapter.suspend_account(ActionTarget(account_id=alice.user_id))

    assert result.outcome == Outcome.DONE, result
    with pytest.raises(MatrixRequestError) as refused:
        synapse.send_text(alice, room, "still here?")
    assert refused.value.errcode == "ORG.MATRIX.MSC3823.USER_ACCOUNT_SUSPENDED" or refused.value.status == 403
    assert adapter.suspend_account(ActionTarget(account_id=alice.user_id)).detail == "already suspended"
    unknown = adapter.suspend_account(ActionTarget(account_id="@nobody:localhost"))
    assert unknown.outcome == Outcome.NOT_FOUND


def test_restrict_account_stops_media_but_not_text(synapse: SynapseServer, adapter: MatrixAdapter,
                                                   new_user: NewUser, fresh_png: FreshPng) -> None:
    alice = new_user("alice")
    room = synapse.create_room(alice)
    earlier = synapse.upload(alice, fresh_png())

    result = adapter.restrict_account(ActionTarget(account_id=alice.user_id, reason="two removed uploads"))

    assert (result.outcome, result.detail) == (Outcome.DONE, "restricted: may post text, not media")
    with pytest.raises(MatrixRequestError) as upload:
        synapse.upload(alice, fresh_png())
    assert (upload.value.status, upload.value.errcode) == (403, "M_USER_LIMIT_EXCEEDED")
    with pytest.raises(MatrixRequestError) as post:
        synapse.send_image(alice, room, earlier)  # re-posting media uploaded before is refused too
    assert post.value.status == 403
    assert "restricted" in (post.value.error or "")
    synapse.send_text(alice, room, "text still works")
    again = adapter.restrict_account(ActionTarget(account_id=alice.user_id))
    assert (again.outcome, again.detail) == (Outcome.DONE, "already restricted")
    assert adapter.restrict_account(ActionTarget(account_id="@nobody:localhost")).outcome == Outcome.NOT_FOUND


def test_restrict_account_can_shadow_ban_or_rate_limit(synapse: SynapseServer, adapter: MatrixAdapter,
                                                       new_user: NewUser) -> None:
    alice, bob = new_user("alice"), new_user("bob")

    banned = adapter.restrict_account(ActionTarget(account_id=bob.user_id, params={"mode": "shadow_ban"}))
    assert banned.outcome == Outcome.DONE, banned
    assert synapse.call("GET", f"/_synapse/admin/v2/users/{quote(bob.user_id)}", user=synapse.admin)["shadow_banned"]

    limited = adapter.restrict_account(ActionTarget(account_id=alice.user_id, params={"mode": "rate_limit"}))
    assert limited.outcome == Outcome.DONE, limited
    override = synapse.call("GET", f"/_synapse/admin/v1/users/{quote(alice.user_id)}/override_ratelimit",
                            user=synapse.admin)
    assert override == {"messages_per_second": 1, "burst_count": 1}
    unknown = adapter.restrict_account(ActionTarget(account_id="@nobody:localhost", params={"mode": "rate_limit"}))
    assert unknown.outcome == Outcome.NOT_FOUND


def test_lift_restriction_undoes_a_suspension_and_a_media_restriction(synapse: SynapseServer, adapter: MatrixAdapter,
                                                                       new_user: NewUser, fresh_png: FreshPng) -> None:
    """An appeal succeeded, or the period ended: the account may post again, media included."""
    alice = new_user("alice")
    room = synapse.create_room(alice)
    assert adapter.suspend_account(ActionTarget(account_id=alice.user_id)).outcome == Outcome.DONE
    assert adapter.restrict_account(ActionTarget(account_id=alice.user_id)).outcome == Outcome.DONE

    result = adapter.lift_restriction(ActionTarget(account_id=alice.user_id, reason="the period ended"))

    assert (result.outcome, result.detail) == (Outcome.DONE,
                                               "active again: suspension lifted, may post media again"), result
    synapse.send_text(alice, room, "back")
    synapse.send_image(alice, room, synapse.upload(alice, fresh_png()))
    assert adapter.lift_restriction(ActionTarget(account_id=alice.user_id)).detail == "was active"
    assert adapter.lift_restriction(ActionTarget(account_id="@nobody:localhost")).outcome == Outcome.NOT_FOUND


def test_lift_restriction_undoes_a_shadow_ban_and_only_firebreak_s_rate_limit(
        synapse: SynapseServer, adapter: MatrixAdapter, new_user: NewUser) -> None:
    alice, bob, bot = new_user("alice"), new_user("bob"), new_user("bot")
    adapter.restrict_account(ActionTarget(account_id=bob.user_id, params={"mode": "shadow_ban"}))
    lifted = adapter.lift_restriction(ActionTarget(account_id=bob.user_id, params={"mode": "shadow_ban"}))
    assert lifted.detail == "active again: shadow ban lifted", lifted
    assert not synapse.call("GET", f"/_synapse/admin/v2/users/{quote(bob.user_id)}", user=synapse.admin)[
        "shadow_banned"]

    path = "/_synapse/admin/v1/users/{}/override_ratelimit"
    adapter.restrict_account(ActionTarget(account_id=alice.user_id, params={"mode": "rate_limit"}))
    assert adapter.lift_restriction(ActionTarget(account_id=alice.user_id, params={"mode": "rate_limit"})).detail \
        == "active again: rate limit lifted"
    assert synapse.call("GET", path.format(quote(alice.user_id)), user=synapse.admin) == {}
    own = {"messages_per_second": 0, "burst_count": 0}  # an admin's exemption for a bot: not Firebreak's to lift
    synapse.call("POST", path.format(quote(bot.user_id)), json=own, user=synapse.admin)
    assert adapter.lift_restriction(ActionTarget(account_id=bot.user_id, params={"mode": "rate_limit"})).detail \
        == "was active"
    assert synapse.call("GET", path.format(quote(bot.user_id)), user=synapse.admin) == own


def test_lift_restriction_unblocks_a_room(synapse: SynapseServer, adapter: MatrixAdapter, new_user: NewUser) -> None:
    alice, bob = new_user("alice"), new_user("bob")
    room = synapse.create_room(alice, public=True)
    adapter.suspend_chat(ActionTarget(chat_id=room))

    result = adapter.lift_restriction(ActionTarget(chat_id=room))

    assert (result.outcome, result.detail) == (Outcome.DONE, "unblocked: people can join it again"), result
    synapse.join(bob, room)
    assert adapter.lift_restriction(ActionTarget(chat_id=room)).detail == "was not blocked"


def test_parse_link_understands_matrix_links(synapse: SynapseServer, adapter: MatrixAdapter,
                                             new_user: NewUser) -> None:
    alice = new_user("alice")
    localpart = alice.user_id[1:].split(":")[0]
    room = synapse.create_room(alice, public=True, alias=f"pics-{localpart}")
    alias = f"#pics-{localpart}:localhost"

    assert adapter.parse_link(f"https://matrix.to/#/{room}/$ev1?via=localhost") == LinkTarget(room, "$ev1")
    assert adapter.parse_link(f"https://matrix.to/#/{quote(room, safe='')}") == LinkTarget(room)
    assert adapter.parse_link(f"https://matrix.to/#/{quote(alias, safe='')}/%24ev2") == LinkTarget(room, "$ev2")
    assert adapter.parse_link(f"https://app.element.io/#/room/{room}/$ev3") == LinkTarget(room, "$ev3")
    assert adapter.parse_link(f"matrix:roomid/{room[1:]}/e/ev4?via=localhost") == LinkTarget(room, "$ev4")
    assert adapter.parse_link(f"matrix:r/{alias[1:]}") == LinkTarget(room)
    for foreign in ("https://example.org/#/room/!x:y", "https://matrix.to/#/@alice:localhost",
                    "matrix:u/alice:localhost", "sandbox://c/c1", "mxc://localhost/abc"):
        assert adapter.parse_link(foreign) is None, foreign


def test_suspend_chat_blocks_the_room(synapse: SynapseServer, adapter: MatrixAdapter, new_user: NewUser) -> None:
    alice, bob = new_user("alice"), new_user("bob")
    room = synapse.create_room(alice, public=True)

    result = adapter.suspend_chat(ActionTarget(chat_id=room))

    assert result.outcome == Outcome.DONE, result
    with pytest.raises(MatrixRequestError) as refused:
        synapse.join(bob, room)
    assert refused.value.status == 403
    assert adapter.suspend_chat(ActionTarget(chat_id=room)).detail == "already blocked"
    assert adapter.suspend_chat(ActionTarget(chat_id="!nonesuch:localhost")).outcome == Outcome.NOT_FOUND


def test_notify_user_sends_one_server_notice(synapse: SynapseServer, adapter: MatrixAdapter,
                                             new_user: NewUser) -> None:
    alice = new_user("alice")
    target = ActionTarget(account_id=alice.user_id, reason="Your image was removed: it matched a takedown order.")

    first = adapter.notify_user(target)
    second = adapter.notify_user(target)

    assert first.outcome == Outcome.DONE, first
    assert second.detail == first.detail  # the same notice, not a second one
    notice_id = first.detail.split()[-1]
    event = synapse.call("GET", f"/_synapse/admin/v1/fetch_event/{quote(notice_id)}", user=synapse.admin)["event"]
    assert event["content"]["body"] == target.reason
    memberships = synapse.call("GET", f"/_synapse/admin/v1/users/{quote(alice.user_id)}/memberships",
                               user=synapse.admin)["memberships"]
    assert memberships[event["room_id"]] == "invite"
    unknown = adapter.notify_user(ActionTarget(account_id="@nobody:localhost", reason="hello"))
    assert unknown.outcome == Outcome.NOT_FOUND

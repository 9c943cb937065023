"""The Firebreak module inside a real Synapse, against a real (loopback) Firebreak endpoint."""

from __future__ import annotations

import hashlib
import os
import time
from collections.abc import Callable
from datetime import UTC, datetime

import pytest

from firebreak.platform.schemas import PlatformEvent
from tests.integrations.matrix.fake_firebreak import FakeFirebreak
from tests.integrations.matrix.harness import MatrixRequestError, MatrixUser, SynapseServer

pytestmark = pytest.mark.slow

NewUser = Callable[[str], MatrixUser]


def test_blocked_upload_is_refused(synapse: SynapseServer, firebreak: FakeFirebreak, new_user: NewUser,
                                   fresh_png: Callable[[], bytes]) -> None:
    alice = new_user("alice")
    data = fresh_png()
    digest = hashlib.sha256(data).hexdigest()
    firebreak.blocked.add(digest)

    for _ in range(2):  # the same file twice within a second: both are checked and both refused
        with pytest.raises(MatrixRequestError) as refused:
            synapse.upload(alice, data)
        assert refused.value.status == 400
        assert refused.value.error == "Bad content"
    assert firebreak.scans.count(digest) == 2
    assert not [r for r in firebreak.rejections if "/v1/scan" in r]


def test_allowed_upload_is_accepted_and_its_placement_reported(
        synapse: SynapseServer, firebreak: FakeFirebreak, new_user: NewUser, fresh_png: Callable[[], bytes]) -> None:
    alice, bob = new_user("alice"), new_user("bob")
    room = synapse.create_room(alice, invite=[bob], name="Holiday pictures")
    synapse.join(bob, room)
    data = fresh_png()

    mxc = synapse.upload(bob, data)
    assert hashlib.sha256(data).hexdigest() in firebreak.scans
    assert synapse.download(alice, mxc).content == data
    event_id = synapse.send_image(bob, room, mxc, mimetype="image/png")

    reported = firebreak.wait_for_event(event_id, "media_posted")
    PlatformEvent.model_validate(reported)
    sent = synapse.get_event(alice, room, event_id)
    assert reported["event_id"] == event_id
    assert reported["message_id"] == event_id
    assert reported["chat"] == {"id": room, "kind": "group", "is_public": False, "member_count": 2,
                                "title": "Holiday pictures"}
    assert reported["sender"] == {"id": bob.user_id, "display_name": "Bob"}
    assert reported["media"] == [{"media_id": mxc, "url": mxc, "mime_type": "image/png"}]
    assert datetime.fromisoformat(reported["sent_at"]) == datetime.fromtimestamp(sent["origin_server_ts"] / 1000,
                                                                                  tz=UTC)


def test_redaction_is_reported_as_message_deleted(synapse: SynapseServer, firebreak: FakeFirebreak,
                                                  new_user: NewUser, fresh_png: Callable[[], bytes]) -> None:
    alice = new_user("alice")
    room = synapse.create_room(alice)
    event_id = synapse.send_image(alice, room, synapse.upload(alice, fresh_png()))
    firebreak.wait_for_event(event_id, "media_posted")

    redaction_id = synapse.redact(alice, room, event_id, reason="posted by mistake")

    deleted = firebreak.wait_for_event(event_id, "message_deleted")
    assert deleted["event_id"] == redaction_id
    assert deleted["chat"]["id"] == room
    assert deleted["sender"]["id"] == alice.user_id
    assert deleted["media"] == []


def test_stickers_videos_and_edits_are_reported(synapse: SynapseServer, firebreak: FakeFirebreak,
                                                new_user: NewUser, fresh_png: Callable[[], bytes]) -> None:
    alice = new_user("alice")
    room = synapse.create_room(alice, public=True)

    text_id = synapse.send_text(alice, room, "no media here")
    sticker_id = synapse.send(alice, room, {"body": "wave", "url": synapse.upload(alice, fresh_png()),
                                            "info": {"mimetype": "image/png"}}, event_type="m.sticker")
    video_mxc = synapse.upload(alice, b"\x00\x00\x00\x18ftypmp42 not really a video", content_type="video/mp4",
                               filename="clip.mp4")
    video_id = synapse.send_image(alice, room, video_mxc, msgtype="m.video", mimetype="video/mp4", body="clip.mp4")
    new_mxc = synapse.upload(alice, fresh_png())
    edit_id = synapse.send(alice, room, {
        "msgtype": "m.image", "body": "* clip", "url": new_mxc,
        "m.new_content": {"msgtype": "m.image", "body": "better.png", "url": new_mxc,
                          "info": {"mimetype": "image/png"}},
        "m.relates_to": {"rel_type": "m.replace", "event_id": video_id},
    })

    assert firebreak.wait_for_event(sticker_id, "media_posted")["chat"]["is_public"] is True
    video = firebreak.wait_for_event(video_id, "media_posted")
    assert video["media"] == [{"media_id": video_mxc, "url": video_mxc, "mime_type": "video/mp4"}]
    edited = firebreak.wait_for_event(video_id, "message_edited")
    assert edited["event_id"] == edit_id
    assert edited["media"] == [{"media_id": new_mxc, "url": new_mxc, "mime_type": "image/png"}]
    assert firebreak.events_for(text_id) == []
    assert firebreak.events_for(edit_id) == []


def test_chat_kinds_follow_the_room(synapse: SynapseServer, firebreak: FakeFirebreak, new_user: NewUser,
                                    fresh_png: Callable[[], bytes]) -> None:
    alice, bob = new_user("alice"), new_user("bob")
    direct = synapse.create_room(alice, invite=[bob], is_direct=True)
    synapse.join(bob, direct)
    synapse.mark_direct(bob, alice, direct)  # as Element does on accepting the invite
    announcements = synapse.create_room(alice, invite=[bob], extra={"power_level_content_override":
                                                                    {"events_default": 50}})
    synapse.join(bob, announcements)

    in_direct = synapse.send_image(alice, direct, synapse.upload(alice, fresh_png()))
    in_channel = synapse.send_image(alice, announcements, synapse.upload(alice, fresh_png()))

    assert firebreak.wait_for_event(in_direct, "media_posted")["chat"] == {
        "id": direct, "kind": "direct", "is_public": False, "member_count": 2}
    assert firebreak.wait_for_event(in_channel, "media_posted")["chat"]["kind"] == "channel"


def test_events_are_retried_until_firebreak_takes_them(synapse: SynapseServer, firebreak: FakeFirebreak,
                                                       new_user: NewUser, fresh_png: Callable[[], bytes]) -> None:
    alice = new_user("alice")
    room = synapse.create_room(alice)
    mxc = synapse.upload(alice, fresh_png())
    firebreak.fail_next_events = 2

    started = time.monotonic()
    event_id = synapse.send_image(alice, room, mxc)
    assert time.monotonic() - started < 1.0  # sending did not wait for Firebreak

    firebreak.wait_for_event(event_id, "media_posted")
    assert firebreak.fail_next_events == 0
    assert synapse.log_contains(f"did not take media_posted {event_id} (attempt 2/6), retrying")


def test_firebreak_outage_fails_open_by_default(synapse: SynapseServer, firebreak: FakeFirebreak,
                                                new_user: NewUser, fresh_png: Callable[[], bytes]) -> None:
    alice = new_user("alice")
    data = fresh_png()
    firebreak.blocked.add(hashlib.sha256(data).hexdigest())
    firebreak.scan_outage = True
    try:
        mxc = synapse.upload(alice, data)
    finally:
        firebreak.scan_outage = False
    assert synapse.download(alice, mxc).content == data
    assert synapse.log_contains("Firebreak unavailable, accepting media")


def test_a_slow_firebreak_times_out_and_fails_open(synapse: SynapseServer, firebreak: FakeFirebreak,
                                                   new_user: NewUser) -> None:
    alice = new_user("alice")
    big = os.urandom(3 * 1024 * 1024)  # large enough to be signed off the reactor thread
    firebreak.scan_delay = 3.0  # the module waits 2 s
    started = time.monotonic()
    try:
        mxc = synapse.upload(alice, big, content_type="application/octet-stream", filename="big.bin")
    finally:
        firebreak.scan_delay = 0.0
    assert 2.0 <= time.monotonic() - started < 3.0
    assert synapse.download(alice, mxc).content == big
    assert synapse.log_contains("accepting media") and synapse.log_contains("TimeoutError")

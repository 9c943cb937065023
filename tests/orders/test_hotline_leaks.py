"""What a regulator and a prober must not see: item statuses before verification, the platform's internal notes;
and re-uploads counted once each, live, also after the order closed."""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from email.message import EmailMessage
from email.utils import make_msgid
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from firebreak.bootstrap.http import create_app
from firebreak.bootstrap.system import System
from firebreak.core.clock import FakeClock
from firebreak.core.jobs.models import ScheduledTask
from firebreak.mail.smtp import InboundMail
from firebreak.orders.models import Order
from tests.orders.test_orders_api import auth, authority_token, run_until_reported, seed, staff_token
from tests.support import RecordingPlatform, copies_of, later, media_event, photo


@pytest.fixture
def platform(system: System) -> RecordingPlatform:
    system.gateway.ensure_integration(name="test", adapter="webhook")
    recording = RecordingPlatform()
    system.adapters.override("test", recording)
    return recording


@pytest.fixture
def client(system: System) -> Iterator[TestClient]:
    with TestClient(create_app(system), raise_server_exceptions=False) as c:
        yield c


def _deliver(system: System, body: str, *, sender: str = "someone@probe.example", subject: str = "Please check",
             in_reply_to: str | None = None) -> None:
    msg = EmailMessage()
    msg["From"], msg["To"], msg["Subject"] = sender, "takedown@firebreak.invalid", subject
    msg["Message-ID"] = make_msgid(domain=sender.rpartition("@")[2])
    if in_reply_to:
        msg["In-Reply-To"] = in_reply_to
    msg.set_content(body)
    system.orders.receive_mail(InboundMail(envelope_from=sender, envelope_to=("takedown@firebreak.invalid",),
                                           peer="127.0.0.1", peer_port=40000, received_at=datetime.now(UTC),
                                           raw=msg.as_bytes()))
    for _ in range(2):
        system.runner.reconcile()


def _queued_mails(system: System) -> list[dict[str, Any]]:
    with system.db.sessions() as session:
        return [t.payload for t in session.scalars(select(ScheduledTask).where(ScheduledTask.job == "mail.send")
                                                   .order_by(ScheduledTask.id))]


def test_an_unverified_sender_learns_nothing_about_items(system: System, platform: RecordingPlatform) -> None:
    links = seed(system, platform)  # links[0] is a live message on the platform
    _deliver(system, f"Please remove\n{links[0]}\n", sender="a@probe.example")
    _deliver(system, "Please remove\nhttps://recording.test/c/chat-9/m/does-not-exist\n", sender="b@probe.example")
    replies = _queued_mails(system)
    assert [r["to"] for r in replies] == [["a@probe.example"], ["b@probe.example"]]
    with system.db.sessions() as session:
        tracking = [o.tracking_id for o in session.scalars(select(Order).order_by(Order.id))]

    def normalised(text: str) -> str:
        return re.sub(r"FB-\d{4}-\w{6}|\d{4}-\d\d-\d\d \d\d:\d\d:\d\d", "X", text)

    # A message that exists and one that does not give the very same answer: nothing to probe with.
    assert normalised(replies[0]["text"]) == normalised(replies[1]["text"])
    for reply, tid in zip(replies, tracking, strict=True):
        assert tid in reply["text"] and "waits for verification" in reply["text"]
        for word in ("recognised", "already removed", "not found", "recording.test", "chat-"):
            assert word not in reply["text"]


def test_the_authority_thread_has_no_internal_mail(system: System, client: TestClient, clock: FakeClock) -> None:
    token = authority_token(system, "KCSC")
    tracking = client.post("/v1/orders", json={"category": "sexual_deepfake", "items": [
        {"kind": "hash", "signal_type": "md5", "value": "0123456789abcdef0123456789abcdef"}]},
        headers=auth(token)).json()["tracking_id"]
    liaison = staff_token(system)
    assert client.post(f"/v1/orders/{tracking}/messages", json={"body": "Noted, working on it."},
                       headers=auth(liaison)).status_code == 201
    with system.db.transaction() as session:  # an internal alert and an SLA reminder, as the desk writes them
        order = session.scalar(select(Order).where(Order.tracking_id == tracking))
        assert order is not None
        from firebreak.orders import notify, service
        from firebreak.orders.models import Channel, MessageDirection
        service.add_message(session=session, clock=clock, actor="system:sla", order=order,
                            direction=MessageDirection.SYSTEM, channel=Channel.API, author="SLA clock",
                            subject="50% reminder", body="half the time is gone", internal=True)
        notify.queue_mail(session=session, now=clock.now(), to=["liaison@platform.example"],
                          subject=f"New message on order {tracking}", text="internal alert", order=order,
                          reply=False, internal=True)
    run_until_reported(system, clock, rounds=2)
    # A liaison officer answers the alert by mail: its subject carries the tracking id, but it is staff writing.
    from firebreak.orders.models import OrderMessage
    with system.db.sessions() as session:
        alert_id = session.scalar(select(OrderMessage.mail_message_id).where(
            OrderMessage.internal.is_(True), OrderMessage.body == "internal alert"))
    assert alert_id
    _deliver(system, "I'll take this one.", sender="liaison@platform.example",
             subject=f"Re: New message on order {tracking}", in_reply_to=alert_id)
    seen = client.get(f"/v1/orders/{tracking}/messages", headers=auth(token)).json()
    staff_seen = client.get(f"/v1/orders/{tracking}/messages", headers=auth(liaison)).json()
    assert [m["body"] for m in seen] == ["Noted, working on it."]
    assert all(not m["internal"] for m in seen)
    internal = [m["body"].strip() for m in staff_seen if m["internal"]]
    assert {"half the time is gone", "internal alert"} <= set(internal)
    assert any(body.endswith("I'll take this one.") for body in internal)  # kept for staff, as an internal note


def test_reuploads_are_counted_once_each_and_live_after_closing(
        system: System, platform: RecordingPlatform, client: TestClient, clock: FakeClock) -> None:
    links = seed(system, platform)
    token = authority_token(system, "KCSC")
    tracking = client.post("/v1/orders", json={"category": "sexual_deepfake", "items": [
        {"kind": "message_link", "value": links[0]}]}, headers=auth(token)).json()["tracking_id"]
    run_until_reported(system, clock)
    first = client.get(f"/v1/orders/{tracking}/receipt", headers=auth(token)).json()
    assert first["status"] == "completed" and first["totals"]["reuploads_blocked"] == 0
    sent_at = first["reported_back_at"]
    assert sent_at is not None  # the final receipt went out when the order closed

    exact = copies_of(photo("astronaut"))["exact"]  # caught by its SHA-256, MD5 and PDQ entries at once
    assert system.gateway.scan_bytes(exact).verdict.value == "block"
    platform.add_message("chat-2", "reupload")
    system.gateway.record_event("test", media_event("chat-2", "reupload", exact, when=later(clock.now(), 99)))
    clock.advance(timedelta(hours=1))
    receipt = client.get(f"/v1/orders/{tracking}/receipt", headers=auth(token)).json()
    assert receipt["items"][0]["reuploads_blocked"] == 2  # two uploads, not six
    assert receipt["totals"]["reuploads_blocked"] == 2
    assert receipt["reported_back_at"] == sent_at  # when it was sent, not the time of this GET
    staff = staff_token(system)
    assert client.post(f"/v1/orders/{tracking}/report", headers=auth(staff)).status_code == 200  # a staff refresh
    again = client.get(f"/v1/orders/{tracking}/receipt", headers=auth(token)).json()
    assert again["totals"]["reuploads_blocked"] == 2 and again["reported_back_at"] != sent_at
    copies = receipt["items"][0]["copies"]
    assert len(copies) == 3 and {c["match"] for c in copies} <= {"exact", "near"}
    assert all(c["chat"].startswith("chat-") and c["removed_at"] for c in copies)
    assert any(c["match"] == "near" and c["signal_type"] == "pdq" for c in copies)

"""Due process over the webhook integration: the platform receives a signed notify_user per statement, forwards
its user's appeal (POST /v1/appeals), receives restore_message when the appeal succeeds, and names the uploader
in an upload check so a refusal reaches them with its reasons."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import datetime, timedelta

import httpx
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from firebreak.auth import service as auth_service
from firebreak.auth.models import Role
from firebreak.bootstrap.http import create_app
from firebreak.bootstrap.system import System
from firebreak.core.clock import FakeClock
from firebreak.enforcement.models import RefusedUpload
from firebreak.platform.models import PlatformIntegration
from firebreak.review import service as review
from firebreak.review.models import ReviewItem
from firebreak.transparency.models import StatementOfReasons
from tests.integrations.test_webhook import INTEGRATION, ActionEndpoint, bank_file, event, post_event, signed_headers
from tests.support import jpeg, photo, scene


@pytest.fixture
def endpoint(system: System) -> Iterator[ActionEndpoint]:
    server = ActionEndpoint(clock=system.clock)
    server.start()
    yield server
    server.stop()


@pytest.fixture
def secret(system: System, endpoint: ActionEndpoint) -> str:
    with system.db.transaction() as session:
        integration = PlatformIntegration(name=INTEGRATION, adapter="webhook", created_at=system.clock.now(),
                                          config={"action_url": endpoint.url})
        session.add(integration)
        session.flush()
        shared = system.secrets.new_secret(integration)
    endpoint.secret = shared.encode()
    return shared


@pytest.fixture
def client(system: System) -> Iterator[TestClient]:
    with TestClient(create_app(system), raise_server_exceptions=False) as c:
        yield c


def settle(system: System, clock: FakeClock) -> None:
    for _ in range(5):
        system.runner.reconcile()
        clock.advance(2)
    system.runner.reconcile()


def appeal(client: TestClient, secret: str, when: datetime, body: dict[str, str]) -> httpx.Response:
    raw = json.dumps(body).encode()
    return client.post("/v1/appeals", content=raw, headers=signed_headers(secret, raw, when))


def test_notice_appeal_and_restoration_over_the_webhook(system: System, clock: FakeClock, client: TestClient,
                                                        secret: str, endpoint: ActionEndpoint) -> None:
    data = jpeg(photo("coffee"))
    body = event("room-7", "msg-42", data, clock.now(), sender="u-1001")
    body["sender"]["language"] = "de"
    assert post_event(client, secret, body, clock.now()).status_code == 200
    bank_file(system, data)
    settle(system, clock)
    notices = endpoint.calls("notify_user")
    assert [r.body["target"]["account_id"] for r in notices] == ["u-1001"]
    notice = notices[0]
    params = notice.body["params"]
    assert notice.signature_ok and params["kind"] == "content_removed" and params["language"] == "de"
    assert params["statement"].startswith("fb-action-") and params["appeal_until"]
    assert notice.headers["Idempotency-Key"] == f"notify_user:{params['idempotency_key']}"
    assert "this notice is a warning" in notice.body["target"]["reason"]
    assert "confirmed" not in notice.body["target"]["reason"]  # the bank's name

    now = clock.now()
    r = appeal(client, secret, now, {"statement": params["statement"], "account_id": "someone-else", "text": "x"})
    assert r.status_code == 404
    r = appeal(client, secret, now, {"statement": params["statement"], "account_id": "u-1001"})
    assert r.status_code == 422 and "text" in r.json()["detail"]
    r = appeal(client, secret, now, {"statement": params["statement"], "account_id": "u-1001",
                                     "text": "This is my coffee, not anything banned."})
    assert r.status_code == 201, r.text
    reference = r.json()["reference"]
    assert reference.startswith("AP-")
    again = appeal(client, secret, now, {"statement": params["statement"], "account_id": "u-1001", "text": "again"})
    assert again.status_code == 409 and reference in again.json()["detail"]

    with system.db.transaction() as session:
        mod = auth_service.create_staff_user(session=session, clock=clock, actor="test", username="mo",
                                             password="correct horse battery staple", role=Role.MODERATOR)
        item = session.scalar(select(ReviewItem).where(ReviewItem.kind == review.APPEAL_KIND))
        assert item is not None and item.excluded_staff_id is None  # automated: any moderator may decide
        system.review.claim(session, item, staff_id=mod.id, role=Role.MODERATOR, version=None)
        system.review.decide(session, item, staff_id=mod.id, role=Role.MODERATOR,
                             request=review.DecisionRequest(choice="reverse", inputs={}))
    settle(system, clock)
    restores = endpoint.calls("restore_message")
    assert [(r.body["target"]["chat_id"], r.body["target"]["message_id"], r.body["params"]["release_media"])
            for r in restores] == [("room-7", "msg-42", True)]
    answers = [r for r in endpoint.calls("notify_user") if r.body["params"]["kind"] == "decision_reversed"]
    assert len(answers) == 1 and "reversed its decision" in answers[0].body["target"]["reason"]


def test_an_upload_check_naming_its_uploader_sends_them_the_reasons(
        system: System, clock: FakeClock, client: TestClient, secret: str, endpoint: ActionEndpoint) -> None:
    data = jpeg(photo("chelsea"))
    bank_file(system, data)
    r = client.post("/v1/scan?uploader=u-2002&chat=room-9", content=data,
                    headers=signed_headers(secret, data, clock.now(), "application/octet-stream"))
    assert r.status_code == 200 and r.json()["verdict"] == "block"
    bad = client.post("/v1/scan?uploader=" + "x" * 300, content=data,
                      headers=signed_headers(secret, data, clock.now(), "application/octet-stream"))
    assert bad.status_code == 422 and bad.json()["errors"][0]["field"] == "uploader"  # the parameter as sent
    settle(system, clock)
    with system.db.sessions() as session:
        refusal = session.scalar(select(RefusedUpload))
        assert refusal is not None
        statement = session.scalar(select(StatementOfReasons).where(
            StatementOfReasons.refused_upload_id == refusal.id))
        assert statement is not None
        assert statement.payload["decision_visibility"] == ["DECISION_VISIBILITY_OTHER"]
    notices = endpoint.calls("notify_user")
    assert [n.body["target"]["account_id"] for n in notices] == ["u-2002"]
    assert "did not accept your upload" in notices[0].body["target"]["reason"]


def report(client: TestClient, secret: str, when: datetime, body: dict[str, str]) -> httpx.Response:
    raw = json.dumps(body).encode()
    return client.post("/v1/reports", content=raw, headers=signed_headers(secret, raw, when))


def test_a_users_report_goes_to_the_queue_and_everyone_hears_the_outcome(
        system: System, clock: FakeClock, client: TestClient, secret: str, endpoint: ActionEndpoint) -> None:
    now = clock.now()
    assert post_event(client, secret, event("room-1", "msg-5", jpeg(photo("rocket")), now, sender="u-3"),
                      now).status_code == 200
    first = {"report_id": "r-1", "chat_id": "room-1", "message_id": "msg-5", "reporter_id": "u-8",
             "reason": "This is a private photo of me.", "category": "ncii"}
    r = report(client, secret, now, first)
    assert r.status_code == 202 and r.json()["status"] == "queued"
    item_id = r.json()["review_item"]
    assert report(client, secret, now, first).json()["review_item"] == item_id  # the same report again
    r = report(client, secret, now, {**first, "report_id": "r-2", "reporter_id": "u-9", "reason": "Not OK"})
    assert r.json()["review_item"] == item_id  # one item per message, however many report it
    assert report(client, secret, now, {**first, "message_id": "msg-unknown"}).status_code == 404
    bad = report(client, secret, now, {**first, "category": "rudeness"})
    assert bad.status_code == 422 and bad.json()["errors"][0]["field"] == "category"
    with system.db.transaction() as session:
        item = session.get(ReviewItem, item_id)
        assert item is not None and len(item.facts["reports"]) == 2 and item.kind == "user_report"
        mod = auth_service.create_staff_user(session=session, clock=clock, actor="test", username="mo",
                                             password="correct horse battery staple", role=Role.MODERATOR)
        system.review.claim(session, item, staff_id=mod.id, role=Role.MODERATOR, version=None)
        system.review.decide(session, item, staff_id=mod.id, role=Role.MODERATOR,
                             request=review.DecisionRequest(choice="remove"))
    settle(system, clock)
    assert [(c.body["target"]["chat_id"], c.body["target"]["message_id"])
            for c in endpoint.calls("remove_message")] == [("room-1", "msg-5")]
    told = {c.body["target"]["account_id"]: c.body["target"]["reason"] for c in endpoint.calls("notify_user")}
    assert set(told) == {"u-3", "u-8", "u-9"}
    assert "Thank you for your report" in told["u-8"] and "removed it" in told["u-8"]
    assert "a member of our trust and safety team" in told["u-3"]
    with system.db.sessions() as session:
        statement = session.scalar(select(StatementOfReasons))
        assert statement is not None and statement.payload["source_type"] == "SOURCE_ARTICLE_16"
        assert "source_identity" not in statement.payload  # a person who reports is never named


def test_a_restriction_lifted_at_its_end_and_a_later_one_each_have_their_own_key(
        system: System, clock: FakeClock, client: TestClient, secret: str, endpoint: ActionEndpoint) -> None:
    """A platform carries out each Idempotency-Key once: a second restriction of the same account, after the first
    was lifted when its period ended, must not come with the first one's key (it would be taken as done)."""
    pictures = [jpeg(scene(900 + n), 90) for n in range(5)]
    for data in pictures:
        bank_file(system, data)

    def post(n: int) -> None:
        assert post_event(client, secret, event("room-9", f"m{n}", pictures[n], clock.now(), sender="u-2002"),
                          clock.now()).status_code == 200
        settle(system, clock)

    for n in range(3):  # the warning, then two violations: restricted for 7 days
        post(n)
    clock.advance(timedelta(days=7, minutes=1))
    settle(system, clock)
    clock.advance(timedelta(days=91))  # those violations leave the window
    for n in range(3, 5):  # two more: restricted again
        post(n)
    calls = [(r.body["action"], r.headers["Idempotency-Key"]) for r in endpoint.received
             if r.body["action"] in ("restrict_account", "lift_restriction")]
    assert [action for action, _ in calls] == ["restrict_account", "lift_restriction", "restrict_account"]
    assert len({key for _, key in calls}) == 3, calls
    assert all(r.signature_ok for r in endpoint.received)

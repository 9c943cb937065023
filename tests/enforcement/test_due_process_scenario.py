"""The issue's scenario, with due process: 25 ordered items and 100 copies reshared over 10 chats by 12 people
before anything was banked. Every copy goes, nothing else; everyone is told why and how to appeal; nobody is
suspended for what they shared before the ban; no chat is suspended by counting; a re-upload after the ban is
refused and counts toward a restriction; every removal and refusal has a statement the export writes.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import Connection, func, select

from firebreak.audit.models import AuditEvent
from firebreak.auth import service as auth_service
from firebreak.auth.models import Role
from firebreak.authorities import service as authorities
from firebreak.authorities.models import TrustLevel
from firebreak.authorities.schemas import AuthorityCreate
from firebreak.bootstrap.system import System, build_system
from firebreak.core.clock import FakeClock
from firebreak.core.config import Settings
from firebreak.enforcement.models import AccountConduct, ConductKind, RefusedUpload
from firebreak.integrations.sandbox import service as sandbox
from firebreak.integrations.sandbox.models import AccountStatus, ChatStatus, MessageStatus, SandboxChat, SandboxMessage
from firebreak.integrations.sandbox.seed import SeedChat, SeedMessage, seed
from firebreak.orders.models import Channel, Order, OrderStatus
from firebreak.orders.receipts import build_receipt
from firebreak.orders.schemas import OrderCreate, OrderItemIn
from firebreak.review import service as review
from firebreak.review.models import ReviewItem
from firebreak.transparency import service as statements
from firebreak.transparency.models import StatementKind, StatementOfReasons
from tests.support import FakeDns, jpeg, scene
from tests.transparency.dsa_stand_in import check_statement

USERS = [f"user{n:02d}" for n in range(12)]  # user00 posted the originals
ITEMS, COPIES, INNOCENT = 25, 100, 20
PUBLIC = "https://firebreak.example"


@dataclass
class World:
    system: System
    clock: FakeClock
    messages: list[str]  # per seeded message
    senders: list[str]
    chats: dict[str, str]
    ordered: list[int]  # indexes of the originals
    copies: list[int]
    innocent: list[int]
    order_id: int
    posted_day: str


@pytest.fixture
def world(settings: Settings, clock: FakeClock, connection: Connection, dns: FakeDns) -> Iterator[World]:
    system = build_system(settings.model_copy(update={"public_url": PUBLIC}), clock=clock,
                          engine=connection.engine, bind=connection, dkim_dns=dns)
    system.prepare()
    assert system.sandbox is not None
    originals = [jpeg(scene(seed), 92) for seed in range(ITEMS)]
    specs: list[SeedMessage] = []
    senders: list[str] = []
    start = clock.now() - timedelta(days=3)
    for i, data in enumerate(originals):
        specs.append(SeedMessage(chat="origin", sender=USERS[0], media=data, text=f"original {i}",
                                 sent_at=start + timedelta(seconds=i)))
        senders.append(USERS[0])
    for k in range(COPIES):  # three in four forwarded as they are, one in four re-encoded and posted anew
        item, chat, sender = k % ITEMS, f"chat{1 + k % 9}", USERS[1 + k % 11]
        when = start + timedelta(hours=1, seconds=k)
        if k < 75:
            specs.append(SeedMessage(chat=chat, sender=sender, forward_of=item, sent_at=when))
        else:
            specs.append(SeedMessage(chat=chat, sender=sender, media=jpeg(scene(item), 60), sent_at=when))
        senders.append(sender)
    for j in range(INNOCENT):
        sender = USERS[j % 12]
        specs.append(SeedMessage(chat=f"chat{1 + j % 9}", sender=sender, media=jpeg(scene(1000 + j), 85),
                                 sent_at=start + timedelta(hours=2, seconds=j)))
        senders.append(sender)
    with system.db.transaction() as session:
        seeded = seed(session=session, clock=clock, users=USERS,
                      chats=[SeedChat(key="origin", members=USERS, title="Origin room"),
                             *(SeedChat(key=f"chat{n}", members=[USERS[n], *USERS], title=f"Group {n}")
                               for n in range(1, 10))],
                      messages=specs)
    for event in seeded.events:
        system.sandbox.deps.link.submit_event("sandbox", event)
    clock.advance(timedelta(days=2))
    messages = [m or "" for m in seeded.messages]
    with system.db.transaction() as session:
        authority = authorities.create_authority(session=session, clock=clock, actor="test", data=AuthorityCreate(
            name="Korea Communications Standards Commission", country="KR", jurisdiction="Republic of Korea",
            trust_level=TrustLevel.TRUSTED, trusted_categories=["sexual_deepfake"]))
        order, _ = system.orders.submit(
            session=session, authority=authority, contact=None, channel=Channel.API, actor="test",
            data=OrderCreate(category="sexual_deepfake", legal_basis="Art. 44-7 Information and Communications "
                             "Network Act", items=[OrderItemIn(kind="message_link",
                                                               value=f"sandbox://c/{seeded.chats['origin']}/m/"
                                                                     f"{messages[i]}") for i in range(ITEMS)]))
        order_id = order.id
    yield World(system, clock, messages, senders, seeded.chats, list(range(ITEMS)),
                list(range(ITEMS, ITEMS + COPIES)), list(range(ITEMS + COPIES, ITEMS + COPIES + INNOCENT)), order_id,
                start.date().isoformat())


def settle(world: World, rounds: int = 12) -> None:
    for _ in range(rounds):
        world.system.runner.reconcile()
        world.clock.advance(timedelta(seconds=2))
    world.system.runner.reconcile()


def test_every_copy_goes_everyone_is_told_nobody_is_suspended_for_the_past(world: World, tmp_path: Path) -> None:
    settle(world)
    system = world.system
    with system.db.sessions() as session:
        status = {m.external_id: m.status for m in session.scalars(select(SandboxMessage))}
        removed = world.ordered + world.copies
        assert {world.messages[i] for i in removed} == {m for m, s in status.items() if s == MessageStatus.REMOVED}
        assert all(status[world.messages[i]] == MessageStatus.LIVE for i in world.innocent)

        # Nobody is restricted or suspended, and no chat is: what was shared before the ban only warns.
        users = {u.handle: u for u in session.scalars(select(sandbox.SandboxUser))}
        assert {u.status for u in users.values()} == {AccountStatus.ACTIVE}
        assert {c.status for c in session.scalars(select(SandboxChat))} == {ChatStatus.ACTIVE}
        kinds = Counter(session.scalars(select(AccountConduct.kind)))
        assert kinds == {ConductKind.WARNING: ITEMS + COPIES}

        # Every sender got one notice per removed message: the ground, the facts, automation, the appeal link.
        expected = Counter(world.senders[i] for i in removed)
        for handle, user in users.items():
            notices = sandbox.list_notices(session=session, user=user)
            assert len(notices) == expected.get(handle, 0), handle
            for notice in notices:
                text = notice.text
                assert "fake sexual image of a real person" in text
                assert "this notice is a warning" in text
                assert f"{PUBLIC}/appeals/" in text and "Reference: fb-action-" in text
                assert "orders-" not in text and "sexual_deepfake" not in text  # no internal names
        copy_notices = [n.text for u in users.values() for n in sandbox.list_notices(session=session, user=u)
                        if "is a copy of one that a competent authority ordered removed" in n.text]
        assert len(copy_notices) == COPIES
        assert all("automatically" in text and "No person looked" in text for text in copy_notices)
        placeholders = {m.removed_reason for m in session.scalars(select(SandboxMessage).where(
            SandboxMessage.status == MessageStatus.REMOVED))}
        assert not any("FB-" in (p or "") or "orders-" in (p or "") for p in placeholders)

        # One statement per removal, in the database's shape, dated when the content was posted.
        rows = list(session.scalars(select(StatementOfReasons)))
        assert len(rows) == ITEMS + COPIES and {r.kind for r in rows} == {StatementKind.RESTRICTION}
        by_automation = Counter(r.payload["automated_decision"] for r in rows)
        assert by_automation == {"AUTOMATED_DECISION_NOT_AUTOMATED": ITEMS, "AUTOMATED_DECISION_FULLY": COPIES}
        assert {r.payload["content_date"] for r in rows} == {world.posted_day}
        assert {r.payload["application_date"] for r in rows} == {world.clock.now().date().isoformat()}
        assert {r.payload["source_type"] for r in rows} == {"SOURCE_TYPE_OTHER_NOTIFICATION"}
        assert {tuple(r.payload["content_type"]) for r in rows} == {("CONTENT_TYPE_IMAGE",
                                                                     "CONTENT_TYPE_SYNTHETIC_MEDIA")}

        # The authority's receipt carries the very statements stored.
        order = session.get(Order, world.order_id)
        assert order is not None and order.status == OrderStatus.COMPLETED
        receipt = build_receipt(session=session, clock=world.clock, order=order, authority_name="KCSC")
        stored = {r.puid for r in rows}
        assert {i.statement_of_reasons["puid"] for i in receipt.items if i.statement_of_reasons} <= stored
        assert sum(1 for i in receipt.items if i.statement_of_reasons) == ITEMS

        # No chat is suspended: each is proposed to the queue, the one where the originals were posted first.
        queue = review.queue(session=session, staff_id=0, flt=review.QueueFilter(kind="chat_action"),
                             now=system.clock.now())
        assert len(queue) == 10
        assert queue[0].facts["chat"] == "Origin room"
        assert queue[0].facts["ordered"] is True and not any(item.facts["ordered"] for item in queue[1:])

        assert session.scalar(select(func.count()).select_from(AuditEvent).where(
            AuditEvent.action == "due_process.failed")) == 0
        out = tmp_path / "statements.jsonl"
        count = statements.export_file(session=session, path=out)
    lines = [json.loads(line) for line in out.read_text().splitlines()]
    assert count == len(lines) == ITEMS + COPIES
    assert len({line["puid"] for line in lines}) == len(lines)
    assert all(check_statement(line) == {} for line in lines)
    text = out.read_text()
    assert not any(handle in text for handle in USERS) and "Origin room" not in text and "Group 3" not in text


def test_a_reupload_after_the_ban_is_refused_and_counts_toward_a_restriction(world: World) -> None:
    settle(world)
    system = world.system
    assert system.sandbox is not None
    offender = USERS[3]  # warned for the copies they shared before the ban
    chat = world.chats["chat2"]
    for item in (3, 4):
        with pytest.raises(sandbox.UploadRefused):
            system.sandbox.post(chat_ref=chat, sender_handle=offender, text=None,
                                upload=sandbox.Upload(jpeg(scene(item), 75), "again.jpg", "image/jpeg"))
        settle(world, rounds=3)
    with system.db.sessions() as session:
        refusals = list(session.scalars(select(RefusedUpload)))
        assert len(refusals) == 2
        assert all(statements.by_puid(session=session, puid=statements.puid_for(
            system.due.puid_key, "refusal", r.id)) is not None for r in refusals)
        violations = session.scalar(select(func.count()).select_from(AccountConduct).where(
            AccountConduct.kind == ConductKind.VIOLATION))
        assert violations == 2
        user = sandbox.get_user_by_handle(session=session, handle=offender)
        assert user.status == AccountStatus.RESTRICTED
        texts = [n.text for n in sandbox.list_notices(session=session, user=user)]
        assert sum("did not accept your upload" in t for t in texts) == 2
        assert any("restricted your account" in t for t in texts)
        assert any("counts against your account: 1 time(s)" in t for t in texts)
        others = [u for u in session.scalars(select(sandbox.SandboxUser)) if u.handle != offender]
        assert {u.status for u in others} == {AccountStatus.ACTIVE}
        restrictions = session.scalar(select(func.count()).select_from(StatementOfReasons).where(
            StatementOfReasons.kind == StatementKind.RESTRICTION))
        assert restrictions == ITEMS + COPIES + 2 + 1  # removals, two refusals, the restriction
    with pytest.raises(sandbox.Forbidden):  # a restricted account may not post pictures at all
        system.sandbox.post(chat_ref=chat, sender_handle=offender, text=None,
                            upload=sandbox.Upload(jpeg(scene(5), 75), "again.jpg", "image/jpeg"))

    # The restriction is appealed and reversed: lifted on the platform, the violations behind it no longer count.
    with system.db.transaction() as session:
        restriction = session.scalar(select(StatementOfReasons).where(
            StatementOfReasons.payload["decision_provision"].as_string() == "DECISION_PROVISION_PARTIAL_SUSPENSION"))
        assert restriction is not None
        appeal = system.appeals.from_link(session, restriction, "I was re-uploading my own photo by mistake.")
        moderator = auth_service.create_staff_user(session=session, clock=world.clock, actor="test", username="mo",
                                                   password="correct horse battery staple", role=Role.MODERATOR)
        item = session.get(ReviewItem, appeal.review_item_id)
        assert item is not None
        system.review.claim(session, item, staff_id=moderator.id, role=Role.MODERATOR, version=None)
        decision = system.review.decide(session, item, staff_id=moderator.id, role=Role.MODERATOR,
                                        request=review.DecisionRequest(choice="reverse"))
        assert "2 record entries lifted" in (decision.result or "")
    settle(world, rounds=3)
    with system.db.sessions() as session:
        user = sandbox.get_user_by_handle(session=session, handle=offender)
        assert user.status == AccountStatus.ACTIVE
        assert "The restriction is lifted." in sandbox.list_notices(session=session, user=user)[0].text
        assert session.scalar(select(func.count()).select_from(AccountConduct).where(
            AccountConduct.kind == ConductKind.VIOLATION, AccountConduct.lifted_at.is_(None))) == 0

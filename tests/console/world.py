"""A small platform with something of every kind in the review queue, for the console's tests.

On the sandbox: ann posts a picture an authority then orders removed (ben had forwarded it), cat posts one that
matches a bank whose matches a person reviews, and dan posts something harmless. An order from an unverified
sender waits for verification; ann appeals her removal; one action failed. Used by the page tests (on the
``system`` fixture) and the browser test (on a live Firebreak).
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session

from firebreak.auth import service as auth_service
from firebreak.auth.models import Role
from firebreak.authorities import service as authorities
from firebreak.authorities.models import TrustLevel
from firebreak.authorities.schemas import AuthorityCreate
from firebreak.banks import service as banks
from firebreak.banks.models import MatchAction, Provenance
from firebreak.banks.schemas import BankCreate
from firebreak.bootstrap.system import System
from firebreak.enforcement.due_process import appeal_token
from firebreak.enforcement.models import Action, ActionKind, ActionStatus
from firebreak.integrations.sandbox import service as sandbox
from firebreak.integrations.sandbox.seed import SeedChat, SeedMessage, seed
from firebreak.orders import service as orders
from firebreak.orders.models import Channel
from firebreak.orders.schemas import OrderCreate, OrderItemIn
from firebreak.platform.models import PlatformAccount, PlatformIntegration
from firebreak.review.models import ReviewItem
from firebreak.signals.hashing import hash_bytes
from firebreak.transparency.models import StatementOfReasons
from tests.support import jpeg, scene

PASSWORD = "correct horse battery staple"
STAFF = {"alice": Role.ADMIN, "mo": Role.MODERATOR, "mia": Role.MODERATOR, "max": Role.MODERATOR,
         "lee": Role.LIAISON, "audra": Role.AUDITOR}


@dataclass
class ConsoleWorld:
    staff: dict[str, int] = field(default_factory=dict)  # username -> id
    users: dict[str, str] = field(default_factory=dict)  # handle -> sandbox id
    chats: dict[str, str] = field(default_factory=dict)
    messages: dict[str, str] = field(default_factory=dict)  # name -> sandbox id
    items: dict[str, int] = field(default_factory=dict)  # kind -> a review item id
    appeal_token: str = ""  # for ann's removal (already appealed)
    fresh_token: str = ""  # for ben's removal (not appealed yet)
    bank: str = "suspected"
    failed_action: int = 0


def add_staff(system: System) -> dict[str, int]:
    with system.db.transaction() as session:
        return {name: auth_service.create_staff_user(
            session=session, clock=system.clock, actor="test", username=name, password=PASSWORD, role=role,
            display_name={"alice": "Alice Admin", "mo": "Mo Moderator", "mia": "Mia Moderator", "max": "Max Moderator",
                          "lee": "Lee Liaison", "audra": "Audra Auditor"}[name]).id for name, role in STAFF.items()}


def build_world(system: System, settle: Callable[[], None]) -> ConsoleWorld:
    assert system.sandbox is not None
    world = ConsoleWorld(staff=add_staff(system))
    clock = system.clock
    ordered, reviewed, harmless = jpeg(scene(11), 92), jpeg(scene(12), 92), jpeg(scene(13), 92)
    with system.db.transaction() as session:
        seeded = seed(session=session, clock=clock, users=["ann", "ben", "cat", "dan"],
                      chats=[SeedChat(key="room", members=["ann", "ben", "cat", "dan"], title="Book club"),
                             SeedChat(key="hall", members=["ben", "cat"], title="Hall")],
                      messages=[SeedMessage(chat="room", sender="ann", media=ordered, text="look"),
                                SeedMessage(chat="hall", sender="ben", forward_of=0),
                                SeedMessage(chat="room", sender="cat", media=reviewed),
                                SeedMessage(chat="room", sender="dan", media=harmless, text="my cat")])
    for event in seeded.events:
        system.sandbox.deps.link.submit_event("sandbox", event)
    world.users, world.chats = dict(seeded.users), dict(seeded.chats)
    world.messages = dict(zip(("ordered", "forward", "reviewed", "harmless"), [m or "" for m in seeded.messages],
                              strict=True))
    with system.db.transaction() as session:
        bank = banks.create_bank(session=session, clock=clock, actor="test", data=BankCreate(
            name=world.bank, action=MatchAction.REVIEW, policy_category="ncii"))
        banks.add_entries(session=session, clock=clock, actor="test", bank=bank,
                          entries=banks.entries_for_hashes(hash_bytes(reviewed)), provenance=Provenance.IMPORT,
                          source_ref="import:test")
        authority = authorities.create_authority(session=session, clock=clock, actor="test", data=AuthorityCreate(
            name="Korea Communications Standards Commission", country="KR", jurisdiction="Republic of Korea",
            trust_level=TrustLevel.TRUSTED, trusted_categories=["sexual_deepfake"], mail_domains=["kcsc.example"]))
        link = f"sandbox://c/{world.chats['room']}/m/{world.messages['ordered']}"
        system.orders.submit(session=session, authority=authority, contact=None, channel=Channel.API, actor="test",
                             data=OrderCreate(category="sexual_deepfake", legal_basis="Art. 44-7",
                                              items=[OrderItemIn(kind="message_link", value=link)]))
        orders.create_order(
            session=session, ctx=system.orders.intake_context(session), actor="mail:someone@elsewhere.example",
            authority=None, contact=None, channel=Channel.EMAIL, received_at=clock.now(), verified=False,
            sender_address="someone@elsewhere.example", source_message_id="<x@elsewhere.example>",
            sender_authentication={"verdict": "the DKIM signature could not be verified (body hash mismatch: the "
                                              "body was changed after signing)", "registered_sender": False,
                                   "candidate_authority_id": authority.id, "signatures": [
                                       {"valid": False, "domain": "kcsc.example", "selector": "s1",
                                        "reason": "body hash mismatch: the body was changed after signing",
                                        "headers": ["from", "to", "date"], "body_length": None,
                                        "body_hash_ok": False}]},
            data=OrderCreate(category="sexual_deepfake", items=[OrderItemIn(
                kind="message_link", value=f"sandbox://c/{world.chats['room']}/m/{world.messages['harmless']}")]))
    settle()
    with system.db.transaction() as session:
        removals = {s.account_id: s for s in session.scalars(select(StatementOfReasons))}
        ann = _account_id(session, world.users["ann"])
        ben = _account_id(session, world.users["ben"])
        system.appeals.from_link(session, removals[ann], "This was my own photo, posted with consent.")
        world.appeal_token = appeal_token(system.due.appeal_key, removals[ann].id)
        world.fresh_token = appeal_token(system.due.appeal_key, removals[ben].id)
        integration = session.scalar(select(PlatformIntegration.id).where(PlatformIntegration.name == "sandbox"))
        assert integration is not None
        failed = Action(idempotency_key="test:failed", kind=ActionKind.NOTIFY_USER, integration_id=integration,
                        status=ActionStatus.FAILED, attempts=10, last_error="HTTP 400: the platform said no",
                        params={"reason": "x", "account": "u999"}, created_at=clock.now(),
                        completed_at=clock.now())
        session.add(failed)
        session.flush()
        world.failed_action = failed.id
        for item in session.scalars(select(ReviewItem)):
            world.items.setdefault(item.kind, item.id)
    return world


def _account_id(session: Session, external_id: str) -> int:
    found = session.scalar(select(PlatformAccount.id).where(PlatformAccount.external_id == external_id))
    assert found is not None
    return found


_CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')


def csrf_of(html: str) -> str:
    match = _CSRF.search(html)
    assert match, "no CSRF field on the page"
    return match[1]


def later(system: System, seconds: int) -> None:
    system.clock.advance(timedelta(seconds=seconds))  # type: ignore[attr-defined]


def inbox(system: System, handle: str) -> list[str]:
    with system.db.sessions() as session:
        user = sandbox.get_user_by_handle(session=session, handle=handle)
        return [n.text for n in sandbox.list_notices(session=session, user=user)]

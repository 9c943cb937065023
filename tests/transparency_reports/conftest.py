"""A scenario of one quarter, written straight into the tables, whose figures the tests work out on their own."""

from __future__ import annotations

import hashlib
import math
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy.orm import Session

from firebreak.authorities.models import Authority
from firebreak.banks.models import Bank, BankEntry, MatchAction, Provenance, UploadRefusal, UploadRefusalEntry
from firebreak.bootstrap.system import System
from firebreak.enforcement.models import Action, ActionKind, ActionStatus
from firebreak.matching.models import Match, MatchReview, MatchSource
from firebreak.media.models import Media
from firebreak.orders.models import Channel, ItemKind, ItemOutcome, Order, OrderItem, OrderStatus
from firebreak.platform.models import PlatformIntegration
from firebreak.reports.models import ReportCategory, ReporterRelation, ReportStatus, VictimReport
from firebreak.review.models import Appeal, AppealStatus, Decision, DecisionOutcome

START = datetime(2026, 1, 1, tzinfo=UTC)
END = datetime(2026, 4, 1, tzinfo=UTC)  # the first quarter of 2026: [START, END)


def median(values: list[float]) -> float:
    ordered = sorted(values)
    middle = len(ordered) // 2
    return ordered[middle] if len(ordered) % 2 else (ordered[middle - 1] + ordered[middle]) / 2


def p90(values: list[float]) -> float:
    return sorted(values)[math.ceil(len(values) * 9 / 10) - 1]


@dataclass
class Scenario:
    """What the scenario put in, kept as the test's own record to compute the expected figures from."""

    orders_by_authority: dict[str, int] = field(default_factory=dict)
    orders_by_country: dict[str, int] = field(default_factory=dict)
    orders_by_category: dict[str, int] = field(default_factory=dict)
    ack_seconds: list[float] = field(default_factory=list)
    act_seconds: list[float] = field(default_factory=list)
    items: dict[str, int] = field(default_factory=dict)
    ordered_removed: int = 0
    copies_removed: int = 0
    decision_removed: int = 0
    reuploads: int = 0
    uploads_refused: int = 0
    failed: dict[str, int] = field(default_factory=dict)
    accounts_suspended: int = 0
    reports: dict[str, int] = field(default_factory=dict)
    report_seconds: list[float] = field(default_factory=list)
    decisions_automated: int = 0
    decisions_human: int = 0
    appeals: dict[str, int] = field(default_factory=dict)
    appeal_seconds: list[float] = field(default_factory=list)
    preservation_requests: int = 0


AUTHORITIES = (("Korea Communications Standards Commission", "KR"), ("Bundeskriminalamt", "DE"),
               ("Pharos", "FR"))
# (authority, category, received day, seconds to acknowledge, seconds to act or None, item outcomes, action)
ORDERS = (
    (0, "ncii", 3, 12, 3_600, ("removed", "removed", "not_found"), "remove"),
    (0, "sexual_deepfake", 10, 30, 5_400, ("removed",), "remove"),
    (0, "csam", 11, 5, 1_200, ("removed", "already_removed"), "remove"),
    (1, "csam", 20, 60, 7_200, ("removed", "declined"), "remove"),
    (1, "terrorist_content", 40, 8, 1_800, ("removed",), "remove"),
    (2, "csam", 55, 20, None, ("pending",), "remove"),
    (0, "ncii", 70, 40, 86_400, ("removed", "removed", "removed"), "remove"),
    (2, "ncii", 80, 15, 600, ("removed",), "preserve"),
)


def _ids(session: Session, clock_now: datetime) -> tuple[int, int, int, int]:
    integration = PlatformIntegration(name="scenario", adapter="webhook", config={}, created_at=clock_now)
    session.add(integration)
    bank = Bank(name="scenario-bank", action=MatchAction.BLOCK, jurisdictions=[], policy_category="ncii",
                created_at=clock_now)
    session.add(bank)
    session.flush()
    entry = BankEntry(bank_id=bank.id, signal_type="sha256", value="a" * 64, value_digest="d" * 64,
                      provenance=Provenance.ORDER, extra={}, blocked_uploads=9, created_at=clock_now)
    second = BankEntry(bank_id=bank.id, signal_type="md5", value="b" * 32, value_digest="e" * 64,
                       provenance=Provenance.ORDER, extra={}, created_at=clock_now)
    session.add_all([entry, second])
    session.flush()
    return integration.id, bank.id, entry.id, second.id


def build(system: System) -> Scenario:
    scene = Scenario()
    now = system.clock.now()
    with system.db.transaction() as session:
        integration_id, _, entry_id, second_entry_id = _ids(session, now)
        authorities = []
        for name, country in AUTHORITIES:
            authority = Authority(name=name, country=country, jurisdiction=name, legal_bases=[], mail_domains=[],
                                  mail_addresses=[], default_deadlines={}, trusted_categories=[], created_at=now)
            session.add(authority)
            authorities.append(authority)
        session.flush()
        n = 0

        def action(kind: ActionKind, status: ActionStatus, when: datetime, **fields: object) -> None:
            nonlocal n
            n += 1
            session.add(Action(idempotency_key=f"scenario:{n}", integration_id=integration_id, kind=kind,
                               status=status, attempts=1, completed_at=when, created_at=when,
                               params={"category": fields.pop("category", "ncii")}, **fields))

        for i, (who, category, day, ack, act, outcomes, requested) in enumerate(ORDERS):
            received = START + timedelta(days=day, hours=9)
            authority = authorities[who]
            order = Order(tracking_id=f"FB-2026-SCEN{i}", authority_id=authority.id, channel=Channel.API,
                          category=category, requested_action=requested, territorial_scope=[],
                          status=OrderStatus.COMPLETED if act else OrderStatus.IN_PROGRESS, received_at=received,
                          acknowledged_at=received + timedelta(seconds=ack),
                          actioned_at=received + timedelta(seconds=act) if act else None,
                          sender_authentication={}, created_at=received)
            session.add(order)
            session.flush()
            scene.orders_by_authority[authority.name] = scene.orders_by_authority.get(authority.name, 0) + 1
            scene.orders_by_country[authority.country] = scene.orders_by_country.get(authority.country, 0) + 1
            scene.orders_by_category[category] = scene.orders_by_category.get(category, 0) + 1
            scene.ack_seconds.append(ack)
            if act:
                scene.act_seconds.append(act)
            scene.preservation_requests += requested == "preserve"
            for position, outcome in enumerate(outcomes, start=1):
                item = OrderItem(order_id=order.id, position=position, kind=ItemKind.HASH, value="x",
                                 outcome=ItemOutcome(outcome), created_at=received)
                session.add(item)
                session.flush()
                scene.items[outcome] = scene.items.get(outcome, 0) + 1
                if outcome == "removed" and act:
                    action(ActionKind.REMOVE_MESSAGE, ActionStatus.DONE, received + timedelta(seconds=act),
                           order_item_id=item.id, category=category)
                    scene.ordered_removed += 1
        # Orders just outside the quarter: counted nowhere.
        for j, when in enumerate((START - timedelta(seconds=1), END)):
            session.add(Order(tracking_id=f"FB-2026-OUT{j}", authority_id=authorities[0].id, channel=Channel.API,
                              category="csam", territorial_scope=[], status=OrderStatus.COMPLETED, received_at=when,
                              acknowledged_at=when, actioned_at=when, sender_authentication={}, created_at=when))

        # Copies found by matching, re-uploads caught, removals on a moderator's decision, failures.
        media = []
        for k in range(6):
            item = Media(sha256=hashlib.sha256(f"scenario-{k}".encode()).hexdigest(), created_at=now)
            session.add(item)
            media.append(item)
        session.flush()
        for k in range(5):
            when = START + timedelta(days=15 + k)
            match = Match(media_id=media[k].id, bank_entry_id=entry_id, signal_type="pdq", distance=4,
                          source=MatchSource.PROPAGATION if k < 3 else MatchSource.UPLOAD,
                          review=MatchReview.NOT_NEEDED, created_at=when)
            session.add(match)
            session.flush()
            action(ActionKind.REMOVE_MESSAGE, ActionStatus.DONE, when, match_id=match.id)
            scene.copies_removed += 1
            scene.reuploads += k >= 3
        old = Match(media_id=media[5].id, bank_entry_id=entry_id, signal_type="pdq", distance=1,
                    source=MatchSource.UPLOAD, created_at=START - timedelta(days=3))
        session.add(old)  # caught before the quarter: not counted
        # Uploads refused at the upload check: three in the quarter (one caught by two entries: counted once), one
        # the day before it.
        for k, when in enumerate((START + timedelta(days=2), START + timedelta(days=40), START + timedelta(days=80),
                                  START - timedelta(days=1))):
            refusal = UploadRefusal(source="scan", sha256=f"{k:064x}", created_at=when)
            session.add(refusal)
            session.flush()
            session.add(UploadRefusalEntry(refusal_id=refusal.id, entry_id=entry_id))
            if k == 1:
                session.add(UploadRefusalEntry(refusal_id=refusal.id, entry_id=second_entry_id))
            scene.uploads_refused += when >= START
        decisions = []
        for k, automated in enumerate((True, True, False, False, False)):
            decision = Decision(outcome=DecisionOutcome.VIOLATING, policy_ground="illegal_content",
                                policy_category="ncii", automated=automated,
                                decided_at=START + timedelta(days=30 + k), created_at=START + timedelta(days=30 + k))
            session.add(decision)
            decisions.append(decision)
            scene.decisions_automated += automated
            scene.decisions_human += not automated
        session.flush()
        for k in (2, 3):
            action(ActionKind.REMOVE_MESSAGE, ActionStatus.DONE, START + timedelta(days=31 + k),
                   decision_id=decisions[k].id)
            scene.decision_removed += 1
        for k, kind in enumerate((ActionKind.REMOVE_MESSAGE, ActionKind.REMOVE_MESSAGE, ActionKind.SUSPEND_CHAT)):
            action(kind, ActionStatus.FAILED, START + timedelta(days=50 + k))
            scene.failed[kind.value] = scene.failed.get(kind.value, 0) + 1
        action(ActionKind.SUSPEND_ACCOUNT, ActionStatus.DONE, START + timedelta(days=60))
        scene.accounts_suspended += 1
        action(ActionKind.REMOVE_MESSAGE, ActionStatus.DONE, END + timedelta(hours=1))  # after the quarter

        # Victim reports, and appeals against two decisions.
        for k, (status, hours) in enumerate(((ReportStatus.ACTIONED, 5), (ReportStatus.ACTIONED, 30),
                                             (ReportStatus.DECLINED, 2), (ReportStatus.RECEIVED, None))):
            created = START + timedelta(days=20 + k)
            session.add(VictimReport(reference=f"VR-{k}", access_code_hash=f"{k}" * 64, pin_hash="p" * 64,
                                     reporter_relation=ReporterRelation.DEPICTED,
                                     category=ReportCategory.INTIMATE_IMAGE, received_at=created,
                                     message_links=[], status=status, created_at=created,
                                     status_changed_at=created + timedelta(hours=hours) if hours else None))
            scene.reports[status.value] = scene.reports.get(status.value, 0) + 1
            if hours:
                scene.report_seconds.append(hours * 3600)
        for k, (status, hours) in enumerate(((AppealStatus.REVERSED, 20), (AppealStatus.UPHELD, 50),
                                             (AppealStatus.OPEN, None))):
            created = START + timedelta(days=40 + k)
            session.add(Appeal(decision_id=decisions[k].id, statement="not me", status=status, created_at=created,
                               resolved_at=created + timedelta(hours=hours) if hours else None))
            scene.appeals[status.value] = scene.appeals.get(status.value, 0) + 1
            if hours:
                scene.appeal_seconds.append(hours * 3600)
    return scene


@pytest.fixture
def scenario(system: System) -> Scenario:
    return build(system)

"""The figures of a transparency report, read from Firebreak's records for a period.

Each figure is counted by the time of its own event, in ``[start, end)``: orders by when they were received,
removals by when they were carried out, victim reports and appeals by when they came in, decisions by when they
were taken. Durations are from an order's receipt to its acknowledgement and to its first action; the median is
the middle value (the mean of the two middle values for an even count) and the 90th percentile is the nearest-rank
value (the smallest value with at least 90% of the values at or below it). docs/transparency.md lists every figure.
"""

from __future__ import annotations

import math
import statistics
from collections import Counter
from collections.abc import Collection, Iterable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import ColumnElement, func, select
from sqlalchemy.orm import QueryableAttribute, Session

from firebreak.audit.models import AuditEvent
from firebreak.authorities.models import Authority
from firebreak.banks.models import Bank, BankEntry, MatchAction, UploadRefusal, UploadRefusalEntry
from firebreak.enforcement.models import Action, ActionKind, ActionStatus
from firebreak.evidence.models import EvidencePurge, EvidenceRecord, LegalHold
from firebreak.matching.models import Match, MatchReview, MatchSource
from firebreak.orders.models import ItemOutcome, Order, OrderItem, OrderStatus
from firebreak.reports.models import ReportCategory, ReportStatus, VictimReport
from firebreak.review.models import Appeal, AppealStatus, Decision
from firebreak.transparency.models import StatementOfReasons, StatementSubmission

PRESERVE = "preserve"


@dataclass(frozen=True)
class Durations:
    """Seconds from one event to the next, over the items that have both."""

    count: int
    median_seconds: float | None
    p90_seconds: float | None

    @classmethod
    def of(cls, seconds: Iterable[float]) -> Durations:
        values = sorted(seconds)
        if not values:
            return cls(0, None, None)
        return cls(len(values), float(statistics.median(values)), float(values[math.ceil(0.9 * len(values)) - 1]))


def percentile(values: list[float], fraction: float) -> float:
    """Nearest-rank percentile (the definition every figure here uses)."""
    ordered = sorted(values)
    return ordered[max(0, math.ceil(fraction * len(ordered)) - 1)]


@dataclass(frozen=True)
class Row:
    key: str
    count: int
    label: str = ""
    country: str = ""


@dataclass(frozen=True)
class OrderFigures:
    received: int
    preservation_requests: int
    by_authority: list[Row]
    by_country: list[Row]
    by_category: list[Row]
    by_status: list[Row]
    items: int
    items_removed: int
    items_geo_restricted: int
    items_already_removed: int
    items_not_found: int
    items_declined: int
    items_pending: int
    time_to_acknowledge: Durations
    time_to_act: Durations
    met_deadline: int
    missed_deadline: int
    by_category_durations: dict[str, tuple[Durations, Durations]] = field(default_factory=dict)
    by_category_country: dict[str, dict[str, int]] = field(default_factory=dict)


@dataclass(frozen=True)
class OwnInitiativeRow:
    """Restrictions on the provider's own initiative (not named by an order or a notice), by category and kind."""

    category: str
    restriction: str  # remove_message, restrict_account, suspend_account, suspend_chat
    total: int
    automated_detection: int
    automated_decision: int


@dataclass(frozen=True)
class NoticeRow:
    """Notices (victim reports) of one category and what came of them."""

    category: str
    received: int
    actioned_illegal: int  # acted on as illegal content
    actioned_terms: int  # acted on under the terms of service
    automated: int  # decided by automated means
    time_to_outcome: Durations


@dataclass(frozen=True)
class RemovalFigures:
    content_removed: int  # messages removed from the platform
    ordered_items_removed: int  # the items an order named
    copies_removed: int  # copies found by matching, not named by anyone
    removed_on_decision: int  # after a moderator's decision
    reuploads_caught: int  # posted again after banking, and removed at once
    uploads_refused: int  # uploads refused at the upload check, or removed as they were posted, in the period
    accounts_restricted: int
    accounts_suspended: int
    chats_suspended: int
    failed: list[Row]
    failed_total: int
    removed_by_category: list[Row]
    own_initiative: list[OwnInitiativeRow] = field(default_factory=list)


@dataclass(frozen=True)
class VictimReportFigures:
    received: int
    by_status: list[Row]
    by_category: list[Row]
    actioned: int
    declined: int
    time_to_outcome: Durations
    by_category_detail: list[NoticeRow] = field(default_factory=list)


@dataclass(frozen=True)
class DecisionFigures:
    decisions: int
    automated: int
    human: int
    automated_removals: int  # carried out on a match alone, no person involved
    human_removals: int  # on an order a person confirmed, or a moderator's decision
    matches_confirmed: int
    matches_dismissed: int  # a moderator found the match false


@dataclass(frozen=True)
class AppealFigures:
    received: int
    open: int
    upheld: int
    reversed: int
    reversed_automated: int
    time_to_resolve: Durations


@dataclass(frozen=True)
class StatementFigures:
    created: int
    submitted: int
    refused: int
    invalid: int
    not_yet_sent: int


@dataclass(frozen=True)
class EvidenceFigures:
    preserved: int
    purged: int
    holds_placed: int
    packages_exported: int


@dataclass(frozen=True)
class Report:
    """Everything a transparency report says about one period."""

    start: datetime
    end: datetime  # exclusive
    generated_at: datetime
    platform: str
    provider: str
    categories: tuple[str, ...] | None  # None: every category
    orders: OrderFigures
    removals: RemovalFigures
    victim_reports: VictimReportFigures
    decisions: DecisionFigures
    appeals: AppealFigures
    statements: StatementFigures
    evidence: EvidenceFigures

    @property
    def empty(self) -> bool:
        return not (self.orders.received or self.removals.content_removed or self.victim_reports.received
                    or self.decisions.decisions or self.appeals.received or self.removals.failed_total)


def _rows(counter: Counter[str], labels: dict[str, str] | None = None) -> list[Row]:
    return [Row(k, n, (labels or {}).get(k, k)) for k, n in sorted(counter.items(), key=lambda kv: (-kv[1], kv[0]))]


def _in(column: QueryableAttribute[Any], start: datetime, end: datetime) -> list[ColumnElement[bool]]:
    return [column >= start, column < end]


def _orders(session: Session, start: datetime, end: datetime, categories: Collection[str] | None) -> OrderFigures:
    stmt = select(Order).where(*_in(Order.received_at, start, end))
    if categories is not None:
        stmt = stmt.where(Order.category.in_(list(categories)))
    orders = list(session.scalars(stmt.order_by(Order.id)))
    authorities = {a.id: a for a in session.scalars(select(Authority).where(
        Authority.id.in_({o.authority_id for o in orders if o.authority_id})))}
    by_authority: Counter[str] = Counter()
    country_of: dict[str, str] = {}
    by_country: Counter[str] = Counter()
    by_category: Counter[str] = Counter()
    by_status: Counter[str] = Counter()
    category_country: dict[str, Counter[str]] = {}
    ack: list[float] = []
    act: list[float] = []
    per_category: dict[str, tuple[list[float], list[float]]] = {}
    met = missed = 0
    for order in orders:
        authority = authorities.get(order.authority_id or 0)
        name = authority.name if authority else "unverified sender"
        country = authority.country.upper() if authority else "--"
        by_authority[name] += 1
        country_of[name] = country
        by_country[country] += 1
        by_category[order.category] += 1
        by_status[order.status.value] += 1
        category_country.setdefault(order.category, Counter())[country] += 1
        lists = per_category.setdefault(order.category, ([], []))
        if order.acknowledged_at is not None:
            seconds = (order.acknowledged_at - order.received_at).total_seconds()
            ack.append(seconds)
            lists[0].append(seconds)
        if order.actioned_at is not None:
            seconds = (order.actioned_at - order.received_at).total_seconds()
            act.append(seconds)
            lists[1].append(seconds)
        if order.deadline_at is not None and order.status in (OrderStatus.COMPLETED, OrderStatus.PARTIALLY_COMPLETED):
            done = order.closed_at or order.actioned_at
            if done is not None and done <= order.deadline_at:
                met += 1
            else:
                missed += 1
    outcomes: Counter[ItemOutcome] = Counter()
    if orders:
        for outcome, n in session.execute(select(OrderItem.outcome, func.count()).where(
                OrderItem.order_id.in_([o.id for o in orders])).group_by(OrderItem.outcome)):
            outcomes[outcome] = int(n)
    return OrderFigures(
        received=len(orders), preservation_requests=sum(1 for o in orders if o.requested_action == PRESERVE),
        by_authority=[Row(name, n, name, country_of[name]) for name, n in
                      sorted(by_authority.items(), key=lambda kv: (-kv[1], kv[0]))],
        by_country=_rows(by_country), by_category=_rows(by_category), by_status=_rows(by_status),
        items=sum(outcomes.values()), items_removed=outcomes[ItemOutcome.REMOVED],
        items_geo_restricted=outcomes[ItemOutcome.GEO_RESTRICTED],
        items_already_removed=outcomes[ItemOutcome.ALREADY_REMOVED], items_not_found=outcomes[ItemOutcome.NOT_FOUND],
        items_declined=outcomes[ItemOutcome.DECLINED], items_pending=outcomes[ItemOutcome.PENDING],
        time_to_acknowledge=Durations.of(ack), time_to_act=Durations.of(act), met_deadline=met,
        missed_deadline=missed,
        by_category_durations={c: (Durations.of(a), Durations.of(b)) for c, (a, b) in per_category.items()},
        by_category_country={c: dict(n) for c, n in category_country.items()},
    )


@dataclass(frozen=True)
class _ActionGroup:
    """Actions counted together: same kind, cause and category (one row of a grouped query)."""

    kind: ActionKind
    ordered: bool  # tagged with an order item
    on_decision: bool
    matched: bool
    category: str | None
    on_notice: bool  # the decision answered a notice (a victim report)
    decision_automated: bool | None
    count: int


def _action_groups(session: Session, status: ActionStatus, start: datetime, end: datetime) -> list[_ActionGroup]:
    """Actions that reached ``status`` in the period, counted in the database by kind, cause and category: a
    year of a large platform's removals is not loaded row by row."""
    category = Action.params["category"].as_string()
    columns = (Action.kind, Action.order_item_id.is_not(None), Action.decision_id.is_not(None),
               Action.match_id.is_not(None), func.coalesce(category, Decision.policy_category),
               Decision.report_id.is_not(None), Decision.automated)
    rows = session.execute(select(*columns, func.count()).outerjoin(Decision, Decision.id == Action.decision_id)
                           .where(Action.status == status, *_in(Action.completed_at, start, end))
                           .group_by(*columns))
    return [_ActionGroup(ActionKind(kind), bool(ordered), bool(decided), bool(matched), cat or None,
                         bool(notice), automated, int(n))
            for kind, ordered, decided, matched, cat, notice, automated, n in rows]


def _removals(session: Session, start: datetime, end: datetime, categories: Collection[str] | None
              ) -> RemovalFigures:
    def wanted(group: _ActionGroup) -> bool:  # account and chat actions carry no category: always counted
        return categories is None or group.kind != ActionKind.REMOVE_MESSAGE or group.category in categories

    done = [g for g in _action_groups(session, ActionStatus.DONE, start, end) if wanted(g)]
    removed = [g for g in done if g.kind == ActionKind.REMOVE_MESSAGE]
    failed: Counter[str] = Counter()
    for group in _action_groups(session, ActionStatus.FAILED, start, end):
        if wanted(group):
            failed[group.kind.value] += group.count
    caught = select(func.count()).select_from(Match).join(BankEntry, BankEntry.id == Match.bank_entry_id).join(
        Bank, Bank.id == BankEntry.bank_id).where(
        Match.source == MatchSource.UPLOAD, Bank.action.in_([MatchAction.BLOCK, MatchAction.REMOVE]),
        *_in(Match.created_at, start, end))
    # One row per refused upload, however many of an item's entries caught it (banks.models.UploadRefusal).
    refused = select(func.count(func.distinct(UploadRefusal.id))).select_from(UploadRefusal).join(
        UploadRefusalEntry, UploadRefusalEntry.refusal_id == UploadRefusal.id).join(
        BankEntry, BankEntry.id == UploadRefusalEntry.entry_id).join(Bank, Bank.id == BankEntry.bank_id).where(
        *_in(UploadRefusal.created_at, start, end))
    if categories is not None:
        caught = caught.where(Bank.policy_category.in_(list(categories)))
        refused = refused.where(Bank.policy_category.in_(list(categories)))
    by_category: Counter[str] = Counter()
    for group in removed:
        by_category[group.category or "unspecified"] += group.count
    own: dict[tuple[str, str], list[int]] = {}
    for g in done:
        if g.kind in (ActionKind.NOTIFY_USER, ActionKind.RESTORE_MESSAGE, ActionKind.QUARANTINE_MEDIA) \
                or g.ordered or g.on_notice:
            # Not a restriction (a file's quarantine is not a measure of its own: each message it hides is removed,
            # and counted, by its own action), or asked for by an order or a notice.
            continue
        counts = own.setdefault((g.category or "unspecified", g.kind.value), [0, 0, 0])
        counts[0] += g.count
        counts[1] += g.count if g.matched or g.kind != ActionKind.REMOVE_MESSAGE else 0  # matching, or strikes
        counts[2] += g.count if not g.on_decision or g.decision_automated else 0

    def total(kind: ActionKind) -> int:
        return sum(g.count for g in done if g.kind == kind)

    return RemovalFigures(
        content_removed=sum(g.count for g in removed),
        ordered_items_removed=sum(g.count for g in removed if g.ordered),
        copies_removed=sum(g.count for g in removed if not g.ordered and not g.on_decision and g.matched),
        removed_on_decision=sum(g.count for g in removed if not g.ordered and g.on_decision),
        reuploads_caught=int(session.scalar(caught) or 0),
        uploads_refused=int(session.scalar(refused) or 0),
        accounts_restricted=total(ActionKind.RESTRICT_ACCOUNT), accounts_suspended=total(ActionKind.SUSPEND_ACCOUNT),
        chats_suspended=total(ActionKind.SUSPEND_CHAT),
        failed=_rows(failed), failed_total=sum(failed.values()), removed_by_category=_rows(by_category),
        own_initiative=[OwnInitiativeRow(c, k, *n) for (c, k), n in sorted(own.items())],
    )


FINAL_REPORT_STATUSES = (ReportStatus.ACTIONED, ReportStatus.DECLINED)


def _victim_reports(session: Session, start: datetime, end: datetime, categories: Collection[str] | None
                    ) -> VictimReportFigures:
    stmt = select(VictimReport).where(*_in(VictimReport.created_at, start, end))
    if categories is not None:  # taxonomy categories: a report's own category maps onto one
        stmt = stmt.where(VictimReport.category.in_([c for c in ReportCategory if c.taxonomy in categories]))
    reports = list(session.scalars(stmt))
    grounds: dict[int, list[Decision]] = {}
    for decision in session.scalars(select(Decision).where(Decision.report_id.in_([r.id for r in reports]))):
        grounds.setdefault(decision.report_id or 0, []).append(decision)
    detail = []
    for category in sorted({r.category.taxonomy for r in reports}):
        mine = [r for r in reports if r.category.taxonomy == category]
        acted = [r for r in mine if r.status == ReportStatus.ACTIONED]
        detail.append(NoticeRow(
            category=category, received=len(mine),
            actioned_illegal=sum(1 for r in acted if any(dec.policy_ground == "illegal_content"
                                                         for dec in grounds.get(r.id, []))),
            actioned_terms=sum(1 for r in acted if grounds.get(r.id) and not any(
                dec.policy_ground == "illegal_content" for dec in grounds.get(r.id, []))),
            automated=sum(1 for r in acted if any(dec.automated for dec in grounds.get(r.id, []))),
            time_to_outcome=Durations.of((r.status_changed_at - r.created_at).total_seconds() for r in mine
                                         if r.status in FINAL_REPORT_STATUSES and r.status_changed_at is not None)))
    return VictimReportFigures(
        received=len(reports), by_status=_rows(Counter(r.status.value for r in reports)),
        by_category=_rows(Counter(r.category.taxonomy for r in reports)),
        actioned=sum(1 for r in reports if r.status == ReportStatus.ACTIONED),
        declined=sum(1 for r in reports if r.status == ReportStatus.DECLINED),
        time_to_outcome=Durations.of((r.status_changed_at - r.created_at).total_seconds() for r in reports
                                     if r.status in FINAL_REPORT_STATUSES and r.status_changed_at is not None),
        by_category_detail=detail,
    )


def _decisions(session: Session, start: datetime, end: datetime, categories: Collection[str] | None,
               removals: RemovalFigures) -> DecisionFigures:
    stmt = select(Decision.automated, func.count()).where(*_in(Decision.decided_at, start, end))
    if categories is not None:
        stmt = stmt.where(Decision.policy_category.in_(list(categories)))
    counts = {bool(automated): int(n) for automated, n in session.execute(stmt.group_by(Decision.automated))}
    reviews = select(Match.review, func.count()).where(*_in(Match.created_at, start, end)).group_by(Match.review)
    reviewed = {review: int(n) for review, n in session.execute(reviews)}
    return DecisionFigures(
        decisions=sum(counts.values()), automated=counts.get(True, 0), human=counts.get(False, 0),
        automated_removals=removals.copies_removed,
        human_removals=removals.ordered_items_removed + removals.removed_on_decision,
        matches_confirmed=reviewed.get(MatchReview.CONFIRMED, 0),
        matches_dismissed=reviewed.get(MatchReview.DISMISSED, 0),
    )


def _appeals(session: Session, start: datetime, end: datetime, categories: Collection[str] | None) -> AppealFigures:
    stmt = select(Appeal, Decision.automated).join(Decision, Decision.id == Appeal.decision_id).where(
        *_in(Appeal.created_at, start, end))
    if categories is not None:
        stmt = stmt.where(Decision.policy_category.in_(list(categories)))
    rows = list(session.execute(stmt))
    return AppealFigures(
        received=len(rows), open=sum(1 for a, _ in rows if a.status == AppealStatus.OPEN),
        upheld=sum(1 for a, _ in rows if a.status == AppealStatus.UPHELD),
        reversed=sum(1 for a, _ in rows if a.status == AppealStatus.REVERSED),
        reversed_automated=sum(1 for a, automated in rows if a.status == AppealStatus.REVERSED and automated),
        time_to_resolve=Durations.of((a.resolved_at - a.created_at).total_seconds() for a, _ in rows
                                     if a.resolved_at is not None),
    )


def _statements(session: Session, start: datetime, end: datetime) -> StatementFigures:
    rows = list(session.execute(select(StatementOfReasons.id, StatementSubmission.outcome).outerjoin(
        StatementSubmission, StatementSubmission.puid == StatementOfReasons.puid).where(
        *_in(StatementOfReasons.created_at, start, end))))
    outcomes = Counter(outcome for _, outcome in rows)
    return StatementFigures(created=len(rows), submitted=outcomes["accepted"] + outcomes["already_accepted"],
                            refused=outcomes["refused"], invalid=outcomes["invalid"], not_yet_sent=outcomes[None])


def _evidence(session: Session, start: datetime, end: datetime) -> EvidenceFigures:
    def count(stmt: object) -> int:
        return int(session.scalar(stmt) or 0)  # type: ignore[call-overload]

    return EvidenceFigures(
        preserved=count(select(func.count()).select_from(EvidenceRecord).where(
            *_in(EvidenceRecord.preserved_at, start, end))),
        purged=count(select(func.count()).select_from(EvidencePurge).where(*_in(EvidencePurge.purged_at, start, end))),
        holds_placed=count(select(func.count()).select_from(LegalHold).where(*_in(LegalHold.placed_at, start, end))),
        packages_exported=count(select(func.count()).select_from(AuditEvent).where(
            AuditEvent.action == "evidence.package_exported", *_in(AuditEvent.occurred_at, start, end))),
    )


def build_report(*, session: Session, start: datetime, end: datetime, generated_at: datetime, platform: str,
                 provider: str, categories: Collection[str] | None = None) -> Report:
    """The figures for ``[start, end)``; with ``categories``, only what concerns those (taxonomy names)."""
    if end <= start:
        raise ValueError("the period ends before it starts")
    removals = _removals(session, start, end, categories)
    return Report(
        start=start, end=end, generated_at=generated_at, platform=platform, provider=provider,
        categories=tuple(sorted(categories)) if categories is not None else None,
        orders=_orders(session, start, end, categories), removals=removals,
        victim_reports=_victim_reports(session, start, end, categories),
        decisions=_decisions(session, start, end, categories, removals),
        appeals=_appeals(session, start, end, categories), statements=_statements(session, start, end),
        evidence=_evidence(session, start, end),
    )

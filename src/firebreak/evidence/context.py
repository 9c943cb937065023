"""What is kept with preserved media: where it was posted, by whom, in which chat, how it travelled, what matched
it, what was decided and what the user was told. Read from the other domains' tables at preservation time."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any, TypeVar, cast

from sqlalchemy import func, or_, select
from sqlalchemy.orm import Session

from firebreak.banks.models import Bank, BankEntry
from firebreak.evidence.models import EvidenceRecord
from firebreak.matching.models import Match
from firebreak.media.models import Media, MediaSignal, Placement
from firebreak.platform.models import Chat, PlatformAccount, PlatformIntegration
from firebreak.review.models import Appeal, Decision
from firebreak.transparency.models import StatementOfReasons

CONTEXT_FORMAT = "firebreak-evidence-context/1"
FORWARD_LIMIT = 200  # placements followed along a forward chain, each way
LISTED_LIMIT = 1000  # placements listed for an account or a chat
T = TypeVar("T")
OTHER_COPIES_LIMIT = 50  # other placements of the same file listed with a removed one (each has its own record)


class Rows:
    """Rows by id, read once per preservation batch. The session's identity map holds rows only while something else
    refers to them, so without this each listed placement would read its sender and platform again."""

    def __init__(self, session: Session) -> None:
        self.session = session
        self._seen: dict[tuple[type[Any], int], Any] = {}

    def get(self, model: type[T], ident: int | None) -> T | None:
        if ident is None:
            return None
        key = (model, ident)
        if key not in self._seen:
            self._seen[key] = self.session.get(model, ident)
        return cast(T | None, self._seen[key])


def _when(value: datetime | None) -> str | None:
    return value.astimezone(UTC).isoformat() if value is not None else None


def _value(value: Any) -> Any:
    return getattr(value, "value", value)


def describe_media(media: Media) -> dict[str, Any]:
    return {"id": media.id, "sha256": media.sha256, "md5": media.md5, "kind": _value(media.kind),
            "mime_type": media.mime_type, "size_bytes": media.size_bytes, "width": media.width,
            "height": media.height, "duration_seconds": media.duration_seconds, "pdq": media.pdq,
            "pdq_quality": media.pdq_quality, "first_seen_at": _when(media.created_at),
            "quarantined_at": _when(media.quarantined_at)}


def _signals(session: Session, media_id: int) -> list[dict[str, Any]]:
    rows = session.scalars(select(MediaSignal).where(MediaSignal.media_id == media_id).order_by(MediaSignal.id))
    return [{"signal_type": s.signal_type, "value": s.value, "quality": s.quality, "frame_number": s.frame_number,
             "timestamp_seconds": s.timestamp_seconds} for s in rows]


def _account(rows: Rows, account_id: int | None) -> dict[str, Any] | None:
    account = rows.get(PlatformAccount, account_id)
    if account is None:
        return None
    return {"id": account.id, "external_id": account.external_id, "display_name": account.display_name,
            "status": _value(account.status), "strikes": account.strikes,
            "status_changed_at": _when(account.status_changed_at), "first_seen_at": _when(account.created_at)}


def _chat(rows: Rows, chat_id: int | None) -> dict[str, Any] | None:
    chat = rows.get(Chat, chat_id)
    if chat is None:
        return None
    return {"id": chat.id, "external_id": chat.external_id, "title": chat.title, "kind": _value(chat.kind),
            "is_public": chat.is_public, "member_count": chat.member_count, "status": _value(chat.status),
            "strikes": chat.strikes, "status_changed_at": _when(chat.status_changed_at)}


def _placement(rows: Rows, placement: Placement) -> dict[str, Any]:
    integration = rows.get(PlatformIntegration, placement.integration_id)
    sender = rows.get(PlatformAccount, placement.sender_id)
    row: dict[str, Any] = {
        "id": placement.id, "platform": integration.name if integration else None,
        "chat": placement.chat_external_id, "message": placement.message_external_id,
        "media_ref": placement.media_external_id, "media_id": placement.media_id,
        "sender": sender.external_id if sender else None, "posted_at": _when(placement.posted_at),
        "status": _value(placement.status), "status_changed_at": _when(placement.status_changed_at),
        "forwarded_from": ({"chat": placement.forwarded_from_chat, "message": placement.forwarded_from_message,
                            "placement_id": placement.forwarded_from_placement_id}
                           if placement.forwarded_from_chat or placement.forwarded_from_placement_id else None),
        "recorded_at": _when(placement.created_at),
    }
    return row


def forward_chain(rows: Rows, placement: Placement) -> dict[str, list[dict[str, Any]]]:
    """Where this copy came from (hop by hop, nearest first) and where it was forwarded on (breadth first)."""
    upstream: list[dict[str, Any]] = []
    seen = {placement.id}
    current = placement
    while current.forwarded_from_placement_id and len(upstream) < FORWARD_LIMIT:
        parent = rows.get(Placement, current.forwarded_from_placement_id)
        if parent is None or parent.id in seen:
            break
        seen.add(parent.id)
        upstream.append(_placement(rows, parent))
        current = parent
    downstream: list[dict[str, Any]] = []
    frontier = [placement.id]
    while frontier and len(downstream) < FORWARD_LIMIT:
        children = list(rows.session.scalars(
            select(Placement).where(Placement.forwarded_from_placement_id.in_(frontier))
            .order_by(Placement.id).limit(FORWARD_LIMIT)))
        frontier = []
        for child in children:
            if child.id in seen or len(downstream) >= FORWARD_LIMIT:
                continue
            seen.add(child.id)
            downstream.append(_placement(rows, child))
            frontier.append(child.id)
    return {"from": upstream, "onward": downstream}


def _matches(session: Session, media_id: int) -> list[dict[str, Any]]:
    out = []
    for match in session.scalars(select(Match).where(Match.media_id == media_id).order_by(Match.id)):
        entry = session.get(BankEntry, match.bank_entry_id)
        bank = session.get(Bank, entry.bank_id) if entry else None
        out.append({"id": match.id, "signal_type": match.signal_type, "distance": match.distance,
                    "source": _value(match.source), "review": _value(match.review), "found_at": _when(match.created_at),
                    "bank": bank.name if bank else None, "bank_action": _value(bank.action) if bank else None,
                    "policy_category": bank.policy_category if bank else None,
                    "entry": {"id": entry.id, "signal_type": entry.signal_type, "value": entry.value,
                              "provenance": _value(entry.provenance), "source_ref": entry.source_ref,
                              "status": _value(entry.status)} if entry else None})
    return out


def _decisions(session: Session, *, media_id: int | None, placement_id: int | None,
               decision_id: int | None) -> list[dict[str, Any]]:
    conditions = [Decision.id == decision_id] if decision_id else []
    if media_id:
        conditions.append(Decision.media_id == media_id)
    if placement_id:
        conditions.append(Decision.placement_id == placement_id)
    if not conditions:
        return []
    out = []
    for decision in session.scalars(select(Decision).where(or_(*conditions)).order_by(Decision.id)):
        appeals = session.scalars(select(Appeal).where(Appeal.decision_id == decision.id).order_by(Appeal.id))
        out.append({"id": decision.id, "outcome": _value(decision.outcome), "policy_ground": decision.policy_ground,
                    "policy_category": decision.policy_category, "legal_reference": decision.legal_reference,
                    "explanation": decision.explanation, "automated": decision.automated,
                    "decided_by_staff_id": decision.decided_by_id, "decided_at": _when(decision.decided_at),
                    "order_item_id": decision.order_item_id, "report_id": decision.report_id,
                    "case_id": decision.case_id,
                    "appeals": [{"id": a.id, "status": _value(a.status), "lodged_at": _when(a.created_at),
                                 "resolved_at": _when(a.resolved_at), "resolution_note": a.resolution_note}
                                for a in appeals]})
    return out


def _statements(session: Session, *, placement_id: int | None, decision_ids: list[int],
                order_item_id: int | None) -> list[dict[str, Any]]:
    conditions = []
    if placement_id:
        conditions.append(StatementOfReasons.placement_id == placement_id)
    if decision_ids:
        conditions.append(StatementOfReasons.decision_id.in_(decision_ids))
    if order_item_id:
        conditions.append(StatementOfReasons.order_item_id == order_item_id)
    if not conditions:
        return []
    rows = session.scalars(select(StatementOfReasons).where(or_(*conditions)).order_by(StatementOfReasons.id))
    return [{"puid": s.puid, "payload": s.payload, "sent_to_user_at": _when(s.sent_to_user_at),
             "submitted_at": _when(s.submitted_at)} for s in rows]


def _listed_placements(rows: Rows, *where: Any, limit: int = LISTED_LIMIT) -> dict[str, Any]:
    total = rows.session.scalar(select(func.count()).select_from(Placement).where(*where)) or 0
    found = list(rows.session.scalars(select(Placement).where(*where).order_by(Placement.id).limit(limit)))
    sha = {media_id: digest for media_id, digest in rows.session.execute(
        select(Media.id, Media.sha256).where(Media.id.in_({p.media_id for p in found})))}
    return {"total": total, "listed": [_placement(rows, p) | {"media_sha256": sha.get(p.media_id)} for p in found]}


def gather(rows: Rows, record: EvidenceRecord, *, preserved_at: datetime) -> tuple[dict[str, Any], Media | None]:
    """The context of a record, and the media whose bytes go with it (None for an account or a chat)."""
    session = rows.session
    context: dict[str, Any] = {
        "format": CONTEXT_FORMAT, "record": record.uid, "trigger": _value(record.trigger),
        "category": record.category, "preserved_at": _when(preserved_at), "requested_at": _when(record.created_at),
        "note": record.note, "order_id": record.order_id, "order_item_id": record.order_item_id,
        "case_id": record.case_id,
    }
    if record.action_id:
        context["action"] = {"id": record.action_id, "kind": "remove_message", "done_at": _when(record.created_at),
                             "match_id": record.match_id, "decision_id": record.decision_id,
                             "order_item_id": record.order_item_id}
    placement = rows.get(Placement, record.placement_id)
    media = rows.get(Media, placement.media_id if placement else record.media_id)
    if placement is not None:
        context["placement"] = _placement(rows, placement)
        context["sender"] = _account(rows, placement.sender_id)
        context["chat"] = _chat(rows, placement.chat_id)
        context["forward_chain"] = forward_chain(rows, placement)
        context["other_placements_of_this_media"] = _listed_placements(
            rows, Placement.media_id == placement.media_id, Placement.id != placement.id, limit=OTHER_COPIES_LIMIT)
    if media is not None:
        context["media"] = describe_media(media) | {"bytes_preserved": bool(media.blob_key)}
        context["signals"] = _signals(session, media.id)
        context["matches"] = _matches(session, media.id)
    if record.account_id and placement is None:
        context["account"] = _account(rows, record.account_id)
        context["account_placements"] = _listed_placements(rows, Placement.sender_id == record.account_id)
    if record.chat_id and placement is None:
        context["chat"] = _chat(rows, record.chat_id)
        context["chat_placements"] = _listed_placements(rows, Placement.chat_id == record.chat_id)
    decisions = _decisions(session, media_id=media.id if media else None,
                           placement_id=placement.id if placement else None, decision_id=record.decision_id)
    context["decisions"] = decisions
    context["statements"] = _statements(session, placement_id=placement.id if placement else None,
                                        decision_ids=[d["id"] for d in decisions],
                                        order_item_id=record.order_item_id)
    if record.case_id is None:
        cases = [d["case_id"] for d in decisions if d["case_id"]]
        if cases:
            record.case_id = cases[0]
            context["case_id"] = cases[0]
    return context, media

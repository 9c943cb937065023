"""Enforcement routes: the spread of an item, actions, propagation progress."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Query
from pydantic import BaseModel, ConfigDict
from sqlalchemy import select

from firebreak.api.deps import Principal, require_staff
from firebreak.auth.models import Role
from firebreak.banks.models import BankEntry
from firebreak.core.config import Settings
from firebreak.core.http.deps import Provide, SessionDep
from firebreak.core.http.problems import Problem
from firebreak.enforcement.models import Action, ActionKind, ActionStatus, Propagation, PropagationStatus
from firebreak.enforcement.spread import Spread, spread_of
from firebreak.matching.models import Match
from firebreak.matching.service import IndexSet
from firebreak.media.models import Media

router = APIRouter(prefix="/v1", tags=["enforcement"])
Staff = Annotated[Principal, require_staff(Role.ADMIN, Role.MODERATOR, Role.LIAISON, Role.AUDITOR)]


@router.get("/media/{media_id}/spread", response_model=Spread, summary="Where an item went: first poster, chats, "
            "forward chains, counts over time")
def media_spread(media_id: int, session: SessionDep, indexes: Annotated[IndexSet, Provide(IndexSet)],
                 settings: Annotated[Settings, Provide(Settings)], _: Staff,
                 copies: Annotated[bool, Query(description="include near-duplicate copies (PDQ)")] = True) -> Spread:
    media = session.get(Media, media_id)
    if media is None:
        raise Problem(404, "Not found", f"no media {media_id}")
    ids = {media_id}
    if copies and media.pdq and (media.pdq_quality or 0) >= settings.pdq_min_quality:
        indexes.sync(session)
        ids.update(indexes.search_media([media.pdq, *([media.pdq_upscaled] if media.pdq_upscaled else [])],
                                        settings.pdq_distance))
    return spread_of(session=session, media_ids=sorted(ids))


@router.get("/bank-entries/{entry_id}/spread", response_model=Spread, summary="Spread of every copy an entry matched")
def entry_spread(entry_id: int, session: SessionDep, _: Staff) -> Spread:
    if session.get(BankEntry, entry_id) is None:
        raise Problem(404, "Not found", f"no bank entry {entry_id}")
    ids = sorted(session.scalars(select(Match.media_id).where(Match.bank_entry_id == entry_id)))
    return spread_of(session=session, media_ids=ids)


class PropagationOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    bank_entry_id: int
    status: PropagationStatus
    media_found: int
    media_done: int
    placements_actioned: int
    started_at: datetime | None
    finished_at: datetime | None


@router.get("/bank-entries/{entry_id}/propagation", response_model=PropagationOut)
def propagation(entry_id: int, session: SessionDep, _: Staff) -> Propagation:
    prop = session.scalar(select(Propagation).where(Propagation.bank_entry_id == entry_id))
    if prop is None:
        raise Problem(404, "Not found", f"no propagation for bank entry {entry_id} (yet)")
    return prop


class ActionOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    kind: ActionKind
    status: ActionStatus
    placement_id: int | None
    attempts: int
    last_error: str | None
    created_at: datetime
    completed_at: datetime | None


@router.get("/actions", response_model=list[ActionOut])
def list_actions(session: SessionDep, _: Staff, status: ActionStatus | None = None, after_id: int = 0,
                 limit: Annotated[int, Query(ge=1, le=1000)] = 100) -> list[Action]:
    stmt = select(Action).where(Action.id > after_id)
    if status is not None:
        stmt = stmt.where(Action.status == status)
    return list(session.scalars(stmt.order_by(Action.id).limit(limit)))

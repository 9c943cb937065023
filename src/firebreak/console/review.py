"""The review queue and its items: claim, reveal, decide (with a second moderator where required).

Every refusal is shown on the item page with what to do (409 for a claim held by someone else, a stale page or an
item already decided; 403 for a decision this person may not take; 422 for a form that does not make sense), and
nothing is applied twice. Previews are blurred and greyscale on the server; the clear picture is served only to a
moderator who chose to reveal it, and every reveal is counted (per moderator and day, with a soft limit).
"""

from __future__ import annotations

import io
from typing import Annotated, Any
from urllib.parse import urlencode

from fastapi import Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from PIL import Image, ImageFilter, ImageOps, UnidentifiedImageError
from sqlalchemy import select
from sqlalchemy.orm import Session

from firebreak.auth.models import Role, StaffUser
from firebreak.console.pages import page
from firebreak.core.http.deps import Provide, SessionDep
from firebreak.review import service
from firebreak.review.flows import ReviewDesk
from firebreak.review.models import DecisionStatus, ItemStatus, ReviewItem
from firebreak.review.registry import DecisionRefused, UnknownKind
from firebreak.web.deps import Viewer, WebForbidden, WebNotFound, current_staff, web_router

router = web_router(tags=["console: review"])
Desk = Annotated[ReviewDesk, Provide(ReviewDesk)]
Reviewer = Annotated[Viewer, current_staff(Role.ADMIN, Role.MODERATOR, Role.LIAISON)]
PREVIEW_SIDE = 480
MEDIA_HEADERS = {"Cache-Control": "no-store", "X-Content-Type-Options": "nosniff",
                 "Content-Security-Policy": "default-src 'none'; sandbox", "Referrer-Policy": "no-referrer"}
FLASH = {"claimed": "You hold this item now: nobody else can decide it while your claim lasts.",
         "released": "You released this item: it is back in the queue.",
         "proposed": "Your decision is proposed: a second moderator must approve it before anything happens.",
         "refused": "The proposed decision was refused: the item is back in the queue."}
_WHEN = "%Y-%m-%d %H:%M UTC"


def _names(session: Session, ids: set[int | None]) -> dict[int, str]:
    wanted = {i for i in ids if i}
    if not wanted:
        return {}
    return {u.id: u.display_name for u in session.scalars(select(StaffUser).where(StaffUser.id.in_(wanted)))}


def _visible(desk: ReviewDesk, viewer: Viewer) -> tuple[str, ...]:
    """The kinds of item this person's role decides: the queue shows them only those."""
    return tuple(k.name for k in desk.kinds.all() if viewer.role in k.deciders)


def _item(session: Session, item_id: int, desk: ReviewDesk, viewer: Viewer) -> ReviewItem:
    item = service.get_item(session=session, item_id=item_id)
    if item is None:
        raise WebNotFound("There is no such item in the review queue.")
    if item.kind not in _visible(desk, viewer):
        try:
            who = ", ".join(r.value for r in desk.kinds.get(item.kind).deciders)
        except UnknownKind:
            who = "nobody (this kind is not installed)"
        raise WebForbidden(f"Items of this kind are for: {who}.")
    return item


def _int(value: Any) -> int | None:
    text = str(value or "").strip()
    return int(text) if text.isdigit() and len(text) < 12 else None


SOURCES = {"bank": "a bank's match", "authority": "an authority", "enforcement": "enforcement", "appeal": "a user",
           "victim": "a person depicted", "platform": "the platform"}


def approx(seconds: int) -> int:
    """A time left as people read it: to the minute, and to the hour beyond two days (for the duration filter)."""
    step = 3600 if abs(seconds) >= 2 * 86400 else 60
    return max(step, round(abs(seconds) / step) * step) * (1 if seconds >= 0 else -1)


def _label(desk: ReviewDesk, kind: str) -> str:
    try:
        return desk.kinds.get(kind).label
    except UnknownKind:
        return kind


@router.get("/console/review", response_class=HTMLResponse)
def queue(request: Request, session: SessionDep, desk: Desk, viewer: Reviewer, kind: str = "", source: str = "",
          category: str = "", jurisdiction: str = "", status: str = "open") -> HTMLResponse:
    status = status if status in ("open", "mine", "decided") else "open"
    visible = _visible(desk, viewer)
    flt = service.QueueFilter(kind=kind or None, source=source or None, category=category or None,
                              jurisdiction=jurisdiction.upper() or None, status=status, kinds=visible)
    now = desk.deps.clock.now()
    items = service.queue(session=session, staff_id=viewer.account_id, flt=flt, now=now)
    names = _names(session, {i.claimed_by_id for i in items})
    rows = []
    for item in items:
        holder = service.claim_holder(item, now)
        rows.append({"item": item, "label": _label(desk, item.kind), "holder": names.get(holder or 0),
                     "mine": holder == viewer.account_id,
                     "time_left": approx(int((item.deadline_at - now).total_seconds())) if item.deadline_at
                     else None})
    facets = service.facets(session=session, kinds=visible)
    return page(request, "review_queue.html", current="/console/review", context={
        "rows": rows, "facets": facets, "labels": {k: _label(desk, k) for k in facets["kind"]},
        "filters": {"kind": kind, "source": source, "category": category, "jurisdiction": jurisdiction.upper(),
                    "status": status},
        "reveals": desk.reveals_today(session, viewer.account_id), "soft_limit": desk.deps.reveal_soft_limit})


def _page(request: Request, session: Session, desk: ReviewDesk, viewer: Viewer, item: ReviewItem, *,
          error: str | None = None, status_code: int = 200) -> HTMLResponse:
    now = desk.deps.clock.now()
    kind = desk.kinds.get(item.kind)
    problem = None
    try:
        view = desk.view(session, item)
        choices = kind.choices(session, item) if item.status in (ItemStatus.OPEN, ItemStatus.AWAITING_SECOND) else []
    except DecisionRefused as exc:
        view, choices, problem = None, [], str(exc)
    holder = service.claim_holder(item, now)
    decisions = service.decisions_of(session=session, item=item)
    earlier = service.earlier_decisions(session=session, item=item)
    names = _names(session, {holder, item.excluded_staff_id, *(d.decided_by_id for d in decisions),
                             *(d.second_by_id for d in decisions), *(d.decided_by_id for _, d in earlier)})
    proposal = next((d for d in decisions if d.status == DecisionStatus.PROPOSED), None)
    may_decide = viewer.role in kind.deciders and viewer.account_id not in service.excluded_staff(item)
    revealed = desk.revealed(session, item, viewer.account_id)
    reveals = desk.reveals_today(session, viewer.account_id)
    next_item = next((i for i in service.queue(session=session, staff_id=viewer.account_id,
                                               flt=service.QueueFilter(limit=20, kinds=_visible(desk, viewer)),
                                               now=now)
                      if i.id != item.id and service.claim_holder(i, now) in (None, viewer.account_id)
                      and i.status == ItemStatus.OPEN), None)
    flash = FLASH.get(request.query_params.get("done", ""))
    if request.query_params.get("done") == "decided" and decisions:
        final = [d for d in decisions if d.status == DecisionStatus.FINAL]
        flash = f"Decided: {final[-1].result}" if final else None
    return page(request, "review_item.html", current="/console/review", context={
        "item": item, "kind": kind, "view": view, "problem": problem, "choices": choices, "error": error,
        "flash": flash, "holder": holder, "holder_name": names.get(holder or 0), "mine": holder == viewer.account_id,
        "may_decide": may_decide, "excluded_name": names.get(item.excluded_staff_id or 0),
        "excluded_viewer": viewer.account_id in service.excluded_staff(item),
        "decisions": decisions, "earlier": earlier, "names": names, "proposal": proposal,
        "grounds": desk.policy.choices(), "revealed": revealed, "reveals": reveals,
        "soft_limit": desk.deps.reveal_soft_limit, "next_item": next_item,
        "time_left": approx(int((item.deadline_at - now).total_seconds())) if item.deadline_at else None,
        "claim_left": approx(int((item.claim_expires_at - now).total_seconds()))
        if holder and item.claim_expires_at else 0, "source": SOURCES.get(item.source, item.source),
    }, status_code=status_code)


@router.get("/console/review/items/{item_id}", response_class=HTMLResponse)
def item_page(item_id: int, request: Request, session: SessionDep, desk: Desk, viewer: Reviewer) -> HTMLResponse:
    return _page(request, session, desk, viewer, _item(session, item_id, desk, viewer))


def _back(item: ReviewItem, done: str) -> RedirectResponse:
    return RedirectResponse(f"/console/review/items/{item.id}?{urlencode({'done': done})}", status_code=303)


@router.post("/console/review/items/{item_id}/claim")
async def claim(item_id: int, request: Request, session: SessionDep, desk: Desk, viewer: Reviewer) -> Response:
    item = _item(session, item_id, desk, viewer)
    form = await request.form()
    try:
        desk.claim(session, item, staff_id=viewer.account_id, role=viewer.role, version=_int(form.get("version")))
    except service.ReviewError as exc:
        return _page(request, session, desk, viewer, item, error=str(exc), status_code=exc.status)
    return _back(item, "claimed")


@router.post("/console/review/items/{item_id}/release")
async def release(item_id: int, request: Request, session: SessionDep, desk: Desk, viewer: Reviewer) -> Response:
    item = _item(session, item_id, desk, viewer)
    try:
        desk.release(session, item, staff_id=viewer.account_id)
    except service.ReviewError as exc:
        return _page(request, session, desk, viewer, item, error=str(exc), status_code=exc.status)
    return _back(item, "released")


@router.post("/console/review/items/{item_id}/reveal")
async def reveal(item_id: int, request: Request, session: SessionDep, desk: Desk, viewer: Reviewer) -> Response:
    item = _item(session, item_id, desk, viewer)
    media_id = _int((await request.form()).get("media_id"))
    try:
        if media_id is None:
            raise service.Invalid("Say which picture to reveal.")
        desk.reveal(session, item, staff_id=viewer.account_id, media_id=media_id)
    except service.ReviewError as exc:
        return _page(request, session, desk, viewer, item, error=str(exc), status_code=exc.status)
    return RedirectResponse(f"/console/review/items/{item.id}#media-{media_id}", status_code=303)


@router.post("/console/review/items/{item_id}/decide")
async def decide(item_id: int, request: Request, session: SessionDep, desk: Desk, viewer: Reviewer) -> Response:
    item = _item(session, item_id, desk, viewer)
    form = await request.form()
    values = {k: str(v) for k, v in form.items() if isinstance(v, str)}
    inputs = {k.removeprefix("field_"): v for k, v in values.items() if k.startswith("field_")}
    try:
        if not values.get("choice"):
            raise service.Invalid("Choose a decision (or press its number key).")
        decision = desk.decide(session, item, staff_id=viewer.account_id, role=viewer.role,
                               request=service.DecisionRequest(choice=values["choice"], ground=values.get("ground"),
                                                               note=values.get("note", ""), inputs=inputs,
                                                               version=_int(values.get("version"))))
    except service.ReviewError as exc:
        return _page(request, session, desk, viewer, item, error=str(exc), status_code=exc.status)
    return _back(item, "proposed" if decision.status == DecisionStatus.PROPOSED else "decided")


@router.post("/console/review/items/{item_id}/second")
async def second(item_id: int, request: Request, session: SessionDep, desk: Desk, viewer: Reviewer) -> Response:
    item = _item(session, item_id, desk, viewer)
    form = await request.form()
    answer = str(form.get("answer") or "")
    try:
        if answer not in ("approve", "refuse"):
            raise service.Invalid("Approve or refuse the proposed decision.")
        desk.second(session, item, staff_id=viewer.account_id, role=viewer.role, approve=answer == "approve",
                    version=_int(form.get("version")), note=str(form.get("note") or ""))
    except service.ReviewError as exc:
        return _page(request, session, desk, viewer, item, error=str(exc), status_code=exc.status)
    return _back(item, "decided" if answer == "approve" else "refused")


def _placeholder() -> bytes:
    """A plain grey picture where there is nothing to show blurred (a video, a file Firebreak did not keep)."""
    image = Image.new("L", (PREVIEW_SIDE, PREVIEW_SIDE * 3 // 4), 96)
    buf = io.BytesIO()
    image.save(buf, "PNG")
    return buf.getvalue()


def _image(data: bytes, *, blurred: bool, colour: bool = False) -> bytes | None:
    try:
        with Image.open(io.BytesIO(data)) as source:
            source.draft("RGB" if colour else "L", (PREVIEW_SIDE * 2, PREVIEW_SIDE * 2))
            image = ImageOps.exif_transpose(source).convert("RGB" if colour else "L")
    except (UnidentifiedImageError, OSError, ValueError, Image.DecompressionBombError):
        return None
    image.thumbnail((PREVIEW_SIDE, PREVIEW_SIDE))
    if blurred:
        image = image.filter(ImageFilter.GaussianBlur(radius=max(8, max(image.size) // 20)))
    buf = io.BytesIO()
    image.save(buf, "JPEG", quality=80)
    return buf.getvalue()


@router.get("/console/review/items/{item_id}/media/{media_id}")
def media(item_id: int, media_id: int, session: SessionDep, desk: Desk, viewer: Reviewer,
          view: str = "blurred") -> Response:
    """A preview: blurred and greyscale for everyone who may review; clear (greyscale, or in colour when asked) only
    for a moderator who revealed it in the last half hour."""
    item = _item(session, item_id, desk, viewer)
    if media_id not in desk.preview_ids(session, item):
        return Response("Not part of this item.", status_code=404, media_type="text/plain", headers=MEDIA_HEADERS)
    clear = view in ("clear", "colour")
    if clear and media_id not in desk.revealed(session, item, viewer.account_id):
        return Response("Reveal the picture first (the reveal is counted).", status_code=403,
                        media_type="text/plain", headers=MEDIA_HEADERS)
    found = desk.media_bytes(session, media_id)
    if found is None:
        return Response(_placeholder(), media_type="image/png", headers=MEDIA_HEADERS)
    data, row = found
    if row.kind.value == "video":
        if clear:
            return Response(data, media_type=row.mime_type or "video/mp4", headers=MEDIA_HEADERS)
        return Response(_placeholder(), media_type="image/png", headers=MEDIA_HEADERS)
    rendered = _image(data, blurred=not clear, colour=view == "colour")
    if rendered is None:
        return Response(_placeholder(), media_type="image/png", headers=MEDIA_HEADERS)
    return Response(rendered, media_type="image/jpeg", headers=MEDIA_HEADERS)

"""Bank routes: create and configure banks, add and withdraw entries, import and export hash lists."""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, Query, Request
from fastapi.responses import PlainTextResponse
from sqlalchemy import func, select

from firebreak.api.deps import Principal, require_staff
from firebreak.auth.models import Role
from firebreak.banks import io, service
from firebreak.banks.models import Bank, BankEntry, EntryStatus, Provenance
from firebreak.banks.schemas import BankCreate, BankOut, BankUpdate, EntryCreate, EntryOut, ImportReport
from firebreak.core.http.deps import ClockDep, SessionDep
from firebreak.core.http.guard import accepts
from firebreak.core.http.params import AfterId, IdPath
from firebreak.core.http.problems import Problem

router = APIRouter(prefix="/v1/banks", tags=["banks"])

Admin = Annotated[Principal, require_staff(Role.ADMIN)]
Staff = Annotated[Principal, require_staff(Role.ADMIN, Role.MODERATOR, Role.LIAISON, Role.AUDITOR)]
Editor = Annotated[Principal, require_staff(Role.ADMIN, Role.MODERATOR, Role.LIAISON)]
MAX_IMPORT_BYTES = 50 * 1024 * 1024


def _bank(session: SessionDep, name: str) -> Bank:
    try:
        return service.get_bank(session=session, name=name)
    except service.BankNotFound as exc:
        raise Problem(404, "Not found", str(exc)) from None


@router.get("", response_model=list[BankOut])
def list_banks(session: SessionDep, _: Staff) -> list[Bank]:
    return service.list_banks(session=session)


@router.post("", response_model=BankOut, status_code=201)
def create_bank(data: BankCreate, session: SessionDep, clock: ClockDep, who: Admin) -> Bank:
    try:
        return service.create_bank(session=session, clock=clock, actor=who.actor, data=data)
    except service.BankError as exc:
        raise Problem(409, "Conflict", str(exc)) from None


@router.get("/{name}", response_model=BankOut)
def get_bank(name: str, session: SessionDep, _: Staff) -> Bank:
    return _bank(session, name)


@router.patch("/{name}", response_model=BankOut)
def update_bank(name: str, data: BankUpdate, session: SessionDep, clock: ClockDep, who: Admin) -> Bank:
    return service.update_bank(session=session, clock=clock, actor=who.actor, bank=_bank(session, name),
                               data=data)


@router.get("/{name}/entries", response_model=list[EntryOut])
def list_entries(name: str, session: SessionDep, _: Staff, status: EntryStatus | None = None,
                 after_id: AfterId = 0, limit: Annotated[int, Query(ge=1, le=1000)] = 100) -> list[BankEntry]:
    bank = _bank(session, name)
    stmt = select(BankEntry).where(BankEntry.bank_id == bank.id, BankEntry.id > after_id)
    if status is not None:
        stmt = stmt.where(BankEntry.status == status)
    return list(session.scalars(stmt.order_by(BankEntry.id).limit(limit)))


@router.post("/{name}/entries", response_model=EntryOut, status_code=201)
def add_entry(name: str, data: EntryCreate, session: SessionDep, clock: ClockDep, who: Editor) -> BankEntry:
    bank = _bank(session, name)
    try:
        return service.add_entry(session=session, clock=clock, actor=who.actor, bank=bank,
                                 entry=service.EntryInput(signal_type=data.signal_type, value=data.value,
                                                          quality=data.quality, external_id=data.external_id,
                                                          note=data.note),
                                 provenance=Provenance.DECISION, source_ref=who.actor)
    except service.BankError as exc:
        raise Problem(422, "Invalid entry", str(exc), errors=[{"field": "value", "message": str(exc)}]) from None


@router.post("/{name}/entries/{entry_id}/{status}", response_model=EntryOut)
def set_entry_status(name: str, entry_id: IdPath, status: Literal["disable", "withdraw", "enable"], session: SessionDep,
                     clock: ClockDep, who: Editor) -> BankEntry:
    bank = _bank(session, name)
    entry = session.get(BankEntry, entry_id)
    if entry is None or entry.bank_id != bank.id:
        raise Problem(404, "Not found", f"bank {name!r} has no entry {entry_id}")
    new = {"disable": EntryStatus.DISABLED, "withdraw": EntryStatus.WITHDRAWN, "enable": EntryStatus.ACTIVE}[status]
    return service.set_entry_status(session=session, clock=clock, actor=who.actor, entry=entry, status=new)


@router.post("/{name}/import", response_model=ImportReport,
             openapi_extra={"requestBody": {"content": {"text/plain": {"schema": {"type": "string"}}}}})
@accepts("upload")
async def import_entries(name: str, request: Request, session: SessionDep, clock: ClockDep, who: Editor,
                         format: Annotated[str, Query(pattern="^(csv|te|stopncii)$")] = "csv",
                         source: str = "upload") -> ImportReport:
    raw = bytearray()
    async for chunk in request.stream():  # the body guard bounds it too; this is the import's own, lower limit
        raw += chunk
        if len(raw) > MAX_IMPORT_BYTES:
            raise Problem(413, "Payload too large", f"import files are limited to {MAX_IMPORT_BYTES} bytes")
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise Problem(422, "Invalid import", f"the file is not UTF-8 (byte {exc.start})") from None
    return io.import_entries(session=session, clock=clock, actor=who.actor, bank=_bank(session, name),
                             fmt=format, text=text, source_name=source[:100])


@router.get("/{name}/export", response_class=PlainTextResponse, responses={200: {
    "description": "The bank's entries: CSV, ThreatExchange text or StopNCII JSON",
    "content": {"text/csv": {"schema": {"type": "string"}}, "text/plain": {"schema": {"type": "string"}},
                "application/json": {"schema": {}}}}})
def export_entries(name: str, session: SessionDep, _: Staff,
                   format: Annotated[str, Query(pattern="^(csv|te|stopncii)$")] = "csv") -> PlainTextResponse:
    text = io.export_entries(session=session, bank=_bank(session, name), fmt=format)
    media = {"csv": "text/csv", "te": "text/plain", "stopncii": "application/json"}[format]
    return PlainTextResponse(text, media_type=media)


@router.get("/{name}/stats", summary="Entries by status (every status, 0 when none), and their total")
def bank_stats(name: str, session: SessionDep, _: Staff) -> dict[str, int]:
    bank = _bank(session, name)
    rows = session.execute(select(BankEntry.status, func.count()).where(BankEntry.bank_id == bank.id)
                           .group_by(BankEntry.status)).all()
    counts = {status.value: 0 for status in EntryStatus}
    counts.update({str(status): int(n) for status, n in rows})
    return {**counts, "total": sum(counts.values())}

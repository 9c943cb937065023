"""A subset of Meta's Hasher-Matcher-Actioner (HMA 2.0) API, so that tools written for HMA can use Firebreak.

Covered: ``/h/hash``, ``/m/lookup``, ``/m/raw_lookup``, ``/c/banks``, ``/c/bank/<name>/content`` and
``/c/bank/<name>/signal``. Differences are listed in docs/hma.md: a staff or platform token is required;
signal type names are Firebreak's (``pdq``, ``md5``, ``sha256``); URLs are fetched only through the
calling platform integration (never arbitrary URLs: no server-side request forgery); a banked file becomes
one entry per signal and ``id`` is the id of its first entry.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, File, UploadFile
from fastapi.responses import JSONResponse
from pydantic import BaseModel
from sqlalchemy import select

from firebreak.api.deps import Principal, PrincipalDep, RuntimeDep, SessionDep, require_staff
from firebreak.api.problems import Problem
from firebreak.auth.models import CredentialScope, Role
from firebreak.banks import service as banks
from firebreak.banks.models import Bank, BankEntry, EntryStatus, Provenance
from firebreak.banks.schemas import BankCreate
from firebreak.matching.service import match_signals
from firebreak.media.service import ingest_bytes
from firebreak.platform.adapters import FetchError
from firebreak.platform.models import PlatformIntegration
from firebreak.runtime import Runtime
from firebreak.signals.errors import UnhashableMedia
from firebreak.signals.hashing import MediaHashes, hash_bytes
from firebreak.signals.registry import SignalTypeError, get_signal_type

router = APIRouter(tags=["hma-compatible"])
Editor = Annotated[Principal, require_staff(Role.ADMIN, Role.MODERATOR, Role.LIAISON)]
Admin = Annotated[Principal, require_staff(Role.ADMIN)]


def _hashes(data: bytes, runtime: Runtime) -> MediaHashes:
    try:
        return hash_bytes(data, runtime.decode_limits)
    except UnhashableMedia as exc:
        raise Problem(400, "Unhashable media", f"{exc.reason.value}: {exc.message}") from None


def _signals(h: MediaHashes) -> dict[str, str]:
    out = {"sha256": h.sha256, "md5": h.md5}
    if h.kind.value == "image":
        out["pdq"] = h.pdq.value
    return out


def _fetch(url: str, who: Principal, runtime: Runtime, session: SessionDep) -> bytes:
    if who.kind != CredentialScope.PLATFORM or who.integration_id is None:
        raise Problem(400, "URL not fetched", "Firebreak fetches media URLs only for a platform integration's token "
                      "(through that platform's adapter); upload the file with POST instead")
    integration = session.get(PlatformIntegration, who.integration_id)
    if integration is None:
        raise Problem(401, "Not authenticated", "unknown integration")
    try:
        return runtime.adapters.for_integration(integration).fetch_media(url).data
    except FetchError as exc:
        raise Problem(400, "URL not fetched", str(exc)) from None


def _lookup_banks(session: SessionDep, runtime: Runtime, signal_type: str, value: str) -> list[str]:
    kwargs: dict[str, Any] = {signal_type: value} if signal_type in ("sha256", "md5") else {"pdq_queries": [value]}
    hits = match_signals(session=session, indexes=runtime.indexes, **kwargs)
    return sorted({h.bank_name for h in hits})


def _validate(signal_type: str, value: str) -> str:
    try:
        return get_signal_type(signal_type).validate(value)
    except SignalTypeError as exc:
        raise Problem(400, "Bad signal_type", str(exc)) from None
    except ValueError as exc:
        raise Problem(400, "Bad signal", f"{signal_type}: {exc}") from None


@router.get("/h/hash", summary="HMA: hash the media at a platform URL")
def hash_url(url: str, session: SessionDep, runtime: RuntimeDep, who: PrincipalDep) -> dict[str, str]:
    return _signals(_hashes(_fetch(url, who, runtime, session), runtime))


@router.post("/h/hash", summary="HMA: hash an uploaded file")
async def hash_upload(runtime: RuntimeDep, _: PrincipalDep, photo: Annotated[UploadFile, File()]) -> dict[str, str]:
    return _signals(_hashes(await photo.read(), runtime))


@router.get("/m/raw_lookup", summary="HMA: bank entry ids matching one signal")
def raw_lookup(signal_type: str, signal: str, session: SessionDep, runtime: RuntimeDep, _: PrincipalDep,
               include_distance: bool = False) -> dict[str, list[Any]]:
    value = _validate(signal_type, signal)
    if signal_type in ("sha256", "md5"):
        hits = match_signals(session=session, indexes=runtime.indexes, **{signal_type: value})
    else:
        hits = match_signals(session=session, indexes=runtime.indexes, pdq_queries=[value])
    if include_distance:
        return {"matches": [{"content_id": h.entry_id, "distance": str(h.distance)} for h in hits]}
    return {"matches": [h.entry_id for h in hits]}


@router.get("/m/lookup", summary="HMA: banks matching a signal, or the media at a platform URL")
def lookup(session: SessionDep, runtime: RuntimeDep, who: PrincipalDep, signal_type: str | None = None,
           signal: str | None = None, url: str | None = None) -> Any:
    if url:
        h = _hashes(_fetch(url, who, runtime, session), runtime)
        return {name: _lookup_banks(session, runtime, name, value) for name, value in _signals(h).items()}
    if not signal_type or not signal:
        raise Problem(400, "Missing parameter", "give signal_type and signal, or url",
                      errors=[{"field": "signal", "message": "required"}])
    return _lookup_banks(session, runtime, signal_type, _validate(signal_type, signal))


@router.post("/m/lookup", summary="HMA: banks matching an uploaded file")
async def lookup_upload(session: SessionDep, runtime: RuntimeDep, _: PrincipalDep,
                        photo: Annotated[UploadFile, File()]) -> dict[str, list[str]]:
    h = _hashes(await photo.read(), runtime)
    hits = match_signals(session=session, indexes=runtime.indexes, sha256=h.sha256, md5=h.md5,
                         pdq_queries=h.query_hashes)
    names = sorted({x.bank_name for x in hits})
    return {name: names for name in _signals(h)}


class HmaBank(BaseModel):
    name: str
    matching_enabled_ratio: float


class HmaBankCreate(BaseModel):
    name: str
    enabled: bool = True


@router.get("/c/banks", response_model=list[HmaBank], summary="HMA: list banks")
def hma_banks(session: SessionDep, _: PrincipalDep) -> list[HmaBank]:
    return [HmaBank(name=b.name, matching_enabled_ratio=1.0 if b.enabled else 0.0)
            for b in banks.list_banks(session=session)]


@router.post("/c/banks", summary="HMA: create a bank (acts as 'review' until configured)")
def hma_create_bank(data: HmaBankCreate, session: SessionDep, runtime: RuntimeDep, who: Admin) -> JSONResponse:
    try:
        bank = banks.create_bank(session=session, clock=runtime.clock, actor=who.actor,
                                 data=BankCreate(name=data.name, enabled=data.enabled))
    except banks.BankError as exc:
        raise Problem(403, "Bank already exists", str(exc)) from None
    return JSONResponse({"name": bank.name, "matching_enabled_ratio": 1.0 if bank.enabled else 0.0}, 201)


def _bank(session: SessionDep, name: str) -> Bank:
    try:
        return banks.get_bank(session=session, name=name)
    except banks.BankNotFound as exc:
        raise Problem(404, "Not found", str(exc)) from None


@router.post("/c/bank/{bank_name}/content", summary="HMA: bank an uploaded file (all its signals)")
async def hma_bank_content(bank_name: str, session: SessionDep, runtime: RuntimeDep, who: Editor,
                           photo: Annotated[UploadFile, File()]) -> dict[str, Any]:
    bank = _bank(session, bank_name)
    data = await photo.read()
    h = _hashes(data, runtime)
    media = ingest_bytes(session=session, clock=runtime.clock, blobs=runtime.blobs, limits=runtime.decode_limits,
                         data=data).media
    entries, _ = banks.add_entries(session=session, clock=runtime.clock, actor=who.actor, bank=bank,
                                   entries=banks.entries_for_hashes(h, media_id=media.id),
                                   provenance=Provenance.DECISION, source_ref=f"hma:{who.actor}")
    return {"id": entries[0].id, "signals": {e.signal_type: e.value for e in entries}}


@router.post("/c/bank/{bank_name}/signal", summary="HMA: bank signals given as {signal_type: value}")
def hma_bank_signal(bank_name: str, body: dict[str, str], session: SessionDep, runtime: RuntimeDep,
                    who: Editor) -> dict[str, Any]:
    bank = _bank(session, bank_name)
    if not body:
        raise Problem(400, "No signals given", "send a JSON object {signal_type: value}")
    inputs = [banks.EntryInput(name, _validate(name, value)) for name, value in body.items()]
    entries, _ = banks.add_entries(session=session, clock=runtime.clock, actor=who.actor, bank=bank, entries=inputs,
                                   provenance=Provenance.DECISION, source_ref=f"hma:{who.actor}")
    return {"id": entries[0].id, "signals": {e.signal_type: e.value for e in entries}}


@router.delete("/c/bank/{bank_name}/content/{content_id}", summary="HMA: withdraw a banked entry")
def hma_delete_content(bank_name: str, content_id: int, session: SessionDep, runtime: RuntimeDep,
                       who: Editor) -> dict[str, int]:
    bank = _bank(session, bank_name)
    entry = session.scalar(select(BankEntry).where(BankEntry.id == content_id, BankEntry.bank_id == bank.id))
    if entry is None:
        return {"deleted": 0}
    banks.set_entry_status(session=session, clock=runtime.clock, actor=who.actor, entry=entry,
                           status=EntryStatus.WITHDRAWN, reason="HMA delete")
    return {"deleted": 1}



"""A subset of Meta's Hasher-Matcher-Actioner (HMA 2.0) API, so that tools written for HMA can use Firebreak.

Covered: ``/h/hash``, ``/m/lookup``, ``/m/raw_lookup``, ``/c/banks``, ``/c/bank/<name>/content`` and
``/c/bank/<name>/signal``. Differences are listed in docs/hma.md: a staff or platform token is required
(an authority's token is refused); signal type names are Firebreak's (``pdq``, ``md5``, ``sha256``); URLs
are fetched only through the calling platform integration (never arbitrary URLs: no server-side request
forgery); a banked file becomes one entry per signal, ``id`` is the id of its first entry, and deleting
that id withdraws every signal banked with it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated, Any

from fastapi import APIRouter, Depends, File, UploadFile
from pydantic import BaseModel, Field, ValidationError
from sqlalchemy import select

from firebreak.api.deps import Principal, PrincipalDep, require_staff
from firebreak.auth.models import CredentialScope, Role
from firebreak.banks import service as banks
from firebreak.banks.models import Bank, BankEntry, EntryStatus, Provenance
from firebreak.banks.schemas import BankCreate
from firebreak.core.blobs import BlobStore
from firebreak.core.clock import Clock
from firebreak.core.http.deps import Provide, SessionDep
from firebreak.core.http.guard import accepts
from firebreak.core.http.openapi import answers
from firebreak.core.http.params import IdPath
from firebreak.core.http.problems import Problem
from firebreak.matching.service import Hit, IndexSet, match_signals
from firebreak.media.service import ingest_bytes
from firebreak.platform.adapters import AdapterProvider, FetchError
from firebreak.platform.models import PlatformIntegration
from firebreak.platform.registry import AdapterError
from firebreak.signals.decode import DecodeLimits
from firebreak.signals.errors import UnhashableMedia
from firebreak.signals.hashing import MediaHashes, hash_bytes
from firebreak.signals.registry import SignalTypeError, get_signal_type

router = APIRouter(tags=["hma-compatible"])


@dataclass(frozen=True)
class HmaContext:
    """What the HMA-compatible routes use besides the request's session."""

    clock: Clock
    blobs: BlobStore
    limits: DecodeLimits
    indexes: IndexSet
    adapters: AdapterProvider


HmaDep = Annotated[HmaContext, Provide(HmaContext)]
Editor = Annotated[Principal, require_staff(Role.ADMIN, Role.MODERATOR, Role.LIAISON)]
Admin = Annotated[Principal, require_staff(Role.ADMIN)]
# Signal types the lookups answer for (vPDQ is matched frame by frame, not through these routes).
LOOKUP_TYPES = ("sha256", "md5", "pdq")
# On the first entry of a banked file or signal set: the ids of every entry banked with it (see DELETE).
CONTENT_KEY = "hma_signals"


@answers(403)
def _staff_or_platform(principal: PrincipalDep) -> Principal:
    """Banks are the platform's: staff and the platform's own integrations may look, authorities may not."""
    if principal.kind not in (CredentialScope.STAFF, CredentialScope.PLATFORM):
        raise Problem(403, "Forbidden", "This needs a staff token or a platform integration's token.")
    return principal


Reader = Annotated[Principal, Depends(_staff_or_platform)]


def _hashes(data: bytes, hma: HmaContext) -> MediaHashes:
    try:
        return hash_bytes(data, hma.limits)
    except UnhashableMedia as exc:
        raise Problem(400, "Unhashable media", f"{exc.reason.value}: {exc.message}") from None


def _signals(h: MediaHashes) -> dict[str, str]:
    out = {"sha256": h.sha256, "md5": h.md5}
    if h.kind.value == "image":
        out["pdq"] = h.pdq.value
    return out


def _fetch(url: str, who: Principal, hma: HmaContext, session: SessionDep) -> bytes:
    if who.kind != CredentialScope.PLATFORM or who.integration_id is None:
        raise Problem(400, "URL not fetched", "Firebreak fetches media URLs only for a platform integration's token "
                      "(through that platform's adapter); upload the file with POST instead")
    integration = session.get(PlatformIntegration, who.integration_id)
    if integration is None:
        raise Problem(401, "Not authenticated", "unknown integration")
    try:
        adapter = hma.adapters.for_integration(integration)
    except AdapterError as exc:  # the integration is not set up to fetch (a 4xx all the same: retrying will not help)
        raise Problem(400, "URL not fetched", f"{exc}. An administrator must complete the integration's settings; "
                      "until then, upload the file with POST.") from None
    try:
        return adapter.fetch_media(url).data
    except FetchError as exc:
        raise Problem(400, "URL not fetched", str(exc)) from None


def _hits(session: SessionDep, hma: HmaContext, signal_type: str, values: tuple[str, ...]) -> list[Hit]:
    """Entries one signal matches; a PDQ lookup may pass the query's rotations and mirrors too."""
    if not values:
        return []
    if signal_type in ("sha256", "md5"):
        return match_signals(session=session, indexes=hma.indexes, **{signal_type: values[0]})
    return match_signals(session=session, indexes=hma.indexes, pdq_queries=values)


def _bank_names(hits: list[Hit]) -> list[str]:
    return sorted({h.bank_name for h in hits})


def _lookup_file(session: SessionDep, hma: HmaContext, h: MediaHashes) -> dict[str, list[str]]:
    """For each signal of the file (as /h/hash gives them), the banks that signal matches."""
    queries = {"sha256": (h.sha256,), "md5": (h.md5,), "pdq": h.query_hashes}
    return {name: _bank_names(_hits(session, hma, name, queries[name])) for name in _signals(h)}


def _validate(signal_type: str, value: str) -> str:
    try:
        return get_signal_type(signal_type).validate(value)
    except SignalTypeError as exc:
        raise Problem(400, "Bad signal_type", str(exc)) from None
    except ValueError as exc:
        message = str(exc)  # the built-in types name themselves ("pdq value must be ..."): say it once
        raise Problem(400, "Bad signal", message if message.startswith(signal_type) else f"{signal_type}: {message}"
                      ) from None


def _validate_lookup(signal_type: str, value: str) -> str:
    canonical = _validate(signal_type, value)
    if signal_type not in LOOKUP_TYPES:
        raise Problem(400, "Bad signal_type", f"{signal_type}: lookups take {', '.join(LOOKUP_TYPES)}; "
                      "check a video by uploading it to POST /m/lookup")
    return canonical


async def _uploaded(photo: UploadFile | None, video: UploadFile | None) -> bytes:
    if (photo is None) == (video is None):
        raise Problem(400, "Missing file", "send one file as the multipart/form-data field 'photo' or 'video'")
    upload = photo or video
    assert upload is not None  # noqa: S101 - checked just above
    return await upload.read()


Photo = Annotated[UploadFile | None, File(description="an image (HMA's content type 'photo')")]
Video = Annotated[UploadFile | None, File(description="a video (HMA's content type 'video')")]


@router.get("/h/hash", summary="HMA: hash the media at a platform URL")
@answers(400)
def hash_url(url: str, session: SessionDep, hma: HmaDep, who: Reader) -> dict[str, str]:
    return _signals(_hashes(_fetch(url, who, hma, session), hma))


@router.post("/h/hash", summary="HMA: hash an uploaded file")
@accepts("upload")
@answers(400)
async def hash_upload(hma: HmaDep, _: Reader, photo: Photo = None, video: Video = None) -> dict[str, str]:
    return _signals(_hashes(await _uploaded(photo, video), hma))


@router.get("/m/raw_lookup", summary="HMA: bank entry ids matching one signal")
@answers(400)
def raw_lookup(signal_type: str, signal: str, session: SessionDep, hma: HmaDep, _: Reader,
               include_distance: bool = False) -> dict[str, list[Any]]:
    hits = _hits(session, hma, signal_type, (_validate_lookup(signal_type, signal),))
    if include_distance:
        return {"matches": [{"content_id": h.entry_id, "distance": str(h.distance)} for h in hits]}
    return {"matches": [h.entry_id for h in hits]}


@router.get("/m/lookup", summary="HMA: banks matching a signal, or the media at a platform URL")
@answers(400)
def lookup(session: SessionDep, hma: HmaDep, who: Reader, signal_type: str | None = None,
           signal: str | None = None, url: str | None = None) -> Any:
    if url:
        return _lookup_file(session, hma, _hashes(_fetch(url, who, hma, session), hma))
    if not signal_type or not signal:
        raise Problem(400, "Missing parameter", "give signal_type and signal, or url",
                      errors=[{"field": "signal", "message": "required"}])
    value = _validate_lookup(signal_type, signal)
    return _bank_names(_hits(session, hma, signal_type, (value,)))


@router.post("/m/lookup", summary="HMA: banks matching an uploaded file, signal by signal")
@accepts("upload")
@answers(400)
async def lookup_upload(session: SessionDep, hma: HmaDep, _: Reader, photo: Photo = None,
                        video: Video = None) -> dict[str, list[str]]:
    return _lookup_file(session, hma, _hashes(await _uploaded(photo, video), hma))


class HmaBank(BaseModel):
    name: str
    matching_enabled_ratio: float


class HmaBankCreate(BaseModel):
    name: str
    enabled: bool = True
    # HMA samples matches by this ratio; Firebreak banks are on or off, so any ratio above 0 means on.
    enabled_ratio: float | None = Field(default=None, ge=0, le=1)


@router.get("/c/banks", response_model=list[HmaBank], summary="HMA: list banks")
def hma_banks(session: SessionDep, _: Reader) -> list[HmaBank]:
    return [HmaBank(name=b.name, matching_enabled_ratio=1.0 if b.enabled else 0.0)
            for b in banks.list_banks(session=session)]


@router.post("/c/banks", response_model=HmaBank, status_code=201,
             summary="HMA: create a bank (acts as 'review' until configured)")
@answers(400, 403)
def hma_create_bank(data: HmaBankCreate, session: SessionDep, hma: HmaDep, who: Admin) -> HmaBank:
    try:
        enabled = data.enabled if data.enabled_ratio is None else data.enabled_ratio > 0
        config = BankCreate(name=data.name, enabled=enabled)
    except ValidationError as exc:
        problems = "; ".join(f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in exc.errors(include_url=False))
        raise Problem(400, "Bad bank", problems) from None
    try:
        bank = banks.create_bank(session=session, clock=hma.clock, actor=who.actor, data=config)
    except banks.BankError as exc:
        raise Problem(403, "Bank already exists", str(exc)) from None
    return HmaBank(name=bank.name, matching_enabled_ratio=1.0 if bank.enabled else 0.0)


def _bank(session: SessionDep, name: str) -> Bank:
    try:
        return banks.get_bank(session=session, name=name)
    except banks.BankNotFound as exc:
        raise Problem(404, "Not found", str(exc)) from None


def _content(entries: list[BankEntry]) -> dict[str, Any]:
    """One HMA content item: the first entry stands for all, and remembers them for DELETE."""
    first = entries[0]
    first.extra = {**first.extra, CONTENT_KEY: [e.id for e in entries]}
    return {"id": first.id, "signals": {e.signal_type: e.value for e in entries}}


@router.post("/c/bank/{bank_name}/content", summary="HMA: bank an uploaded file (all its signals)")
@accepts("upload")
@answers(400)
async def hma_bank_content(bank_name: str, session: SessionDep, hma: HmaDep, who: Editor,
                           photo: Photo = None, video: Video = None) -> dict[str, Any]:
    bank = _bank(session, bank_name)
    data = await _uploaded(photo, video)
    h = _hashes(data, hma)
    media = ingest_bytes(session=session, clock=hma.clock, blobs=hma.blobs, limits=hma.limits,
                         data=data).media
    entries, _ = banks.add_entries(session=session, clock=hma.clock, actor=who.actor, bank=bank,
                                   entries=banks.entries_for_hashes(h, media_id=media.id),
                                   provenance=Provenance.DECISION, source_ref=f"hma:{who.actor}")
    return _content(entries)


@router.post("/c/bank/{bank_name}/signal", summary="HMA: bank signals given as {signal_type: value}")
@answers(400)
def hma_bank_signal(bank_name: str, body: dict[str, str], session: SessionDep, hma: HmaDep,
                    who: Editor) -> dict[str, Any]:
    bank = _bank(session, bank_name)
    if not body:
        raise Problem(400, "No signals given", "send a JSON object {signal_type: value}")
    inputs = [banks.EntryInput(name, _validate(name, value)) for name, value in body.items()]
    entries, _ = banks.add_entries(session=session, clock=hma.clock, actor=who.actor, bank=bank, entries=inputs,
                                   provenance=Provenance.DECISION, source_ref=f"hma:{who.actor}")
    return _content(entries)


@router.delete("/c/bank/{bank_name}/content/{content_id}", summary="HMA: withdraw banked content (every signal)")
def hma_delete_content(bank_name: str, content_id: IdPath, session: SessionDep, hma: HmaDep,
                       who: Editor) -> dict[str, int]:
    bank = _bank(session, bank_name)
    entry = session.scalar(select(BankEntry).where(BankEntry.id == content_id, BankEntry.bank_id == bank.id))
    if entry is None:
        return {"deleted": 0}
    ids = {entry.id, *(i for i in entry.extra.get(CONTENT_KEY, []) if isinstance(i, int))}
    withdrawn = 0
    for member in session.scalars(select(BankEntry).where(BankEntry.id.in_(sorted(ids)),
                                                          BankEntry.bank_id == bank.id).order_by(BankEntry.id)):
        if member.status != EntryStatus.WITHDRAWN:
            banks.set_entry_status(session=session, clock=hma.clock, actor=who.actor, entry=member,
                                   status=EntryStatus.WITHDRAWN, reason=f"HMA delete of content {content_id}")
            withdrawn += 1
    return {"deleted": 1 if withdrawn else 0}



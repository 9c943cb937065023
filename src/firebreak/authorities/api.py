"""Authority registry routes. Admins write; liaison officers and auditors read; an authority reads only itself."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Annotated

from fastapi import APIRouter, Response

from firebreak.api.deps import Principal, PrincipalDep, require_staff
from firebreak.auth.models import ApiCredential, CredentialScope, Role
from firebreak.authorities import service
from firebreak.authorities.models import Authority, AuthorityContact, AuthorityDkimKey
from firebreak.authorities.schemas import (
    AuthorityCreate,
    AuthorityOut,
    AuthoritySelfOut,
    AuthorityUpdate,
    CategoryOut,
    ContactCreate,
    ContactOut,
    DkimKeyCreate,
    DkimKeyOut,
    IssuedTokenOut,
    PasswordSet,
    TokenCreate,
    TokenOut,
)
from firebreak.authorities.taxonomy import CATEGORIES
from firebreak.core.http.deps import ClockDep, SessionDep
from firebreak.core.http.problems import Problem

router = APIRouter(prefix="/v1/authorities", tags=["authorities"])

Admin = Annotated[Principal, require_staff(Role.ADMIN)]
Reader = Annotated[Principal, require_staff(Role.ADMIN, Role.LIAISON, Role.AUDITOR)]


@contextmanager
def _problems() -> Iterator[None]:
    try:
        yield
    except service.AuthorityNotFound as exc:
        raise Problem(404, "Not found", str(exc)) from None
    except service.AuthorityConflict as exc:
        raise Problem(409, "Conflict", str(exc),
                      errors=[{"field": exc.field, "message": str(exc)}] if exc.field else None) from None
    except service.AuthorityError as exc:
        field = exc.field or "request"
        raise Problem(422, "Invalid request", f"Check this field: {field}: {exc}",
                      errors=[{"field": field, "message": str(exc)}]) from None


def _authority(session: SessionDep, authority_id: int) -> Authority:
    with _problems():
        return service.get_authority(session=session, authority_id=authority_id)


def _contact(session: SessionDep, authority_id: int, contact_id: int) -> AuthorityContact:
    with _problems():
        return service.get_contact(session=session, authority=_authority(session, authority_id),
                                   contact_id=contact_id)


@router.get("/me", response_model=AuthoritySelfOut, summary="The calling authority's own record")
def me(session: SessionDep, principal: PrincipalDep) -> Authority:
    if principal.kind != CredentialScope.AUTHORITY or principal.authority_id is None:
        raise Problem(403, "Forbidden", "This needs an authority token.")
    return _authority(session, principal.authority_id)


@router.get("/categories", response_model=list[CategoryOut], summary="Order categories and their DSA mapping")
def categories(_: Reader) -> list[CategoryOut]:
    return [CategoryOut(name=c.name, label=c.label, statement_category=c.statement_category,
                        keywords=list(c.keywords), content_types=list(c.content_types),
                        default_deadline_seconds=service.DEFAULT_DEADLINES[c.name], note=c.note)
            for c in CATEGORIES.values()]


@router.get("", response_model=list[AuthorityOut])
def list_authorities(session: SessionDep, _: Reader, include_inactive: bool = True) -> list[Authority]:
    return service.list_authorities(session=session, include_inactive=include_inactive)


@router.post("", response_model=AuthorityOut, status_code=201)
def create_authority(data: AuthorityCreate, session: SessionDep, clock: ClockDep, who: Admin) -> Authority:
    with _problems():
        return service.create_authority(session=session, clock=clock, actor=who.actor, data=data)


@router.get("/{authority_id}", response_model=AuthorityOut)
def get_authority(authority_id: int, session: SessionDep, _: Reader) -> Authority:
    return _authority(session, authority_id)


@router.patch("/{authority_id}", response_model=AuthorityOut)
def update_authority(authority_id: int, data: AuthorityUpdate, session: SessionDep, clock: ClockDep,
                     who: Admin) -> Authority:
    authority = _authority(session, authority_id)
    with _problems():
        return service.update_authority(session=session, clock=clock, actor=who.actor, authority=authority,
                                        data=data)


@router.post("/{authority_id}/deactivate", response_model=AuthorityOut,
             summary="Stop the authority: revoke its tokens, refuse its contacts' logins")
def deactivate_authority(authority_id: int, session: SessionDep, clock: ClockDep, who: Admin) -> Authority:
    return service.deactivate_authority(session=session, clock=clock, actor=who.actor,
                                        authority=_authority(session, authority_id))


@router.post("/{authority_id}/reactivate", response_model=AuthorityOut)
def reactivate_authority(authority_id: int, session: SessionDep, clock: ClockDep, who: Admin) -> Authority:
    authority = _authority(session, authority_id)
    with _problems():
        return service.reactivate_authority(session=session, clock=clock, actor=who.actor,
                                            authority=authority)


@router.get("/{authority_id}/contacts", response_model=list[ContactOut])
def list_contacts(authority_id: int, session: SessionDep, _: Reader) -> list[AuthorityContact]:
    return service.list_contacts(session=session, authority=_authority(session, authority_id))


@router.post("/{authority_id}/contacts", response_model=ContactOut, status_code=201)
def add_contact(authority_id: int, data: ContactCreate, session: SessionDep, clock: ClockDep,
                who: Admin) -> AuthorityContact:
    authority = _authority(session, authority_id)
    with _problems():
        return service.add_contact(session=session, clock=clock, actor=who.actor, authority=authority,
                                   data=data)


@router.put("/{authority_id}/contacts/{contact_id}/password", status_code=204,
            summary="Set a contact's portal password")
def set_contact_password(authority_id: int, contact_id: int, data: PasswordSet, session: SessionDep,
                         clock: ClockDep, who: Admin) -> Response:
    contact = _contact(session, authority_id, contact_id)
    with _problems():
        service.set_contact_password(session=session, clock=clock, actor=who.actor, contact=contact,
                                     password=data.password.get_secret_value())
    return Response(status_code=204)


@router.post("/{authority_id}/contacts/{contact_id}/deactivate", response_model=ContactOut)
def deactivate_contact(authority_id: int, contact_id: int, session: SessionDep, clock: ClockDep,
                       who: Admin) -> AuthorityContact:
    return service.deactivate_contact(session=session, clock=clock, actor=who.actor,
                                      contact=_contact(session, authority_id, contact_id))


@router.get("/{authority_id}/tokens", response_model=list[TokenOut])
def list_tokens(authority_id: int, session: SessionDep, _: Admin, include_revoked: bool = False) -> list[ApiCredential]:
    return service.list_authority_tokens(session=session, authority=_authority(session, authority_id),
                                         include_revoked=include_revoked)


@router.post("/{authority_id}/tokens", response_model=IssuedTokenOut, status_code=201,
             summary="Issue an API token for the authority's client; the token is in this answer only")
def issue_token(authority_id: int, data: TokenCreate, session: SessionDep, clock: ClockDep,
                who: Admin, response: Response) -> IssuedTokenOut:
    authority = _authority(session, authority_id)
    with _problems():
        issued = service.issue_authority_token(session=session, clock=clock, actor=who.actor,
                                               authority=authority, name=data.name)
    response.headers["Cache-Control"] = "no-store"
    info = TokenOut.model_validate(issued.credential)
    return IssuedTokenOut(**info.model_dump(), token=issued.token)


@router.post("/{authority_id}/tokens/{token_id}/revoke", response_model=TokenOut)
def revoke_token(authority_id: int, token_id: int, session: SessionDep, clock: ClockDep,
                 who: Admin) -> ApiCredential:
    authority = _authority(session, authority_id)
    with _problems():
        return service.revoke_authority_token(session=session, clock=clock, actor=who.actor,
                                              authority=authority, credential_id=token_id)


@router.get("/{authority_id}/dkim-keys", response_model=list[DkimKeyOut],
            summary="DKIM public keys pinned for the authority's mail domains")
def list_dkim_keys(authority_id: int, session: SessionDep, _: Reader) -> list[AuthorityDkimKey]:
    return service.list_dkim_keys(session=session, authority=_authority(session, authority_id))


@router.post("/{authority_id}/dkim-keys", response_model=DkimKeyOut, status_code=201,
             summary="Pin a DKIM public key the authority gave you (rotation: name the key it replaces)")
def add_dkim_key(authority_id: int, data: DkimKeyCreate, session: SessionDep, clock: ClockDep,
                 who: Admin) -> AuthorityDkimKey:
    authority = _authority(session, authority_id)
    with _problems():
        return service.add_dkim_key(session=session, clock=clock, actor=who.actor, authority=authority, data=data)


@router.post("/{authority_id}/dkim-keys/{key_id}/revoke", response_model=DkimKeyOut,
             summary="Stop trusting a pinned DKIM key at once")
def revoke_dkim_key(authority_id: int, key_id: int, session: SessionDep, clock: ClockDep,
                    who: Admin) -> AuthorityDkimKey:
    authority = _authority(session, authority_id)
    with _problems():
        return service.revoke_dkim_key(session=session, clock=clock, actor=who.actor, authority=authority,
                                       key_id=key_id)

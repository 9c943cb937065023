"""The authority registry: authorities, their contacts (who log in to the portal) and their API tokens.

Admins keep the registry. Every change is audited in the caller's transaction; nothing here commits. A mail domain
or a registered address belongs to at most one active authority, so that an incoming e-mail names one sender.
"""

from __future__ import annotations

import base64
import binascii
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from email.utils import parseaddr
from types import MappingProxyType
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from firebreak.audit import service as audit
from firebreak.auth import service as auth_service
from firebreak.auth.models import ApiCredential, CredentialScope
from firebreak.authorities.models import Authority, AuthorityContact, AuthorityDkimKey, TrustLevel
from firebreak.authorities.schemas import (
    AuthorityCreate,
    AuthorityUpdate,
    ContactCreate,
    DkimKeyCreate,
    normalise_address,
)
from firebreak.core import i18n
from firebreak.core.clock import Clock
from firebreak.core.names import name_key

# Seconds to act on an order, per category, unless the authority's record says otherwise.
DEFAULT_DEADLINES: Mapping[str, int] = MappingProxyType({
    "terrorist_content": 3600,  # EU TCO Regulation: one hour
    "csam": 86400,
    "sexual_deepfake": 86400,
    "ncii": 172800,  # US TAKE IT DOWN Act: 48 hours
    "hate_speech": 86400,
    "other": 604800,
})

# A real argon2 hash to verify against when the account does not exist, so a login takes as long either way.
_DUMMY_HASH: list[str] = []


class AuthorityError(Exception):
    """An authority operation cannot be done; ``field`` names the input at fault, when there is one."""

    def __init__(self, message: str, *, field: str | None = None) -> None:
        super().__init__(message)
        self.field = field


class AuthorityNotFound(AuthorityError):
    pass


class AuthorityConflict(AuthorityError):
    """The name, address or domain is already someone else's."""


def _record(session: Session, clock: Clock, actor: str, action: str, object_type: str, object_id: int,
            data: dict[str, Any]) -> None:
    audit.record(session=session, clock=clock, actor=actor, action=action, object_type=object_type,
                 object_id=object_id, data=data)


def _public_changes(values: dict[str, Any]) -> dict[str, Any]:
    # Staff notes may hold personal data; the audit chain is forever, so it records only that they changed.
    if "notes" in values:
        values = {k: v for k, v in values.items() if k != "notes"} | {"notes_changed": True}
    return values


def _check_trust(trust_level: TrustLevel, trusted_categories: list[str]) -> None:
    if trusted_categories and trust_level != TrustLevel.TRUSTED:
        raise AuthorityError("trusted categories need trust_level 'trusted'", field="trusted_categories")


def _check_name_free(session: Session, name: str, *, except_id: int | None = None) -> None:
    """Names are unique whatever their case, in all of Unicode (core.names)."""
    stmt = select(Authority.name).where(Authority.name_key == name_key(name))
    if except_id is not None:
        stmt = stmt.where(Authority.id != except_id)
    if (taken := session.scalar(stmt)) is not None:
        raise AuthorityConflict(f"an authority named {taken!r} already exists", field="name")


def _check_mail_free(session: Session, *, domains: Iterable[str], addresses: Iterable[str],
                     except_id: int | None) -> None:
    """Refuse a domain or address that another active authority (or its contact) already receives from."""
    domains, addresses = set(domains), set(addresses)
    if not domains and not addresses:
        return
    for other in session.scalars(select(Authority).where(Authority.is_active.is_(True))):
        if other.id == except_id:
            continue
        if taken := sorted(domains & set(other.mail_domains)):
            raise AuthorityConflict(f"{taken[0]} is already a mail domain of {other.name!r}", field="mail_domains")
        if taken := sorted(addresses & set(other.mail_addresses)):
            raise AuthorityConflict(f"{taken[0]} is already an address of {other.name!r}", field="mail_addresses")
    if addresses:
        stmt = select(AuthorityContact).where(AuthorityContact.email.in_(addresses))
        if except_id is not None:
            stmt = stmt.where(AuthorityContact.authority_id != except_id)
        if (contact := session.scalars(stmt).first()) is not None:
            raise AuthorityConflict(f"{contact.email} is the address of a contact of another authority",
                                    field="mail_addresses")


def create_authority(*, session: Session, clock: Clock, actor: str, data: AuthorityCreate) -> Authority:
    _check_name_free(session, data.name)
    _check_trust(data.trust_level, data.trusted_categories)
    _check_mail_free(session, domains=data.mail_domains, addresses=data.mail_addresses, except_id=None)
    authority = Authority(
        name=data.name, country=data.country, jurisdiction=data.jurisdiction, legal_bases=data.legal_bases,
        mail_domains=data.mail_domains, mail_addresses=data.mail_addresses,
        default_deadlines={**DEFAULT_DEADLINES, **(data.default_deadlines or {})}, trust_level=data.trust_level,
        trusted_categories=data.trusted_categories, language=data.language,
        timezone=data.timezone or i18n.country_zone(data.country), escalation_webhook=data.escalation_webhook,
        notes=data.notes, is_active=True, created_at=clock.now(),
    )
    session.add(authority)
    session.flush()
    _record(session, clock, actor, "authority.created", "authority", authority.id,
            _public_changes(data.model_dump(mode="json")) | {"default_deadlines": authority.default_deadlines})
    return authority


def update_authority(*, session: Session, clock: Clock, actor: str, authority: Authority,
                     data: AuthorityUpdate) -> Authority:
    changes = data.model_dump(exclude_unset=True)
    if "name" in changes:
        _check_name_free(session, changes["name"], except_id=authority.id)
    _check_trust(changes.get("trust_level", authority.trust_level),
                 changes.get("trusted_categories", authority.trusted_categories))
    if authority.is_active:
        _check_mail_free(session, domains=changes.get("mail_domains", ()),
                         addresses=changes.get("mail_addresses", ()), except_id=authority.id)
    if "default_deadlines" in changes:
        changes["default_deadlines"] = {**authority.default_deadlines, **changes["default_deadlines"]}
    for key, value in changes.items():
        setattr(authority, key, value)
    session.flush()
    _record(session, clock, actor, "authority.updated", "authority", authority.id,
            _public_changes(data.model_dump(mode="json", exclude_unset=True)))
    return authority


def deactivate_authority(*, session: Session, clock: Clock, actor: str, authority: Authority,
                         reason: str = "") -> Authority:
    """Stop an authority: its tokens are revoked and its contacts can no longer log in. Its history stays."""
    if not authority.is_active:
        return authority
    authority.is_active = False
    for credential in list_authority_tokens(session=session, authority=authority):
        auth_service.revoke_token(session=session, clock=clock, actor=actor, credential=credential)
    _record(session, clock, actor, "authority.deactivated", "authority", authority.id, {"reason": reason})
    return authority


def reactivate_authority(*, session: Session, clock: Clock, actor: str, authority: Authority) -> Authority:
    """Undo a deactivation. Tokens stay revoked: issue new ones."""
    if authority.is_active:
        return authority
    _check_mail_free(session, domains=authority.mail_domains, addresses=authority.mail_addresses,
                     except_id=authority.id)
    authority.is_active = True
    _record(session, clock, actor, "authority.reactivated", "authority", authority.id, {})
    return authority


def get_authority(*, session: Session, authority_id: int) -> Authority:
    authority = session.get(Authority, authority_id)
    if authority is None:
        raise AuthorityNotFound(f"no authority with id {authority_id}")
    return authority


def list_authorities(*, session: Session, include_inactive: bool = True) -> list[Authority]:
    stmt = select(Authority).order_by(Authority.name)
    if not include_inactive:
        stmt = stmt.where(Authority.is_active.is_(True))
    return list(session.scalars(stmt))


def time_allowed(authority: Authority | None, category: str) -> timedelta:
    """How long the platform has to act on an order of this category from this authority."""
    if authority is not None and category in authority.default_deadlines:
        return timedelta(seconds=int(authority.default_deadlines[category]))
    return timedelta(seconds=DEFAULT_DEADLINES.get(category, DEFAULT_DEADLINES["other"]))


def is_trusted_for(authority: Authority, category: str) -> bool:
    return authority.trust_level == TrustLevel.TRUSTED and category in authority.trusted_categories


# --- contacts -------------------------------------------------------------------------------------------------------

def _check_password(password: str, *, email: str, name: str) -> None:
    try:
        auth_service.check_password_strength(password)
    except auth_service.AuthError as exc:
        raise AuthorityError(str(exc), field="password") from None
    lowered = password.lower()
    if any(len(part) >= 4 and part in lowered for part in (email, email.partition("@")[0], name.lower())):
        raise AuthorityError("the password may not contain the contact's name or e-mail address", field="password")


def add_contact(*, session: Session, clock: Clock, actor: str, authority: Authority,
                data: ContactCreate) -> AuthorityContact:
    if session.scalar(select(AuthorityContact.id).where(AuthorityContact.email == data.email)) is not None:
        raise AuthorityConflict(f"{data.email} is already a contact's address", field="email")
    for other in session.scalars(select(Authority).where(Authority.is_active.is_(True), Authority.id != authority.id)):
        if data.email in other.mail_addresses:
            raise AuthorityConflict(f"{data.email} is a registered address of {other.name!r}", field="email")
    password = data.password.get_secret_value() if data.password is not None else None
    if password is not None:
        _check_password(password, email=data.email, name=data.name)
    contact = AuthorityContact(
        authority_id=authority.id, name=data.name, email=data.email, phone=data.phone,
        password_hash=auth_service.hash_password(password) if password is not None else None, is_active=True,
        extra={}, created_at=clock.now(),
    )
    session.add(contact)
    session.flush()
    _record(session, clock, actor, "authority_contact.added", "authority_contact", contact.id,
            {"authority_id": authority.id, "name": data.name, "email": data.email, "phone": data.phone,
             "has_password": password is not None})
    return contact


def get_contact(*, session: Session, authority: Authority, contact_id: int) -> AuthorityContact:
    """A contact of this authority; another authority's contact is "not found", never served."""
    contact = session.get(AuthorityContact, contact_id)
    if contact is None or contact.authority_id != authority.id:
        raise AuthorityNotFound(f"authority {authority.id} has no contact {contact_id}")
    return contact


def list_contacts(*, session: Session, authority: Authority) -> list[AuthorityContact]:
    return list(session.scalars(select(AuthorityContact).where(AuthorityContact.authority_id == authority.id)
                                .order_by(AuthorityContact.name, AuthorityContact.id)))


def set_contact_password(*, session: Session, clock: Clock, actor: str, contact: AuthorityContact,
                         password: str) -> None:
    """Set or replace a contact's portal password; their open browser sessions end with the old one."""
    _check_password(password, email=contact.email, name=contact.name)
    contact.password_hash = auth_service.hash_password(password)
    _record(session, clock, actor, "authority_contact.password_set", "authority_contact", contact.id,
            {"authority_id": contact.authority_id})


def deactivate_contact(*, session: Session, clock: Clock, actor: str, contact: AuthorityContact) -> AuthorityContact:
    if contact.is_active:
        contact.is_active = False
        _record(session, clock, actor, "authority_contact.deactivated", "authority_contact", contact.id,
                {"authority_id": contact.authority_id})
    return contact


@dataclass(frozen=True)
class ContactLogin:
    """The outcome of a portal login: the contact on success, else why not (for the audit log, not the user)."""

    contact: AuthorityContact | None
    failure: str | None = None  # unknown_account | no_password | bad_password | inactive
    contact_id: int | None = None  # the account that was tried, when it exists


def authenticate_contact(*, session: Session, clock: Clock, email: str, password: str) -> ContactLogin:
    """Check a portal login. Takes as long for an unknown address as for a wrong password."""
    try:
        address = normalise_address(email)
    except ValueError:
        address = ""
    contact = session.scalar(select(AuthorityContact).where(AuthorityContact.email == address)) if address else None
    if contact is None or contact.password_hash is None:
        burn_password_check(password)
        return ContactLogin(None, "unknown_account" if contact is None else "no_password",
                            contact.id if contact else None)
    if not auth_service.verify_password(contact.password_hash, password):
        return ContactLogin(None, "bad_password", contact.id)
    if not contact.is_active or not contact.authority.is_active:
        return ContactLogin(None, "inactive", contact.id)
    contact.last_login_at = clock.now()
    return ContactLogin(contact, None, contact.id)


def burn_password_check(password: str) -> None:
    """Spend the time of one password verification (for unknown accounts)."""
    if not _DUMMY_HASH:
        _DUMMY_HASH.append(auth_service.hash_password("firebreak dummy password"))
    auth_service.verify_password(_DUMMY_HASH[0], password)


# --- tokens ---------------------------------------------------------------------------------------------------------

def issue_authority_token(*, session: Session, clock: Clock, actor: str, authority: Authority,
                          name: str) -> auth_service.IssuedToken:
    """A machine token for the authority's own client (its orders only). The token is in the result, once."""
    if not authority.is_active:
        raise AuthorityError(f"authority {authority.name!r} is deactivated", field="authority")
    return auth_service.issue_token(session=session, clock=clock, actor=actor, name=name,
                                    scope=CredentialScope.AUTHORITY, authority_id=authority.id)


def list_authority_tokens(*, session: Session, authority: Authority,
                          include_revoked: bool = False) -> list[ApiCredential]:
    stmt = select(ApiCredential).where(ApiCredential.scope == CredentialScope.AUTHORITY,
                                       ApiCredential.authority_id == authority.id)
    if not include_revoked:
        stmt = stmt.where(ApiCredential.revoked_at.is_(None))
    return list(session.scalars(stmt.order_by(ApiCredential.id)))


def revoke_authority_token(*, session: Session, clock: Clock, actor: str, authority: Authority,
                           credential_id: int) -> ApiCredential:
    credential = session.get(ApiCredential, credential_id)
    if credential is None or credential.authority_id != authority.id or credential.scope != CredentialScope.AUTHORITY:
        raise AuthorityNotFound(f"authority {authority.id} has no token {credential_id}")
    auth_service.revoke_token(session=session, clock=clock, actor=actor, credential=credential)
    return credential


# --- e-mail senders -------------------------------------------------------------------------------------------------

def find_authority_for_sender(session: Session, address: str) -> tuple[Authority, AuthorityContact | None] | None:
    """Which active authority an e-mail sender belongs to, and which contact it is, if one.

    Matches, in order: an active contact's address; an address registered on the authority; the address's domain
    or a parent domain registered on the authority (the longest wins). Case does not matter. This says who the
    sender claims to be; whether the claim is authentic (DKIM, SPF) is for mail intake to check.
    """
    try:
        sender = normalise_address(parseaddr(address)[1] or address)
    except ValueError:
        return None
    contact = session.scalar(
        select(AuthorityContact).join(Authority)
        .where(AuthorityContact.email == sender, AuthorityContact.is_active.is_(True), Authority.is_active.is_(True)))
    if contact is not None:
        return contact.authority, contact
    authorities = list_authorities(session=session, include_inactive=False)
    for authority in authorities:
        if sender in authority.mail_addresses:
            return authority, None
    domain = sender.partition("@")[2]
    best: tuple[int, Authority] | None = None
    for authority in authorities:
        for registered in authority.mail_domains:
            if (domain == registered or domain.endswith("." + registered)) and (
                    best is None or len(registered) > best[0]):
                best = (len(registered), authority)
    return (best[1], None) if best else None


# --- pinned DKIM keys -----------------------------------------------------------------------------------------------

def _sending_domains(authority: Authority) -> set[str]:
    domains = set(authority.mail_domains)
    domains.update(a.rpartition("@")[2] for a in authority.mail_addresses)
    domains.update(c.email.rpartition("@")[2] for c in authority.contacts if c.is_active)
    return domains


def dkim_key_record(text: str) -> str:
    """A key as the registry keeps it: the DNS record form ``v=DKIM1; k=rsa; p=<base64>`` (or ``k=ed25519``), from
    the TXT record, its bare ``p=`` value or a PEM public key. Raises AuthorityError when it is not a usable key."""
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import ed25519, rsa

    value = text.strip().strip('"')
    if "BEGIN PUBLIC KEY" in value:
        try:
            key = serialization.load_pem_public_key(value.encode())
        except ValueError as exc:
            raise AuthorityError(f"not a PEM public key ({exc})", field="public_key") from None
        if isinstance(key, ed25519.Ed25519PublicKey):
            raw = key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
            return "v=DKIM1; k=ed25519; p=" + base64.b64encode(raw).decode()
        if isinstance(key, rsa.RSAPublicKey):
            der = key.public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
            return "v=DKIM1; k=rsa; p=" + base64.b64encode(der).decode()
        raise AuthorityError("DKIM keys are RSA or Ed25519", field="public_key")
    tags = {k.strip().lower(): v.strip() for k, _, v in
            (part.partition("=") for part in re.sub(r'"\s*"', "", value).split(";") if "=" in part)}
    if not tags:
        tags = {"p": value}
    kind = tags.get("k", "rsa").lower()
    p = re.sub(r"\s+", "", tags.get("p", ""))
    if not p:
        raise AuthorityError("the key record has no p= value (an empty p= means a revoked key)", field="public_key")
    try:
        material = base64.b64decode(p, validate=True)
    except (binascii.Error, ValueError):
        raise AuthorityError("p= is not base64", field="public_key") from None
    if kind == "ed25519":
        if len(material) != 32:
            raise AuthorityError("an Ed25519 DKIM key is 32 bytes", field="public_key")
    elif kind == "rsa":
        try:
            key = serialization.load_der_public_key(material)
        except ValueError:
            raise AuthorityError("p= is not an RSA public key", field="public_key") from None
        if not isinstance(key, rsa.RSAPublicKey) or key.key_size < 1024:
            raise AuthorityError("an RSA DKIM key must be at least 1024 bits", field="public_key")
    else:
        raise AuthorityError(f"unknown key type k={kind}; DKIM keys are rsa or ed25519", field="public_key")
    return f"v=DKIM1; k={kind}; p={p}"


def add_dkim_key(*, session: Session, clock: Clock, actor: str, authority: Authority,
                 data: DkimKeyCreate) -> AuthorityDkimKey:
    """Pin a DKIM public key for one of the authority's own sending domains. With ``replaces``, the old key stays
    valid for ``overlap_seconds`` after the new one starts (mail signed with either verifies meanwhile)."""
    if not authority.is_active:
        raise AuthorityError(f"authority {authority.name!r} is deactivated", field="authority")
    own = _sending_domains(authority)
    if not any(data.domain == d or data.domain.endswith("." + d) for d in own):
        raise AuthorityError(f"{data.domain} is not a mail domain of {authority.name!r} (its domains: "
                             f"{', '.join(sorted(own)) or 'none registered'})", field="domain")
    now = clock.now()
    valid_from = data.valid_from or now
    if data.valid_until is not None and data.valid_until <= valid_from:
        raise AuthorityError("valid_until must be after valid_from", field="valid_until")
    key = AuthorityDkimKey(authority_id=authority.id, domain=data.domain, selector=data.selector,
                           public_key=dkim_key_record(data.public_key), valid_from=valid_from,
                           valid_until=data.valid_until, added_by=actor[:200], note=data.note, created_at=now)
    if data.replaces is not None:
        old = get_dkim_key(session=session, authority=authority, key_id=data.replaces)
        until = valid_from + timedelta(seconds=data.overlap_seconds)
        if old.valid_until is None or old.valid_until > until:
            old.valid_until = until
    session.add(key)
    session.flush()
    _record(session, clock, actor, "authority.dkim_key_added", "authority", authority.id,
            {"key_id": key.id, "domain": key.domain, "selector": key.selector, "replaces": data.replaces,
             "valid_from": valid_from.isoformat(), "record": key.public_key[:80]})
    return key


def get_dkim_key(*, session: Session, authority: Authority, key_id: int) -> AuthorityDkimKey:
    key = session.get(AuthorityDkimKey, key_id)
    if key is None or key.authority_id != authority.id:
        raise AuthorityNotFound(f"authority {authority.id} has no DKIM key {key_id}")
    return key


def list_dkim_keys(*, session: Session, authority: Authority) -> list[AuthorityDkimKey]:
    return list(session.scalars(select(AuthorityDkimKey).where(AuthorityDkimKey.authority_id == authority.id)
                                .order_by(AuthorityDkimKey.domain, AuthorityDkimKey.selector, AuthorityDkimKey.id)))


def revoke_dkim_key(*, session: Session, clock: Clock, actor: str, authority: Authority,
                    key_id: int) -> AuthorityDkimKey:
    key = get_dkim_key(session=session, authority=authority, key_id=key_id)
    if key.revoked_at is None:
        key.revoked_at = clock.now()
        _record(session, clock, actor, "authority.dkim_key_revoked", "authority", authority.id,
                {"key_id": key.id, "domain": key.domain, "selector": key.selector})
    return key


def dkim_selector_pinned(*, session: Session, domain: str, selector: str) -> bool:
    """Whether the registry governs ``selector._domainkey.domain``: a key was ever pinned for it (valid now or not).
    Such a selector is never looked up in DNS, so a replaced key past its overlap, or an unpinned one, is not
    trusted again because DNS still publishes it."""
    return session.scalar(select(AuthorityDkimKey.id).where(
        AuthorityDkimKey.domain == domain.lower(), AuthorityDkimKey.selector == selector.lower()).limit(1)) is not None


def pinned_dkim_records(*, session: Session, domain: str, selector: str, at: datetime) -> list[str]:
    """The key records pinned for ``selector._domainkey.domain`` and valid at ``at``, of active authorities."""
    keys = session.scalars(select(AuthorityDkimKey).join(Authority).where(
        AuthorityDkimKey.domain == domain.lower(), AuthorityDkimKey.selector == selector.lower(),
        AuthorityDkimKey.revoked_at.is_(None), AuthorityDkimKey.valid_from <= at, Authority.is_active.is_(True))
        .order_by(AuthorityDkimKey.valid_from.desc(), AuthorityDkimKey.id.desc()))
    return [k.public_key for k in keys if k.valid_until is None or k.valid_until > at]

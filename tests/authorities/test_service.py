"""The authority registry's operations: validation, contacts, tokens, and finding the authority behind an e-mail."""

from __future__ import annotations

import json
from datetime import timedelta
from typing import Any

import pytest
from pydantic import SecretStr, ValidationError
from sqlalchemy import select
from sqlalchemy.orm import Session

from firebreak.audit import service as audit_service
from firebreak.audit.models import AuditEvent
from firebreak.auth import service as auth_service
from firebreak.auth.models import CredentialScope
from firebreak.authorities import service, taxonomy
from firebreak.authorities.models import Authority, TrustLevel
from firebreak.authorities.schemas import AuthorityCreate, AuthorityUpdate, ContactCreate, normalise_address
from firebreak.core.clock import FakeClock

PASSWORD = "correct horse battery staple"


def _create(session: Session, clock: FakeClock, name: str = "Bundeskriminalamt", **fields: Any) -> Authority:
    data = {"country": "DE", "jurisdiction": "Germany", **fields}
    return service.create_authority(session=session, clock=clock, actor="staff:1",
                                    data=AuthorityCreate(name=name, **data))


def _events(session: Session, action: str) -> list[AuditEvent]:
    return list(session.scalars(select(AuditEvent).where(AuditEvent.action == action).order_by(AuditEvent.seq)))


def test_create_fills_default_deadlines_and_audits(session: Session, clock: FakeClock) -> None:
    authority = _create(session, clock, notes="met at the 2025 hotline conference",
                        legal_bases=["TCO Regulation (EU) 2021/784", "TCO Regulation (EU) 2021/784"])
    assert authority.default_deadlines == dict(service.DEFAULT_DEADLINES)
    assert authority.default_deadlines["terrorist_content"] == 3600
    assert authority.default_deadlines["ncii"] == 172800
    assert authority.legal_bases == ["TCO Regulation (EU) 2021/784"]
    assert authority.trust_level == TrustLevel.STANDARD and authority.language == "en" and authority.is_active
    [event] = _events(session, "authority.created")
    data = json.loads(event.data)
    assert event.actor == "staff:1" and data["name"] == "Bundeskriminalamt" and data["notes_changed"] is True
    assert "hotline conference" not in event.data  # staff notes stay out of the permanent chain
    assert audit_service.verify(session=session).ok


def test_given_deadlines_override_only_their_category(session: Session, clock: FakeClock) -> None:
    authority = _create(session, clock, default_deadlines={"hate_speech": 7200})
    assert authority.default_deadlines["hate_speech"] == 7200
    assert authority.default_deadlines["csam"] == 86400
    assert service.time_allowed(authority, "hate_speech") == timedelta(hours=2)
    assert service.time_allowed(authority, "not-a-category") == timedelta(seconds=service.DEFAULT_DEADLINES["other"])


@pytest.mark.parametrize(("field", "value"), [
    ("country", "XX"),
    ("country", "DEU"),
    ("mail_domains", ["not a domain"]),
    ("mail_domains", ["localhost"]),
    ("mail_addresses", ["officer.example.org"]),
    ("mail_addresses", ["a@@example.org"]),
    ("default_deadlines", {"spam": 3600}),
    ("default_deadlines", {"csam": 0}),
    ("trusted_categories", ["everything"]),
    ("language", "english"),
    ("escalation_webhook", "http://hooks.example.org/x"),
    ("escalation_webhook", "https://user:secret@hooks.example.org/x"),
    ("jurisdiction", ""),
])
def test_bad_input_names_the_field(field: str, value: Any) -> None:
    data: dict[str, Any] = {"name": "X", "country": "DE", "jurisdiction": "Germany", field: value}
    with pytest.raises(ValidationError) as caught:
        AuthorityCreate(**data)
    assert [e["loc"][0] for e in caught.value.errors()] == [field]


def test_values_are_normalised() -> None:
    data = AuthorityCreate(
        name=" Korea Communications Standards Commission ", country="kr", jurisdiction="Republic of Korea",
        mail_domains=["KOCSC.or.KR.", "@kocsc.or.kr", "bücher.example"],
        mail_addresses=["Takedown@KOCSC.or.kr"], language="KO", trusted_categories=["CSAM"],
        trust_level=TrustLevel.TRUSTED,
    )
    assert data.name == "Korea Communications Standards Commission"
    assert data.country == "KR" and data.language == "ko"
    assert data.mail_domains == ["kocsc.or.kr", "xn--bcher-kva.example"]
    assert data.mail_addresses == ["takedown@kocsc.or.kr"]
    assert data.trusted_categories == ["csam"]
    assert AuthorityCreate(name="X", country="br", jurisdiction="Brazil", language="pt-br").language == "pt-BR"


def test_names_are_unique_whatever_the_case(session: Session, clock: FakeClock) -> None:
    _create(session, clock, "Ofcom", country="GB", jurisdiction="United Kingdom")
    with pytest.raises(service.AuthorityConflict) as caught:
        _create(session, clock, "OFCOM", country="GB", jurisdiction="United Kingdom")
    assert caught.value.field == "name"


def test_a_mail_domain_belongs_to_one_active_authority(session: Session, clock: FakeClock) -> None:
    first = _create(session, clock, "Police A", mail_domains=["police.example"])
    with pytest.raises(service.AuthorityConflict) as caught:
        _create(session, clock, "Police B", mail_domains=["police.example"])
    assert caught.value.field == "mail_domains"
    service.deactivate_authority(session=session, clock=clock, actor="staff:1", authority=first, reason="merged")
    second = _create(session, clock, "Police B", mail_domains=["police.example"])
    assert second.mail_domains == ["police.example"]
    with pytest.raises(service.AuthorityConflict):
        service.reactivate_authority(session=session, clock=clock, actor="staff:1", authority=first)


def test_trusted_categories_need_a_trusted_authority(session: Session, clock: FakeClock) -> None:
    with pytest.raises(service.AuthorityError) as caught:
        _create(session, clock, trusted_categories=["csam"])
    assert caught.value.field == "trusted_categories"
    authority = _create(session, clock, trust_level=TrustLevel.TRUSTED, trusted_categories=["csam"])
    assert service.is_trusted_for(authority, "csam") and not service.is_trusted_for(authority, "ncii")


def test_update_merges_deadlines_and_refuses_null(session: Session, clock: FakeClock) -> None:
    authority = _create(session, clock)
    service.update_authority(session=session, clock=clock, actor="staff:1", authority=authority,
                             data=AuthorityUpdate(default_deadlines={"ncii": 86400}, language="de",
                                                  escalation_webhook="https://bka.example/hooks/firebreak"))
    assert authority.default_deadlines["ncii"] == 86400 and authority.default_deadlines["csam"] == 86400
    assert authority.language == "de" and authority.escalation_webhook == "https://bka.example/hooks/firebreak"
    [event] = _events(session, "authority.updated")
    assert json.loads(event.data) == {"default_deadlines": {"ncii": 86400}, "language": "de",
                                      "escalation_webhook": "https://bka.example/hooks/firebreak"}
    with pytest.raises(ValidationError) as caught:
        AuthorityUpdate.model_validate({"name": None})
    assert caught.value.errors()[0]["loc"] == ("name",)
    service.update_authority(session=session, clock=clock, actor="staff:1", authority=authority,
                             data=AuthorityUpdate.model_validate({"escalation_webhook": None}))
    assert authority.escalation_webhook is None


def test_contacts_with_and_without_password(session: Session, clock: FakeClock) -> None:
    authority = _create(session, clock)
    officer = service.add_contact(session=session, clock=clock, actor="staff:1", authority=authority,
                                  data=ContactCreate(name="Jana Richter", email="J.Richter@BKA.example",
                                                     phone="+49 611 55-0", password=SecretStr(PASSWORD)))
    assert officer.email == "j.richter@bka.example"
    assert officer.password_hash is not None and officer.password_hash.startswith("$argon2")
    desk = service.add_contact(session=session, clock=clock, actor="staff:1", authority=authority,
                               data=ContactCreate(name="Duty desk", email="desk@bka.example"))
    assert desk.password_hash is None
    assert [c.name for c in service.list_contacts(session=session, authority=authority)] == ["Duty desk",
                                                                                             "Jana Richter"]
    with pytest.raises(service.AuthorityConflict) as caught:
        service.add_contact(session=session, clock=clock, actor="staff:1", authority=authority,
                            data=ContactCreate(name="Someone", email="j.richter@bka.example"))
    assert caught.value.field == "email"
    audit_text = " ".join(e.data for e in session.scalars(select(AuditEvent)))
    assert PASSWORD not in audit_text and "$argon2" not in audit_text


def test_passwords_are_checked(session: Session, clock: FakeClock) -> None:
    with pytest.raises(ValidationError) as caught:
        ContactCreate(name="Jana", email="jana@bka.example", password=SecretStr("short"))
    assert caught.value.errors()[0]["loc"] == ("password",)
    authority = _create(session, clock)
    contact = service.add_contact(session=session, clock=clock, actor="staff:1", authority=authority,
                                  data=ContactCreate(name="Jana Richter", email="jrichter@bka.example"))
    with pytest.raises(service.AuthorityError) as refused:
        service.set_contact_password(session=session, clock=clock, actor="staff:1", contact=contact,
                                     password="jrichter-2026-spring")
    assert refused.value.field == "password"
    with pytest.raises(service.AuthorityError):
        service.set_contact_password(session=session, clock=clock, actor="staff:1", contact=contact, password="x")
    service.set_contact_password(session=session, clock=clock, actor="staff:1", contact=contact, password=PASSWORD)
    assert auth_service.verify_password(contact.password_hash, PASSWORD)
    assert _events(session, "authority_contact.password_set")


def test_portal_login_outcomes(session: Session, clock: FakeClock) -> None:
    authority = _create(session, clock)
    contact = service.add_contact(session=session, clock=clock, actor="staff:1", authority=authority,
                                  data=ContactCreate(name="Jana Richter", email="jana@bka.example",
                                                     password=SecretStr(PASSWORD)))

    def attempt(email: str, password: str = PASSWORD) -> service.ContactLogin:
        return service.authenticate_contact(session=session, clock=clock, email=email, password=password)

    assert attempt("JANA@bka.example").contact is contact and contact.last_login_at == clock.now()
    assert attempt("jana@bka.example", "wrong password here").failure == "bad_password"
    assert attempt("nobody@bka.example").failure == "unknown_account"
    assert attempt("not an address").failure == "unknown_account"
    service.deactivate_contact(session=session, clock=clock, actor="staff:1", contact=contact)
    assert attempt("jana@bka.example").failure == "inactive"


def test_authority_tokens(session: Session, clock: FakeClock) -> None:
    authority = _create(session, clock)
    issued = service.issue_authority_token(session=session, clock=clock, actor="staff:1", authority=authority,
                                           name="case system")
    assert issued.token.startswith("fbk_")
    cred = auth_service.resolve_token(session=session, clock=clock, token=issued.token)
    assert cred is not None and cred.scope == CredentialScope.AUTHORITY and cred.authority_id == authority.id
    assert [c.id for c in service.list_authority_tokens(session=session, authority=authority)] == [cred.id]
    other = _create(session, clock, "Other", mail_domains=[])
    with pytest.raises(service.AuthorityNotFound):
        service.revoke_authority_token(session=session, clock=clock, actor="staff:1", authority=other,
                                       credential_id=cred.id)
    service.deactivate_authority(session=session, clock=clock, actor="staff:1", authority=authority)
    assert auth_service.resolve_token(session=session, clock=clock, token=issued.token) is None
    with pytest.raises(service.AuthorityError):
        service.issue_authority_token(session=session, clock=clock, actor="staff:1", authority=authority, name="x")


def test_find_authority_for_sender(session: Session, clock: FakeClock) -> None:
    bka = _create(session, clock, mail_domains=["bka.example"], mail_addresses=["takedown@polizei.example"])
    jana = service.add_contact(session=session, clock=clock, actor="staff:1", authority=bka,
                               data=ContactCreate(name="Jana", email="jana@gmx.example"))
    lka = _create(session, clock, "LKA Berlin", mail_domains=["berlin.bka.example"])

    def find(address: str) -> tuple[str, str | None] | None:
        found = service.find_authority_for_sender(session, address)
        return (found[0].name, found[1].name if found[1] else None) if found else None

    assert find("jana@gmx.example") == ("Bundeskriminalamt", "Jana")  # a contact's own address
    assert find("Jana Richter <JANA@GMX.example>") == ("Bundeskriminalamt", "Jana")
    assert find("TAKEDOWN@Polizei.Example") == ("Bundeskriminalamt", None)  # a registered address
    assert find("anyone@BKA.example") == ("Bundeskriminalamt", None)  # the domain
    assert find("desk@cyber.bka.example") == ("Bundeskriminalamt", None)  # a subdomain
    assert find("desk@berlin.bka.example") == ("LKA Berlin", None)  # the most specific domain wins
    assert find("someone@notbka.example") is None
    assert find("other@polizei.example") is None
    assert find("garbage") is None
    service.deactivate_contact(session=session, clock=clock, actor="staff:1", contact=jana)
    assert find("jana@gmx.example") is None
    service.deactivate_authority(session=session, clock=clock, actor="staff:1", authority=lka)
    assert find("desk@berlin.bka.example") == ("Bundeskriminalamt", None)


def test_addresses_are_normalised_like_the_registry() -> None:
    assert normalise_address("  Officer@Polizei.EXAMPLE ") == "officer@polizei.example"
    with pytest.raises(ValueError, match="not a valid e-mail address"):
        normalise_address("officer@")


def test_taxonomy_uses_dsa_values_and_covers_every_deadline() -> None:
    assert set(taxonomy.CATEGORIES) == set(service.DEFAULT_DEADLINES)
    for category in taxonomy.CATEGORIES.values():
        assert category.statement_category in taxonomy.STATEMENT_CATEGORIES
        assert set(category.keywords) <= taxonomy.KEYWORDS
    ncii, deepfake = taxonomy.get_category("ncii"), taxonomy.get_category("sexual_deepfake")
    assert (ncii.statement_category, ncii.keywords) == ("STATEMENT_CATEGORY_CYBER_VIOLENCE",
                                                        ("KEYWORD_NON_CONSENSUAL_IMAGE_SHARING",))
    assert deepfake.keywords == ("KEYWORD_NON_CONSENSUAL_MATERIAL_DEEPFAKE",)
    assert deepfake.content_types == ("CONTENT_TYPE_SYNTHETIC_MEDIA",)
    assert taxonomy.CATEGORIES["csam"].statement_category == "STATEMENT_CATEGORY_PROTECTION_OF_MINORS"
    assert taxonomy.CATEGORIES["terrorist_content"].keywords == ("KEYWORD_TERRORIST_CONTENT",)
    assert taxonomy.CATEGORIES["hate_speech"].keywords == ("KEYWORD_HATE_SPEECH",)
    with pytest.raises(KeyError, match="unknown category"):
        taxonomy.get_category("spam")

"""Statements of reasons: the values of schema v2, one refused case per rule of the field table (checked by
Firebreak's validator and by the stand-in's own rules), the builder for every action, and the JSON-lines export."""

from __future__ import annotations

import io
import json
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from firebreak.authorities.taxonomy import CATEGORIES
from firebreak.transparency.dsa import (
    ACCOUNT_TYPES,
    AUTOMATED_DECISIONS,
    CONTENT_TYPES,
    DECISION_ACCOUNTS,
    DECISION_GROUNDS,
    DECISION_MONETARIES,
    DECISION_PROVISIONS,
    DECISION_VISIBILITIES,
    EEA_COUNTRIES,
    ISO_639_1,
    KEYWORDS,
    REFUSED_V1_VALUES,
    SCHEMA_FIELDS,
    SOURCE_TYPES,
    STATEMENT_CATEGORIES,
    ActionKind,
    AutomatedDecision,
    DsaStatement,
    IllegalContentGround,
    Keyword,
    Medium,
    Rule,
    SourceKind,
    StatementFacts,
    StatementInvalid,
    TermsGround,
    build_statement,
    derive_puid,
    export_jsonl,
    scrub,
    validate_statement,
)
from tests.transparency import dsa_stand_in

KEY = b"statement-puid-key-for-tests-0001"
POSTED = datetime(2026, 2, 27, 23, 40, tzinfo=UTC)
DECIDED = datetime(2026, 3, 2, 8, 15, tzinfo=UTC)


def good() -> dict[str, Any]:
    """A statement the database takes, written out by hand (not by the builder under test)."""
    return {
        "decision_visibility": ["DECISION_VISIBILITY_CONTENT_REMOVED"],
        "decision_ground": "DECISION_GROUND_ILLEGAL_CONTENT",
        "illegal_content_legal_ground": "Art. 5 Directive 2011/93/EU",
        "illegal_content_explanation": "Confirmed as such by the competent authority's order.",
        "content_type": ["CONTENT_TYPE_IMAGE"],
        "category": "STATEMENT_CATEGORY_PROTECTION_OF_MINORS",
        "category_specification": ["KEYWORD_CHILD_SEXUAL_ABUSE_MATERIAL"],
        "territorial_scope": ["DE", "GR"],
        "content_language": "DE",
        "content_date": "2026-02-27",
        "application_date": "2026-03-02",
        "decision_facts": "The image was removed on an order from a competent authority.",
        "source_type": "SOURCE_TYPE_OTHER_NOTIFICATION",
        "source_identity": "Example national police",
        "automated_detection": "No",
        "automated_decision": "AUTOMATED_DECISION_NOT_AUTOMATED",
        "puid": "fb-action-0123456789abcdef",
    }


def incompatible() -> dict[str, Any]:
    doc = good()
    for name in ("illegal_content_legal_ground", "illegal_content_explanation"):
        del doc[name]
    doc |= {"decision_ground": "DECISION_GROUND_INCOMPATIBLE_CONTENT", "incompatible_content_ground": "Rule 4",
            "incompatible_content_explanation": "Sexual content without the consent of the person shown."}
    return doc


def changed(base: Callable[[], dict[str, Any]] = good, *, drop: tuple[str, ...] = (),
            **values: Any) -> dict[str, Any]:
    doc = base()
    for name in drop:
        doc.pop(name, None)
    doc.update(values)
    return doc


LONG = "x" * 501
CASES: list[tuple[str, dict[str, Any], str, Rule]] = [
    # decision_visibility / _monetary / _provision / _account: one at least, each from its list
    ("no decision at all", changed(drop=("decision_visibility",)), "decision_visibility", Rule.ONE_DECISION),
    ("decision_visibility empty", changed(decision_visibility=[]), "decision_visibility", Rule.ONE_DECISION),
    ("decision_visibility unknown", changed(decision_visibility=["CONTENT_REMOVED"]), "decision_visibility",
     Rule.ALLOWED_VALUES),
    ("decision_visibility not an array", changed(decision_visibility="DECISION_VISIBILITY_CONTENT_REMOVED"),
     "decision_visibility", Rule.TYPE),
    ("decision_visibility twice", changed(decision_visibility=["DECISION_VISIBILITY_CONTENT_REMOVED"] * 2),
     "decision_visibility", Rule.DUPLICATE),
    ("visibility OTHER without text", changed(decision_visibility=["DECISION_VISIBILITY_OTHER"]),
     "decision_visibility_other", Rule.OTHER_TEXT_REQUIRED),
    ("decision_visibility_other too long", changed(decision_visibility=["DECISION_VISIBILITY_OTHER"],
                                                   decision_visibility_other=LONG),
     "decision_visibility_other", Rule.MAX_LENGTH),
    ("decision_visibility_other without OTHER", changed(decision_visibility_other="hidden"),
     "decision_visibility_other", Rule.OTHER_TEXT_WITHOUT_OTHER),
    ("decision_monetary unknown", changed(decision_monetary="MONETARY_TERMINATION"), "decision_monetary",
     Rule.ALLOWED_VALUES),
    ("monetary OTHER without text", changed(decision_monetary="DECISION_MONETARY_OTHER"), "decision_monetary_other",
     Rule.OTHER_TEXT_REQUIRED),
    ("decision_monetary_other too long", changed(decision_monetary="DECISION_MONETARY_OTHER",
                                                 decision_monetary_other=LONG),
     "decision_monetary_other", Rule.MAX_LENGTH),
    ("decision_monetary_other without OTHER", changed(decision_monetary="DECISION_MONETARY_SUSPENSION",
                                                      decision_monetary_other="fine"),
     "decision_monetary_other", Rule.OTHER_TEXT_WITHOUT_OTHER),
    ("decision_provision unknown", changed(decision_provision="PARTIAL_SUSPENSION"), "decision_provision",
     Rule.ALLOWED_VALUES),
    ("decision_account unknown", changed(decision_account="DECISION_ACCOUNT_RESTRICTED"), "decision_account",
     Rule.ALLOWED_VALUES),
    ("account_type unknown", changed(account_type="ACCOUNT_TYPE_PERSONAL"), "account_type", Rule.ALLOWED_VALUES),
    # decision_ground and what each ground needs
    ("decision_ground missing", changed(drop=("decision_ground",)), "decision_ground", Rule.REQUIRED),
    ("decision_ground unknown", changed(decision_ground="ILLEGAL_CONTENT"), "decision_ground", Rule.ALLOWED_VALUES),
    ("reference url not a URL", changed(decision_ground_reference_url="terms section 4"),
     "decision_ground_reference_url", Rule.URL),
    ("reference url too long", changed(decision_ground_reference_url="https://x.example/" + "a" * 490),
     "decision_ground_reference_url", Rule.MAX_LENGTH),
    ("illegal without legal ground", changed(drop=("illegal_content_legal_ground",)), "illegal_content_legal_ground",
     Rule.REQUIRED_FOR_GROUND),
    ("illegal legal ground blank", changed(illegal_content_legal_ground="  "), "illegal_content_legal_ground",
     Rule.REQUIRED_FOR_GROUND),
    ("illegal legal ground too long", changed(illegal_content_legal_ground=LONG), "illegal_content_legal_ground",
     Rule.MAX_LENGTH),
    ("illegal without explanation", changed(drop=("illegal_content_explanation",)), "illegal_content_explanation",
     Rule.REQUIRED_FOR_GROUND),
    ("illegal explanation too long", changed(illegal_content_explanation="x" * 2001), "illegal_content_explanation",
     Rule.MAX_LENGTH),
    ("illegal ground with incompatible fields", changed(incompatible_content_ground="Rule 4"),
     "incompatible_content_ground", Rule.ONLY_WITH_GROUND),
    ("incompatible_content_illegal with illegal ground", changed(incompatible_content_illegal="Yes"),
     "incompatible_content_illegal", Rule.ONLY_WITH_GROUND),
    ("incompatible without ground", changed(incompatible, drop=("incompatible_content_ground",)),
     "incompatible_content_ground", Rule.REQUIRED_FOR_GROUND),
    ("incompatible ground too long", changed(incompatible, incompatible_content_ground=LONG),
     "incompatible_content_ground", Rule.MAX_LENGTH),
    ("incompatible without explanation", changed(incompatible, drop=("incompatible_content_explanation",)),
     "incompatible_content_explanation", Rule.REQUIRED_FOR_GROUND),
    ("incompatible explanation too long", changed(incompatible, incompatible_content_explanation="x" * 2001),
     "incompatible_content_explanation", Rule.MAX_LENGTH),
    ("incompatible_content_illegal not Yes/No", changed(incompatible, incompatible_content_illegal="true"),
     "incompatible_content_illegal", Rule.ALLOWED_VALUES),
    ("incompatible ground with illegal fields", changed(incompatible, illegal_content_legal_ground="law"),
     "illegal_content_legal_ground", Rule.ONLY_WITH_GROUND),
    # content_type
    ("content_type missing", changed(drop=("content_type",)), "content_type", Rule.REQUIRED),
    ("content_type empty", changed(content_type=[]), "content_type", Rule.REQUIRED),
    ("content_type unknown", changed(content_type=["IMAGE"]), "content_type", Rule.ALLOWED_VALUES),
    ("content_type a string", changed(content_type="CONTENT_TYPE_IMAGE"), "content_type", Rule.TYPE),
    ("content_type twice", changed(content_type=["CONTENT_TYPE_IMAGE", "CONTENT_TYPE_IMAGE"]), "content_type",
     Rule.DUPLICATE),
    ("content type OTHER without text", changed(content_type=["CONTENT_TYPE_OTHER"]), "content_type_other",
     Rule.OTHER_TEXT_REQUIRED),
    ("content_type_other too long", changed(content_type=["CONTENT_TYPE_OTHER"], content_type_other=LONG),
     "content_type_other", Rule.MAX_LENGTH),
    ("synthetic media alone", changed(content_type=["CONTENT_TYPE_SYNTHETIC_MEDIA"]), "content_type",
     Rule.SYNTHETIC_ALONE),
    # category, category_addition, category_specification
    ("category missing", changed(drop=("category",)), "category", Rule.REQUIRED),
    ("category unknown", changed(category="STATEMENT_CATEGORY_CSAM"), "category", Rule.ALLOWED_VALUES),
    *[(f"category v1 {v}", changed(category=v), "category", Rule.REFUSED_V1)
      for v in sorted(REFUSED_V1_VALUES) if v.startswith("STATEMENT_CATEGORY_")],
    ("category_addition unknown", changed(category_addition=["STATEMENT_CATEGORY_NOPE"]), "category_addition",
     Rule.ALLOWED_VALUES),
    ("category_addition v1", changed(category_addition=["STATEMENT_CATEGORY_NON_CONSENSUAL_BEHAVIOUR"]),
     "category_addition", Rule.REFUSED_V1),
    ("category_specification unknown", changed(category_specification=["KEYWORD_CSAM"]), "category_specification",
     Rule.ALLOWED_VALUES),
    *[(f"keyword v1 {v}", changed(category_specification=[v]), "category_specification", Rule.REFUSED_V1)
      for v in sorted(REFUSED_V1_VALUES) if v.startswith("KEYWORD_")],
    ("KEYWORD_OTHER without text", changed(category_specification=["KEYWORD_OTHER"]), "category_specification_other",
     Rule.OTHER_TEXT_REQUIRED),
    ("category_specification_other too long", changed(category_specification=["KEYWORD_OTHER"],
                                                      category_specification_other=LONG),
     "category_specification_other", Rule.MAX_LENGTH),
    ("category_specification_other without KEYWORD_OTHER", changed(category_specification_other="other"),
     "category_specification_other", Rule.OTHER_TEXT_WITHOUT_OTHER),
    # territorial_scope and content_language
    ("Greece as EL", changed(territorial_scope=["EL"]), "territorial_scope", Rule.COUNTRY),
    ("country outside the EEA", changed(territorial_scope=["DE", "CH"]), "territorial_scope", Rule.COUNTRY),
    ("country lower case", changed(territorial_scope=["de"]), "territorial_scope", Rule.COUNTRY),
    ("territorial_scope a string", changed(territorial_scope="DE"), "territorial_scope", Rule.TYPE),
    ("language lower case", changed(content_language="de"), "content_language", Rule.UPPER_CASE),
    ("language not ISO 639-1", changed(content_language="GER"), "content_language", Rule.LANGUAGE),
    # dates
    ("content_date missing", changed(drop=("content_date",)), "content_date", Rule.REQUIRED),
    ("content_date with slashes", changed(content_date="2026/02/27"), "content_date", Rule.DATE_FORMAT),
    ("content_date not a day", changed(content_date="2026-02-30"), "content_date", Rule.DATE_FORMAT),
    ("content_date with a time", changed(content_date="2026-02-27 23:40:00"), "content_date", Rule.DATE_FORMAT),
    ("content_date before 2000", changed(content_date="1999-12-31"), "content_date", Rule.DATE_RANGE),
    ("content_date after 2038", changed(content_date="2038-01-02", application_date="2038-01-01"), "content_date",
     Rule.DATE_RANGE),
    ("application_date missing", changed(drop=("application_date",)), "application_date", Rule.REQUIRED),
    ("application_date not a day", changed(application_date="02.03.2026"), "application_date", Rule.DATE_FORMAT),
    ("application_date before 2020", changed(content_date="2019-12-01", application_date="2019-12-31"),
     "application_date", Rule.DATE_RANGE),
    ("application_date after 2038", changed(application_date="2038-01-02"), "application_date", Rule.DATE_RANGE),
    ("content posted after the decision", changed(content_date="2026-03-03"), "content_date", Rule.DATE_ORDER),
    *[(f"{name} not a day", good() | {name: "2026-13-01"}, name, Rule.DATE_FORMAT) for name in (
        "end_date_account_restriction", "end_date_monetary_restriction", "end_date_service_restriction",
        "end_date_visibility_restriction")],
    ("end date after 2038", changed(end_date_account_restriction="2038-01-02"), "end_date_account_restriction",
     Rule.DATE_RANGE),
    # decision_facts, source, automation
    ("decision_facts missing", changed(drop=("decision_facts",)), "decision_facts", Rule.REQUIRED),
    ("decision_facts blank", changed(decision_facts="   "), "decision_facts", Rule.REQUIRED),
    ("decision_facts too long", changed(decision_facts="x" * 5001), "decision_facts", Rule.MAX_LENGTH),
    ("source_type missing", changed(drop=("source_type",)), "source_type", Rule.REQUIRED),
    ("source_type unknown", changed(source_type="SOURCE_AUTHORITY_ORDER"), "source_type", Rule.ALLOWED_VALUES),
    ("source_identity too long", changed(source_identity=LONG), "source_identity", Rule.MAX_LENGTH),
    ("source_identity for voluntary", changed(source_type="SOURCE_VOLUNTARY"), "source_identity",
     Rule.IGNORED_FOR_VOLUNTARY),
    ("automated_detection missing", changed(drop=("automated_detection",)), "automated_detection", Rule.REQUIRED),
    ("automated_detection lower case", changed(automated_detection="yes"), "automated_detection",
     Rule.ALLOWED_VALUES),
    ("automated_detection a boolean", changed(automated_detection=False), "automated_detection", Rule.TYPE),
    ("automated_decision missing", changed(drop=("automated_decision",)), "automated_decision", Rule.REQUIRED),
    ("automated_decision v1 Yes", changed(automated_decision="Yes"), "automated_decision", Rule.ALLOWED_VALUES),
    # puid, content_id
    ("puid missing", changed(drop=("puid",)), "puid", Rule.REQUIRED),
    ("puid with a space", changed(puid="fb action 1"), "puid", Rule.PATTERN),
    ("puid with a dot", changed(puid="fb.action.1"), "puid", Rule.PATTERN),
    ("puid with a trailing newline", changed(puid="fb-action-1\n"), "puid", Rule.PATTERN),
    ("puid too long", changed(puid="a" * 501), "puid", Rule.MAX_LENGTH),
    ("content_id not EAN-13", changed(content_id={"EAN-13": "123"}), "content_id", Rule.CONTENT_ID),
    ("content_id not an object", changed(content_id="4006381333931"), "content_id", Rule.TYPE),
    # nothing outside the schema, no personal data
    ("a field outside the schema", changed(user_id="12345"), "user_id", Rule.UNKNOWN_FIELD),
    ("an e-mail address in the facts", changed(decision_facts="Reported by jane.doe@example.org."), "decision_facts",
     Rule.PERSONAL_DATA),
]


@pytest.mark.parametrize(("doc", "field", "rule"), [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_each_rule_refuses_its_violation(doc: dict[str, Any], field: str, rule: Rule) -> None:
    errors = validate_statement(doc)
    assert (field, rule) in {(e.field, e.rule) for e in errors}, errors
    with pytest.raises(StatementInvalid) as caught:
        DsaStatement.from_payload(doc)
    assert field in str(caught.value)


@pytest.mark.parametrize(("doc", "field"), [(c[1], c[2]) for c in CASES], ids=[c[0] for c in CASES])
def test_the_stand_in_refuses_the_same_violations(doc: dict[str, Any], field: str) -> None:
    """The stand-in's rules are written apart from Firebreak's; both must see each violation, on the same field."""
    assert field in dsa_stand_in.check_statement(doc)


@pytest.mark.parametrize("doc", [good(), incompatible(),
                                 changed(end_date_account_restriction="",
                                         decision_account="DECISION_ACCOUNT_SUSPENDED"),
                                 changed(territorial_scope=None, content_language=None),
                                 changed(content_type=["CONTENT_TYPE_OTHER"], content_type_other="Sticker pack"),
                                 changed(content_id={"EAN-13": "4006381333931"})],
                         ids=["illegal", "incompatible", "blank end date", "nulls", "other type", "ean"])
def test_good_statements_pass_both_checks(doc: dict[str, Any]) -> None:
    assert validate_statement(doc) == []
    assert dsa_stand_in.check_statement(doc) == {}
    statement = DsaStatement.from_payload(doc)
    assert statement.payload() == {k: v for k, v in doc.items() if v not in (None, "")}


def test_the_values_are_those_of_schema_v2() -> None:
    counts = {"visibility": (DECISION_VISIBILITIES, 7), "monetary": (DECISION_MONETARIES, 3),
              "provision": (DECISION_PROVISIONS, 4), "account": (DECISION_ACCOUNTS, 2),
              "account type": (ACCOUNT_TYPES, 2), "ground": (DECISION_GROUNDS, 2), "content": (CONTENT_TYPES, 8),
              "category": (STATEMENT_CATEGORIES, 16), "keyword": (KEYWORDS, 69), "source": (SOURCE_TYPES, 4),
              "automated": (AUTOMATED_DECISIONS, 3), "countries": (EEA_COUNTRIES, 30), "languages": (ISO_639_1, 183)}
    for name, (values, count) in counts.items():
        assert len(values) == count, name
    # The stand-in's lists were typed separately from the same reference: they must agree letter for letter.
    theirs = dsa_stand_in.ALLOWED
    assert DECISION_VISIBILITIES == theirs["decision_visibility"]
    assert DECISION_MONETARIES == theirs["decision_monetary"]
    assert DECISION_PROVISIONS == theirs["decision_provision"]
    assert DECISION_ACCOUNTS == theirs["decision_account"]
    assert ACCOUNT_TYPES == theirs["account_type"]
    assert DECISION_GROUNDS == theirs["decision_ground"]
    assert CONTENT_TYPES == theirs["content_type"]
    assert STATEMENT_CATEGORIES == theirs["category"]
    assert KEYWORDS == theirs["category_specification"]
    assert SOURCE_TYPES == theirs["source_type"]
    assert AUTOMATED_DECISIONS == theirs["automated_decision"]
    assert EEA_COUNTRIES == theirs["territorial_scope"]
    assert ISO_639_1 == theirs["content_language"]
    assert "GR" in EEA_COUNTRIES and "EL" not in EEA_COUNTRIES
    assert not REFUSED_V1_VALUES & (STATEMENT_CATEGORIES | KEYWORDS)
    assert set(DsaStatement.model_fields) == SCHEMA_FIELDS


def test_firebreak_taxonomy_uses_only_schema_v2_values() -> None:
    for category in CATEGORIES.values():
        assert category.statement_category in STATEMENT_CATEGORIES, category.name
        assert set(category.keywords) <= KEYWORDS, category.name
        assert set(category.content_types) <= CONTENT_TYPES, category.name


# --- the builder -------------------------------------------------------------------------------------------------


def facts(**overrides: Any) -> StatementFacts:
    values: dict[str, Any] = dict(
        puid=derive_puid(key=KEY, kind="action", local_id=1), action=ActionKind.REMOVE_CONTENT,
        ground=IllegalContentGround(legal_ground="§ 184b StGB", explanation="Confirmed by the authority's order."),
        category="csam", media=(Medium.IMAGE,), content_posted_at=POSTED, decided_at=DECIDED,
        source=SourceKind.AUTHORITY, source_name="Example national police", automated_detection=False,
        automated_decision=AutomatedDecision.NOT_AUTOMATED, territorial_scope=("DE",), language="de")
    values.update(overrides)
    return StatementFacts(**values)


EXPECTED_DECISION = {
    ActionKind.REMOVE_CONTENT: {"decision_visibility": ["DECISION_VISIBILITY_CONTENT_REMOVED"]},
    ActionKind.REFUSE_UPLOAD: {"decision_visibility": ["DECISION_VISIBILITY_OTHER"],
                               "decision_visibility_other": "Upload refused before publication"},
    ActionKind.RESTRICT_ACCOUNT: {"decision_provision": "DECISION_PROVISION_PARTIAL_SUSPENSION",
                                  "end_date_service_restriction": "2026-03-09"},
    ActionKind.SUSPEND_ACCOUNT: {"decision_account": "DECISION_ACCOUNT_SUSPENDED",
                                 "end_date_account_restriction": "2026-03-09"},
    ActionKind.SUSPEND_CHAT: {"decision_visibility": ["DECISION_VISIBILITY_CONTENT_DISABLED"],
                              "decision_provision": "DECISION_PROVISION_PARTIAL_SUSPENSION",
                              "end_date_visibility_restriction": "2026-03-09",
                              "end_date_service_restriction": "2026-03-09"},
}


@pytest.mark.parametrize("action", list(ActionKind))
@pytest.mark.parametrize("source", list(SourceKind))
def test_builder_makes_a_valid_statement_for_every_action(action: ActionKind, source: SourceKind) -> None:
    ends = DECIDED + timedelta(days=7) if action not in (ActionKind.REMOVE_CONTENT, ActionKind.REFUSE_UPLOAD) else None
    automated = source is SourceKind.OWN_INITIATIVE
    statement = build_statement(facts=facts(
        action=action, source=source, restriction_ends=ends, automated_detection=automated,
        automated_decision=AutomatedDecision.FULLY if automated else AutomatedDecision.NOT_AUTOMATED))
    payload = statement.payload()
    assert validate_statement(payload) == []
    assert dsa_stand_in.check_statement(payload) == {}
    decision_fields = {k: v for k, v in payload.items() if k.startswith(("decision_visibility", "decision_monetary",
                                                                         "decision_provision", "decision_account",
                                                                         "end_date_"))}
    assert decision_fields == EXPECTED_DECISION[action]
    assert payload["source_type"] == {
        SourceKind.AUTHORITY: "SOURCE_TYPE_OTHER_NOTIFICATION", SourceKind.TRUSTED_FLAGGER: "SOURCE_TRUSTED_FLAGGER",
        SourceKind.NOTICE: "SOURCE_ARTICLE_16", SourceKind.OWN_INITIATIVE: "SOURCE_VOLUNTARY"}[source]
    # Only organisations are named as the source: an Art. 16 notifier may be a person.
    assert ("source_identity" in payload) == (source in (SourceKind.AUTHORITY, SourceKind.TRUSTED_FLAGGER))
    assert payload["automated_detection"] == ("Yes" if automated else "No")
    # content_date is when the content was posted (late on 27 February UTC), not when it was acted on.
    assert (payload["content_date"], payload["application_date"]) == ("2026-02-27", "2026-03-02")
    assert payload["category"] == "STATEMENT_CATEGORY_PROTECTION_OF_MINORS"
    assert payload["category_specification"] == ["KEYWORD_CHILD_SEXUAL_ABUSE_MATERIAL"]
    assert (payload["territorial_scope"], payload["content_language"]) == (["DE"], "DE")


def test_indefinite_restriction_leaves_the_end_date_out() -> None:
    payload = build_statement(facts=facts(action=ActionKind.SUSPEND_ACCOUNT)).payload()
    assert payload["decision_account"] == "DECISION_ACCOUNT_SUSPENDED"
    assert not any(k.startswith("end_date_") for k in payload)


def test_a_deepfake_image_is_image_plus_synthetic_media() -> None:
    deepfake = build_statement(facts=facts(category="sexual_deepfake", source=SourceKind.NOTICE)).payload()
    assert deepfake["content_type"] == ["CONTENT_TYPE_IMAGE", "CONTENT_TYPE_SYNTHETIC_MEDIA"]
    assert (deepfake["category"], deepfake["category_specification"]) == (
        "STATEMENT_CATEGORY_CYBER_VIOLENCE", ["KEYWORD_NON_CONSENSUAL_MATERIAL_DEEPFAKE"])
    generated = build_statement(facts=facts(category="csam", synthetic=True)).payload()
    assert generated["content_type"] == ["CONTENT_TYPE_IMAGE", "CONTENT_TYPE_SYNTHETIC_MEDIA"]
    assert generated["category_specification"] == ["KEYWORD_CHILD_SEXUAL_ABUSE_MATERIAL_DEEPFAKE"]
    ncii = build_statement(facts=facts(category="ncii", synthetic=True, media=(Medium.VIDEO,))).payload()
    assert ncii["content_type"] == ["CONTENT_TYPE_VIDEO", "CONTENT_TYPE_SYNTHETIC_MEDIA"]
    assert ncii["category_specification"] == ["KEYWORD_NON_CONSENSUAL_MATERIAL_DEEPFAKE"]


def test_terms_of_service_ground() -> None:
    payload = build_statement(facts=facts(
        category="other", source=SourceKind.OWN_INITIATIVE, source_name=None,
        ground=TermsGround(ground="Terms 4.2: no sexual content of others without consent",
                           explanation="The image shows a person who did not agree to its sharing.",
                           also_illegal=False, reference_url="https://platform.example/terms#4.2"),
        keywords=(Keyword.NON_CONSENSUAL_IMAGE_SHARING,))).payload()
    assert validate_statement(payload) == []
    assert payload["decision_ground"] == "DECISION_GROUND_INCOMPATIBLE_CONTENT"
    assert payload["incompatible_content_illegal"] == "No"
    assert payload["decision_ground_reference_url"] == "https://platform.example/terms#4.2"
    assert payload["category"] == "STATEMENT_CATEGORY_OTHER_VIOLATION_TC"
    assert payload["category_specification"] == ["KEYWORD_NON_CONSENSUAL_IMAGE_SHARING"]
    assert "illegal_content_legal_ground" not in payload


def test_territorial_scope_and_language_are_normalised() -> None:
    payload = build_statement(facts=facts(territorial_scope=("el", "de", "DE"), language="el")).payload()
    assert payload["territorial_scope"] == ["DE", "GR"]
    assert payload["content_language"] == "EL"


def test_builder_never_copies_personal_data() -> None:
    name, email, user_id, chat, message = ("Jana Novákova", "jana.novakova@mail.example", "u-884213",
                                           "Jana & friends", "look what I found about her lol")
    statement = build_statement(facts=facts(
        source=SourceKind.NOTICE, source_name=f"{name} <{email}>",
        ground=IllegalContentGround(
            legal_ground="§ 201a StGB",
            explanation=f"{name} ({email}, account {user_id}) reported her image, shared in '{chat}' with the text "
                        f"'{message}': https://chat.example/c/991/1234, also by @jana_n and on +420 601 123 456."),
        facts=f"Reported by {name}; user {user_id} in chat {chat}.",
        personal=(name, user_id, chat, message)))
    text = json.dumps(statement.payload(), ensure_ascii=False).lower()
    for value in (name, email, user_id, chat, message, "chat.example", "@jana_n", "601 123 456", "novakova"):
        assert value.lower() not in text, value
    assert "source_identity" not in statement.payload()
    assert validate_statement(statement.payload()) == []
    # The e-mail was scrubbed by its shape: it was never listed as personal.
    assert "[e-mail removed]" in text


@settings(max_examples=60, deadline=None)
@given(emails=st.lists(st.emails(), min_size=1, max_size=3), words=st.lists(st.text(
    alphabet=st.characters(whitelist_categories=("L", "N", "Zs")), max_size=12), max_size=8))
def test_scrub_leaves_no_e_mail_address(emails: list[str], words: list[str]) -> None:
    text = " ".join(words + emails + words)
    assert validate_statement(changed(decision_facts=scrub(text) or "x")) == []


def test_builder_refuses_rather_than_truncates() -> None:
    with pytest.raises(StatementInvalid) as caught:
        build_statement(facts=facts(ground=IllegalContentGround(legal_ground="law", explanation="x" * 2001)))
    assert [(e.field, e.rule) for e in caught.value.errors] == [("illegal_content_explanation", Rule.MAX_LENGTH)]
    with pytest.raises(StatementInvalid, match="territorial_scope"):
        build_statement(facts=facts(territorial_scope=("DE", "CH")))
    with pytest.raises(ValueError, match="naive"):
        build_statement(facts=facts(content_posted_at=datetime(2026, 2, 27, 23, 40)))  # noqa: DTZ001 (the point)
    with pytest.raises(ValueError, match="restriction_ends"):
        build_statement(facts=facts(restriction_ends=DECIDED + timedelta(days=1)))
    with pytest.raises(KeyError, match="unknown category"):
        build_statement(facts=facts(category="spam"))


def test_puid_is_a_keyed_hash_unique_per_record() -> None:
    puids = {derive_puid(key=KEY, kind="action", local_id=i) for i in range(2000)}
    assert len(puids) == 2000
    one = derive_puid(key=KEY, kind="action", local_id=7)
    assert one == derive_puid(key=KEY, kind="action", local_id=7)  # rebuilt statements keep their puid
    assert one != derive_puid(key=b"another-installation-key-000001", kind="action", local_id=7)
    assert one != derive_puid(key=KEY, kind="decision", local_id=7)
    assert one.startswith("fb-action-") and len(one) == len("fb-action-") + 32
    assert validate_statement(changed(puid=one)) == []
    with pytest.raises(ValueError, match="16 bytes"):
        derive_puid(key=b"short", kind="action", local_id=1)


# --- export --------------------------------------------------------------------------------------------------------


def test_export_writes_json_lines_in_the_database_shape() -> None:
    statements = [build_statement(facts=facts(puid=derive_puid(key=KEY, kind="action", local_id=i), action=action))
                  for i, action in enumerate([ActionKind.REMOVE_CONTENT, ActionKind.REFUSE_UPLOAD,
                                              ActionKind.SUSPEND_CHAT])]
    out = io.StringIO()
    assert export_jsonl([*statements, incompatible()], out) == 4
    lines = out.getvalue().splitlines()
    assert len(lines) == 4
    docs = [json.loads(line) for line in lines]
    assert all(validate_statement(doc) == [] and dsa_stand_in.check_statement(doc) == {} for doc in docs)
    assert len({doc["puid"] for doc in docs}) == 4
    assert docs[0] == statements[0].payload()


def test_export_refuses_a_repeated_puid_and_an_invalid_statement() -> None:
    with pytest.raises(StatementInvalid, match="puid"):
        export_jsonl([good(), good()], io.StringIO())
    with pytest.raises(StatementInvalid, match="decision_facts"):
        export_jsonl([changed(drop=("decision_facts",))], io.StringIO())

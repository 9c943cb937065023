"""Statements of reasons in the DSA Transparency Database schema (v2), and their validation.

Field names and allowed values are those of shared/reference/dsa-statement-of-reasons.md. A statement holds no
personal data: no user names, no message text, no links that identify a person.
"""

from __future__ import annotations

import re
from datetime import date, datetime
from typing import Any

from firebreak.authorities.taxonomy import CATEGORIES, KEYWORDS, STATEMENT_CATEGORIES

DECISION_VISIBILITIES = frozenset({
    "DECISION_VISIBILITY_CONTENT_REMOVED", "DECISION_VISIBILITY_CONTENT_DISABLED",
    "DECISION_VISIBILITY_CONTENT_DEMOTED", "DECISION_VISIBILITY_CONTENT_AGE_RESTRICTED",
    "DECISION_VISIBILITY_CONTENT_INTERACTION_RESTRICTED", "DECISION_VISIBILITY_CONTENT_LABELLED",
    "DECISION_VISIBILITY_OTHER"})
DECISION_GROUNDS = frozenset({"DECISION_GROUND_ILLEGAL_CONTENT", "DECISION_GROUND_INCOMPATIBLE_CONTENT"})
CONTENT_TYPES = frozenset({"CONTENT_TYPE_APP", "CONTENT_TYPE_AUDIO", "CONTENT_TYPE_IMAGE", "CONTENT_TYPE_PRODUCT",
                           "CONTENT_TYPE_SYNTHETIC_MEDIA", "CONTENT_TYPE_TEXT", "CONTENT_TYPE_VIDEO",
                           "CONTENT_TYPE_OTHER"})
SOURCE_TYPES = frozenset({"SOURCE_ARTICLE_16", "SOURCE_TRUSTED_FLAGGER", "SOURCE_TYPE_OTHER_NOTIFICATION",
                          "SOURCE_VOLUNTARY"})
AUTOMATED_DECISIONS = frozenset({"AUTOMATED_DECISION_FULLY", "AUTOMATED_DECISION_PARTIALLY",
                                 "AUTOMATED_DECISION_NOT_AUTOMATED"})
_PUID = re.compile(r"^[a-zA-Z0-9_-]{1,500}$")


def _day(when: datetime | date) -> str:
    return when.strftime("%Y-%m-%d")


def build_statement(
    *, puid: str, category: str, decided_at: datetime, content_date: datetime, facts: str, legal_ground: str | None,
    source_type: str, automated_detection: bool, automated_decision: str, content_kind: str = "image",
    territorial_scope: list[str] | None = None, illegal: bool = True,
) -> dict[str, Any]:
    cat = CATEGORIES.get(category) or CATEGORIES["other"]
    content_types = ["CONTENT_TYPE_VIDEO" if content_kind == "video" else "CONTENT_TYPE_IMAGE",
                     *cat.content_types]
    statement: dict[str, Any] = {
        "decision_visibility": ["DECISION_VISIBILITY_CONTENT_REMOVED"],
        "decision_ground": "DECISION_GROUND_ILLEGAL_CONTENT" if illegal else "DECISION_GROUND_INCOMPATIBLE_CONTENT",
        "content_type": list(dict.fromkeys(content_types)),
        "category": cat.statement_category,
        "decision_facts": facts[:5000],
        "source_type": source_type,
        "automated_detection": "Yes" if automated_detection else "No",
        "automated_decision": automated_decision,
        "content_date": _day(content_date),
        "application_date": _day(decided_at),
        "puid": puid,
    }
    if cat.keywords:
        statement["category_specification"] = list(cat.keywords)
    if illegal:
        statement["illegal_content_legal_ground"] = (legal_ground or "Illegal under applicable law")[:500]
        statement["illegal_content_explanation"] = (
            f"The content was identified as {cat.label.lower()} and removed, with every copy found on the service.")[
            :2000]
    else:
        statement["incompatible_content_ground"] = (legal_ground or "Terms of service")[:500]
        statement["incompatible_content_explanation"] = f"The content is {cat.label.lower()}."[:2000]
    if territorial_scope:
        statement["territorial_scope"] = sorted(set(territorial_scope))
    return statement


def validate_statement(s: dict[str, Any]) -> list[str]:
    """What the Transparency Database would refuse in this statement (empty when valid)."""
    errors: list[str] = []
    if not any(k in s for k in ("decision_visibility", "decision_monetary", "decision_provision",
                                "decision_account")):
        errors.append("one of decision_visibility/monetary/provision/account is required")
    for v in s.get("decision_visibility", []):
        if v not in DECISION_VISIBILITIES:
            errors.append(f"decision_visibility: {v!r} not allowed")
    if s.get("decision_ground") not in DECISION_GROUNDS:
        errors.append("decision_ground: missing or not allowed")
    if s.get("decision_ground") == "DECISION_GROUND_ILLEGAL_CONTENT":
        for key, limit in (("illegal_content_legal_ground", 500), ("illegal_content_explanation", 2000)):
            if not s.get(key) or len(s[key]) > limit:
                errors.append(f"{key}: required, at most {limit} characters")
    if not s.get("content_type") or any(v not in CONTENT_TYPES for v in s["content_type"]):
        errors.append("content_type: required, allowed values only")
    if s.get("category") not in STATEMENT_CATEGORIES:
        errors.append(f"category: {s.get('category')!r} not allowed")
    for v in s.get("category_specification", []):
        if v not in KEYWORDS:
            errors.append(f"category_specification: {v!r} not in this taxonomy's keyword list")
    for key in ("content_date", "application_date"):
        if not re.fullmatch(r"\d{4}-\d{2}-\d{2}", str(s.get(key, ""))):
            errors.append(f"{key}: YYYY-MM-DD required")
    if not s.get("decision_facts") or len(s["decision_facts"]) > 5000:
        errors.append("decision_facts: required, at most 5000 characters")
    if s.get("source_type") not in SOURCE_TYPES:
        errors.append("source_type: missing or not allowed")
    if s.get("automated_detection") not in ("Yes", "No"):
        errors.append("automated_detection: Yes or No")
    if s.get("automated_decision") not in AUTOMATED_DECISIONS:
        errors.append("automated_decision: missing or not allowed")
    if not _PUID.match(str(s.get("puid", ""))):
        errors.append("puid: [a-zA-Z0-9-_], at most 500")
    return errors


def statement_for_order_item(*, order: Any, position: int) -> dict[str, Any]:
    """The statement for a removal on an authority's order (a notification from an authority)."""
    decided = order.actioned_at or order.received_at
    return build_statement(
        puid=f"{order.tracking_id}-{position}",
        category=order.category, decided_at=decided, content_date=order.received_at,
        facts=f"Removed on an order from a competent authority ({order.legal_basis or 'legal basis as stated'}), "
              "together with every exact and near-duplicate copy found on the service.",
        legal_ground=order.legal_basis, source_type="SOURCE_TYPE_OTHER_NOTIFICATION", automated_detection=False,
        automated_decision="AUTOMATED_DECISION_NOT_AUTOMATED", territorial_scope=order.territorial_scope or None)

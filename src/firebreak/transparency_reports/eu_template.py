"""The quantitative template of the EU harmonised transparency report (Commission Implementing Regulation (EU)
2024/2835, Annex I, Part II, section 1), filled from Firebreak's records, as CSV files (UTF-8, RFC 4180).

One file per section of the template: 1.1 report identification; 1.2.1 Member State orders to act against illegal
content (by type of illegal content and Member State, with median times); 1.2.2 orders to provide information;
1.3 notices under Art. 16; 1.4 own-initiative content moderation; 1.5.1 complaints, out-of-court disputes and
suspensions; 1.6 automated means and indicators of accuracy; 1.7 human resources; 1.8 average monthly active
recipients. A field Firebreak cannot know is left empty with ``filled_by`` = ``operator`` and is listed in
``operator_fields.csv`` with the reason. The rows of "type of illegal content" are the statement categories of the
DSA Transparency Database's schema v2, which the template's categories follow. docs/transparency.md says what was
uncertain in building this from the Annex.
"""

from __future__ import annotations

import csv
import io
from collections import Counter
from datetime import timedelta

from firebreak import __version__
from firebreak.authorities.taxonomy import CATEGORIES
from firebreak.transparency.dsa import StatementCategory
from firebreak.transparency_reports.service import Durations, Report

OPERATOR_FILE = "operator_fields.csv"
MEMBER_STATES = ("AT", "BE", "BG", "HR", "CY", "CZ", "DK", "EE", "FI", "FR", "DE", "GR", "HU", "IE", "IT", "LV",
                 "LT", "LU", "MT", "NL", "PL", "PT", "RO", "SK", "SI", "ES", "SE")
# Orders name illegal content: a breach of the terms of service is not a type of illegal content.
ILLEGAL_CONTENT_TYPES = tuple(c.value for c in StatementCategory if c != StatementCategory.OTHER_VIOLATION_TC)
RESTRICTIONS = {"remove_message": "DECISION_VISIBILITY_CONTENT_REMOVED",
                "suspend_chat": "DECISION_VISIBILITY_CONTENT_DISABLED",
                "restrict_account": "DECISION_PROVISION_PARTIAL_SUSPENSION",
                "suspend_account": "DECISION_ACCOUNT_SUSPENDED"}


def statement_category(category: str) -> str:
    """A Firebreak category (taxonomy name) as the template's type of illegal content."""
    known = CATEGORIES.get(category)
    return known.statement_category if known else StatementCategory.NOT_SPECIFIED_NOTICE.value


def _country(code: str) -> str:
    code = code.upper()
    return "GR" if code == "EL" else code


def _hours(value: float | None) -> str:
    return "" if value is None else f"{value / 3600:.2f}"


def _csv(header: list[str], rows: list[list[object]]) -> bytes:
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\r\n")
    writer.writerow(header)
    writer.writerows(rows)
    return buf.getvalue().encode("utf-8")


class _Operator:
    """Fields left for the operator, with the reason Firebreak cannot fill them."""

    def __init__(self) -> None:
        self.rows: list[list[object]] = []

    def field(self, section: str, name: str, why: str) -> list[object]:
        self.rows.append([section, name, why])
        return [section, name, "", "operator"]


def files(report: Report) -> dict[str, bytes]:
    """Every CSV file of the template, by file name."""
    operator = _Operator()
    out: dict[str, bytes] = {}
    o, r, v, d, a = report.orders, report.removals, report.victim_reports, report.decisions, report.appeals
    last = (report.end - timedelta(days=1)).date()
    ident: list[list[object]] = [
        ["1.1", "provider_name", report.provider, "firebreak"],
        ["1.1", "service_name", report.platform, "firebreak"],
        ["1.1", "reporting_period_start", report.start.date().isoformat(), "firebreak"],
        ["1.1", "reporting_period_end", last.isoformat(), "firebreak"],
        operator.field("1.1", "date_of_publication", "set when the operator publishes the report"),
        operator.field("1.1", "type_of_service", "intermediary, hosting or online platform: the provider's legal "
                                                 "assessment"),
        operator.field("1.1", "service_identifier", "the identifier the provider uses towards the Commission"),
        operator.field("1.1", "previous_report_reference", "where the provider published its previous report"),
        ["1.1", "generated_by", f"Firebreak {__version__} on {report.generated_at.date().isoformat()}", "firebreak"],
    ]
    out["1_1_report_identification.csv"] = _csv(["section", "field", "value", "filled_by"], ident)

    # 1.2.1 Member State orders to act against illegal content.
    matrix: dict[str, Counter[str]] = {t: Counter() for t in ILLEGAL_CONTENT_TYPES}
    outside: Counter[str] = Counter()
    ack: dict[str, list[Durations]] = {}
    for category, countries in o.by_category_country.items():
        kind = statement_category(category)
        for country, n in countries.items():
            if _country(country) in MEMBER_STATES:
                matrix[kind][_country(country)] += n
            else:
                outside[country] += n
    rows: list[list[object]] = []
    for kind in ILLEGAL_CONTENT_TYPES:
        rows.append([kind, *[matrix[kind][ms] for ms in MEMBER_STATES], sum(matrix[kind].values())])
    rows.append(["TOTAL", *[sum(matrix[k][ms] for k in ILLEGAL_CONTENT_TYPES) for ms in MEMBER_STATES],
                 sum(sum(c.values()) for c in matrix.values())])
    out["1_2_1_orders_to_act_by_member_state.csv"] = _csv(["type_of_illegal_content", *MEMBER_STATES, "total"], rows)
    for category, (to_ack, to_act) in o.by_category_durations.items():
        ack.setdefault(statement_category(category), []).extend([to_ack, to_act])
    times: list[list[object]] = []
    for kind in ILLEGAL_CONTENT_TYPES:
        pair = ack.get(kind)
        if pair is None:
            times.append([kind, 0, "", ""])
            continue
        count = sum(p.count for p in pair[0::2])
        # Medians of several Firebreak categories under one type are not combined: the type's median is given
        # when it has one Firebreak category (the usual case), otherwise it is left to the full report.
        single = len(pair) == 2
        times.append([kind, count, _hours(pair[0].median_seconds) if single else "",
                      _hours(pair[1].median_seconds) if single else ""])
    out["1_2_1_orders_to_act_median_times.csv"] = _csv(
        ["type_of_illegal_content", "orders_measured", "median_hours_to_inform_authority_of_receipt",
         "median_hours_to_give_effect_to_the_order"], times)
    out["1_2_1_orders_from_outside_the_union.csv"] = _csv(
        ["country", "orders", "note"],
        [[c, n, "not a Member State order: not in the template, shown for completeness"]
         for c, n in sorted(outside.items())])

    # 1.2.2 Orders to provide information: Firebreak does not take them.
    operator.field("1.2.2", "orders_to_provide_information", "Firebreak's hotline handles orders to act against "
                                                             "content and preservation requests, not orders to "
                                                             "provide information (Art. 10)")
    out["1_2_2_orders_to_provide_information.csv"] = _csv(
        ["type_of_illegal_content", *MEMBER_STATES, "total", "filled_by"],
        [[kind, *[""] * len(MEMBER_STATES), "", "operator"] for kind in ILLEGAL_CONTENT_TYPES])

    # 1.3 Notices under Art. 16 (reports from people depicted and others).
    notices: list[list[object]] = []
    by_type: dict[str, list[int]] = {}
    for notice in v.by_category_detail:
        counts = by_type.setdefault(statement_category(notice.category), [0, 0, 0, 0])
        for i, n in enumerate((notice.received, notice.actioned_illegal, notice.actioned_terms, notice.automated)):
            counts[i] += n
    for kind in ILLEGAL_CONTENT_TYPES:
        received, illegal, terms, automated = by_type.get(kind, [0, 0, 0, 0])
        notices.append([kind, received, "", illegal, terms, automated])
    operator.field("1.3", "notices_submitted_by_trusted_flaggers", "Firebreak does not know which notifiers hold "
                                                                  "trusted flagger status under Art. 22")
    out["1_3_notices_article_16.csv"] = _csv(
        ["type_of_illegal_content", "notices_received", "notices_by_trusted_flaggers",
         "actions_taken_on_the_basis_of_the_law", "actions_taken_on_the_basis_of_terms_and_conditions",
         "notices_processed_by_automated_means"], notices)
    out["1_3_notices_median_time.csv"] = _csv(
        ["notices_with_an_outcome", "median_hours_to_take_action"],
        [[v.time_to_outcome.count, _hours(v.time_to_outcome.median_seconds)]])

    # 1.4 Own-initiative content moderation.
    own: list[list[object]] = []
    for row in r.own_initiative:
        own.append([statement_category(row.category) if row.category != "unspecified" else "UNSPECIFIED",
                    RESTRICTIONS.get(row.restriction, row.restriction), row.total, row.automated_detection,
                    row.automated_decision])
    out["1_4_own_initiative_content_moderation.csv"] = _csv(
        ["type_of_illegal_content_or_ground", "type_of_restriction", "restrictions",
         "detected_by_automated_means", "decided_by_automated_means"], own)

    # 1.5.1 Complaints, out-of-court disputes, suspensions.
    complaints: list[list[object]] = [
        ["1.5.1", "complaints_received", a.received, "firebreak"],
        ["1.5.1", "decisions_upheld", a.upheld, "firebreak"],
        ["1.5.1", "decisions_reversed", a.reversed, "firebreak"],
        ["1.5.1", "complaints_pending", a.open, "firebreak"],
        ["1.5.1", "median_hours_to_decide", _hours(a.time_to_resolve.median_seconds), "firebreak"],
        operator.field("1.5.1", "disputes_submitted_to_out_of_court_bodies", "disputes are settled outside "
                                                                             "Firebreak (Art. 21)"),
        operator.field("1.5.1", "out_of_court_outcomes", "disputes are settled outside Firebreak (Art. 21)"),
        ["1.5.1", "suspensions_for_manifestly_illegal_content", r.accounts_suspended, "firebreak"],
        operator.field("1.5.1", "suspensions_for_manifestly_unfounded_notices", "Firebreak does not suspend "
                                                                                "notifiers"),
        operator.field("1.5.1", "suspensions_for_manifestly_unfounded_complaints", "Firebreak does not suspend "
                                                                                   "complainants"),
    ]
    out["1_5_1_complaints_and_suspensions.csv"] = _csv(["section", "field", "value", "filled_by"], complaints)

    # 1.6 Automated means and indicators of accuracy.
    reviewed = d.matches_confirmed + d.matches_dismissed
    automation: list[list[object]] = [
        ["1.6", "restrictions_by_automated_means_alone", d.automated_removals, "firebreak"],
        ["1.6", "restrictions_decided_or_confirmed_by_a_person", d.human_removals, "firebreak"],
        ["1.6", "matches_reviewed_by_a_person", reviewed, "firebreak"],
        ["1.6", "matches_found_false_in_review", d.matches_dismissed, "firebreak"],
        ["1.6", "error_rate_in_review", f"{d.matches_dismissed / reviewed:.4f}" if reviewed else "", "firebreak"],
        ["1.6", "automated_decisions_reversed_on_appeal", a.reversed_automated, "firebreak"],
        operator.field("1.6", "qualitative_description_of_automated_means", "the qualitative template: hash "
                                                                            "matching is described in Firebreak's "
                                                                            "docs, the operator adds its own tools"),
    ]
    out["1_6_automated_means.csv"] = _csv(["section", "field", "value", "filled_by"], automation)
    out["1_7_human_resources.csv"] = _csv(["section", "field", "value", "filled_by"], [
        operator.field("1.7", "human_resources_dedicated_to_content_moderation", "staffing is not recorded in "
                                                                                 "Firebreak (VLOPs only)"),
        operator.field("1.7", "qualifications_and_linguistic_expertise", "not recorded in Firebreak (VLOPs only)")])
    out["1_8_average_monthly_active_recipients.csv"] = _csv(
        ["member_state", "average_monthly_active_recipients", "filled_by"],
        [[ms, "", "operator"] for ms in MEMBER_STATES])
    operator.rows.append(["1.8", "average_monthly_active_recipients", "Firebreak does not count the service's users"])
    out[OPERATOR_FILE] = _csv(["section", "field", "why Firebreak cannot fill it"], operator.rows)
    return out

"""The report of a quarter shows the counts and the medians the test works out from its own scenario, in every
format; an empty period gives an empty but valid report."""

from __future__ import annotations

import csv
import io
import json
from datetime import timedelta

import pytest
from openpyxl import load_workbook

from firebreak.bootstrap.system import System
from firebreak.transparency_reports import writers
from firebreak.transparency_reports.flows import ReportError
from firebreak.transparency_reports.korea import duration_ko
from tests.transparency_reports.conftest import END, ORDERS, START, Scenario, median, p90


def test_the_quarter_shows_what_the_scenario_put_in(system: System, scenario: Scenario) -> None:
    report = system.transparency_reports.build(start=START, end=END)
    o, r, v, d, a = report.orders, report.removals, report.victim_reports, report.decisions, report.appeals

    assert o.received == sum(scenario.orders_by_authority.values()) == 8
    assert {row.key: row.count for row in o.by_authority} == scenario.orders_by_authority
    assert {row.key: row.country for row in o.by_authority}["Bundeskriminalamt"] == "DE"
    assert {row.key: row.count for row in o.by_country} == scenario.orders_by_country
    assert {row.key: row.count for row in o.by_category} == scenario.orders_by_category
    assert o.preservation_requests == scenario.preservation_requests == 1
    assert (o.items_removed, o.items_not_found, o.items_declined, o.items_already_removed, o.items_pending) == (
        scenario.items["removed"], scenario.items["not_found"], scenario.items["declined"],
        scenario.items["already_removed"], scenario.items["pending"])

    assert o.time_to_acknowledge.count == len(scenario.ack_seconds)
    assert o.time_to_acknowledge.median_seconds == median(scenario.ack_seconds)
    assert o.time_to_acknowledge.p90_seconds == p90(scenario.ack_seconds)
    assert o.time_to_act.count == len(scenario.act_seconds) == 7  # the order still pending has no time to act
    assert o.time_to_act.median_seconds == median(scenario.act_seconds) == 3_600
    assert o.time_to_act.p90_seconds == p90(scenario.act_seconds) == 86_400

    assert r.ordered_items_removed == scenario.ordered_removed
    assert r.copies_removed == scenario.copies_removed
    assert r.removed_on_decision == scenario.decision_removed
    assert r.content_removed == scenario.ordered_removed + scenario.copies_removed + scenario.decision_removed
    assert r.reuploads_caught == scenario.reuploads == 2  # the one caught before the quarter is not counted
    assert r.uploads_refused == scenario.uploads_refused == 3  # once each, in the quarter only
    assert {row.key: row.count for row in r.failed} == scenario.failed and r.failed_total == 3
    assert r.accounts_suspended == scenario.accounts_suspended

    assert v.received == sum(scenario.reports.values())
    assert (v.actioned, v.declined) == (scenario.reports["actioned"], scenario.reports["declined"])
    assert v.time_to_outcome.median_seconds == median(scenario.report_seconds) == 5 * 3600

    assert (d.automated, d.human) == (scenario.decisions_automated, scenario.decisions_human)
    assert d.automated_removals == scenario.copies_removed
    assert d.human_removals == scenario.ordered_removed + scenario.decision_removed
    assert (a.received, a.reversed, a.upheld, a.open) == (3, 1, 1, 1)
    assert a.reversed_automated == 1  # the first decision appealed was automated
    assert a.time_to_resolve.median_seconds == median(scenario.appeal_seconds) == 35 * 3600


def test_every_format_carries_the_same_figures(system: System, scenario: Scenario) -> None:
    report = system.transparency_reports.build(start=START, end=END)
    expected_act = median(scenario.act_seconds)

    data = json.loads(writers.render(report, "json"))
    assert data["orders"]["received"] == 8 and data["orders"]["time_to_act"]["median_seconds"] == expected_act
    assert data["last_day"] == "2026-03-31"

    rows = list(csv.DictReader(io.StringIO(writers.render(report, "csv").decode())))
    by_name = {(row["section"], row["figure"], row["dimension"]): row["value"] for row in rows}
    assert by_name[("orders", "received", "")] == "8"
    assert float(by_name[("orders", "time_to_act_median_seconds", "")]) == expected_act
    assert by_name[("orders", "by_country", "DE")] == str(scenario.orders_by_country["DE"])
    assert by_name[("removals", "copies_removed", "")] == str(scenario.copies_removed)

    book = load_workbook(io.BytesIO(writers.render(report, "xlsx")))
    sheet = book["Figures"]
    cells = {(row[0], row[1], row[2] or ""): row[3] for row in sheet.iter_rows(min_row=2, values_only=True)}
    assert cells[("orders", "received", "")] == 8
    assert cells[("appeals", "reversed", "")] == 1
    assert {row[0]: row[2] for row in book["Orders by authority"].iter_rows(min_row=2, values_only=True)} == \
        scenario.orders_by_authority

    html = writers.render(report, "html").decode()
    assert html.count("<svg") == 4 and "<script" not in html
    assert "Orders by category" in html and "Bundeskriminalamt" in html
    assert "1 h 00 min" in html  # the median time to act, as a person reads it


def test_the_eu_template_has_its_sections_filled_from_the_records(system: System, scenario: Scenario) -> None:
    files = writers.eu_files(system.transparency_reports.build(start=START, end=END))
    assert {"1_1_report_identification.csv", "1_2_1_orders_to_act_by_member_state.csv",
            "1_2_1_orders_to_act_median_times.csv", "1_2_2_orders_to_provide_information.csv",
            "1_3_notices_article_16.csv", "1_4_own_initiative_content_moderation.csv",
            "1_5_1_complaints_and_suspensions.csv", "1_6_automated_means.csv", "1_7_human_resources.csv",
            "1_8_average_monthly_active_recipients.csv", "operator_fields.csv"} <= set(files)

    def table(name: str) -> list[dict[str, str]]:
        return list(csv.DictReader(io.StringIO(files[name].decode("utf-8"))))

    matrix = {row["type_of_illegal_content"]: row for row in table("1_2_1_orders_to_act_by_member_state.csv")}
    # Member State orders only: Germany's two and France's two; Korea's are outside the Union.
    assert matrix["STATEMENT_CATEGORY_PROTECTION_OF_MINORS"]["DE"] == "1"
    assert matrix["STATEMENT_CATEGORY_PROTECTION_OF_MINORS"]["FR"] == "1"
    assert matrix["STATEMENT_CATEGORY_RISK_FOR_PUBLIC_SECURITY"]["DE"] == "1"
    assert matrix["TOTAL"]["total"] == str(scenario.orders_by_country["DE"] + scenario.orders_by_country["FR"])
    outside = table("1_2_1_orders_from_outside_the_union.csv")
    assert [(row["country"], row["orders"]) for row in outside] == [("KR", str(scenario.orders_by_country["KR"]))]
    complaints = {row["field"]: row for row in table("1_5_1_complaints_and_suspensions.csv")}
    assert complaints["complaints_received"]["value"] == "3"
    assert complaints["decisions_reversed"]["value"] == "1"
    assert complaints["median_hours_to_decide"]["value"] == "35.00"
    assert complaints["disputes_submitted_to_out_of_court_bodies"]["filled_by"] == "operator"
    assert complaints["disputes_submitted_to_out_of_court_bodies"]["value"] == ""
    operator = {row["field"] for row in table("operator_fields.csv")}
    assert {"date_of_publication", "notices_submitted_by_trusted_flaggers", "average_monthly_active_recipients",
            "disputes_submitted_to_out_of_court_bodies"} <= operator
    notices = {row["type_of_illegal_content"]: row for row in table("1_3_notices_article_16.csv")}
    assert notices["STATEMENT_CATEGORY_CYBER_VIOLENCE"]["notices_received"] == "4"
    own = table("1_4_own_initiative_content_moderation.csv")
    copies = sum(int(row["restrictions"]) for row in own if row["type_of_restriction"] ==
                 "DECISION_VISIBILITY_CONTENT_REMOVED")
    assert copies == scenario.copies_removed + scenario.decision_removed
    for data in files.values():  # RFC 4180: CRLF line ends, UTF-8
        assert b"\r\n" in data and b"\n" not in data.replace(b"\r\n", b"")


def test_the_korean_report_counts_digital_sex_crime_content_only(system: System, scenario: Scenario) -> None:
    report = system.transparency_reports.build(start=START, end=END, categories=writers.KR_CATEGORIES)
    assert report.orders.received == sum(n for c, n in scenario.orders_by_category.items()
                                         if c in writers.KR_CATEGORIES) == 7  # not the terrorist content
    html = writers.korean(report, "html").decode()
    assert '<html lang="ko">' in html and "불법촬영물등" in html and "재유통 방지" in html
    assert f"{report.orders.received}건" in html
    rows = list(csv.reader(io.StringIO(writers.korean(report, "csv").decode("utf-8-sig"))))
    assert rows[0] == ["구분", "항목", "값", "비고"]
    values = {row[1]: row[2] for row in rows[1:]}
    assert values["삭제"] == f"{report.orders.items_removed}건"
    acted = [act for _, category, _, _, act, _, _ in ORDERS if act and category in writers.KR_CATEGORIES]
    assert values["접수부터 조치까지 (중앙값)"] == duration_ko(median(acted))
    assert duration_ko(median(acted)) == "1시간 15분"  # 3,600 s and 5,400 s are the middle two of six


def test_an_empty_period_gives_an_empty_but_valid_report(system: System) -> None:
    report = system.transparency_reports.build(start=START, end=END)
    assert report.empty and report.orders.received == 0
    assert report.orders.time_to_act.median_seconds is None
    assert json.loads(writers.render(report, "json"))["orders"]["received"] == 0
    assert "Nothing happened in this period" in writers.render(report, "html").decode()
    assert list(csv.DictReader(io.StringIO(writers.render(report, "csv").decode())))
    load_workbook(io.BytesIO(writers.render(report, "xlsx")))
    files = writers.eu_files(report)
    assert list(csv.DictReader(io.StringIO(files["1_2_1_orders_to_act_by_member_state.csv"].decode())))[-1][
        "total"] == "0"
    assert "0건" in writers.korean(report, "html").decode()


def test_a_period_that_ends_before_it_starts_is_refused(system: System) -> None:
    with pytest.raises(ReportError, match="ends before it starts"):
        system.transparency_reports.build(start=END, end=START)
    with pytest.raises(ReportError, match="ends before it starts"):
        system.transparency_reports.build(start=START, end=START - timedelta(days=1))

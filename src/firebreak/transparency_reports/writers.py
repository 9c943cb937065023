"""A report as JSON, CSV, HTML (with inline SVG charts) or XLSX; the EU template and the Korean report live in
``eu_template.py`` and ``korea.py`` and are reached from here too."""

from __future__ import annotations

import csv
import io
import json
from dataclasses import asdict, dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any, Literal

from markupsafe import Markup

from firebreak.transparency_reports import eu_template, korea
from firebreak.transparency_reports.charts import bar_chart
from firebreak.transparency_reports.service import Durations, Report, Row

Format = Literal["html", "csv", "json", "xlsx"]
FORMATS: tuple[str, ...] = ("html", "csv", "json", "xlsx")
EU_OPERATOR_FILE = eu_template.OPERATOR_FILE
KR_CATEGORIES = korea.CATEGORIES
MEDIA_TYPES = {"html": "text/html; charset=utf-8", "csv": "text/csv; charset=utf-8", "json": "application/json",
               "xlsx": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"}


@dataclass(frozen=True)
class Figure:
    section: str
    name: str
    label: str
    value: Any
    dimension: str = ""


def duration_words(seconds: float | None) -> str:
    """Seconds as a person reads them: "45 s", "12 min", "3 h 05 min", "2 d 4 h"."""
    if seconds is None:
        return "—"
    total = round(seconds)
    if total < 60:
        return f"{total} s"
    minutes, _ = divmod(total, 60)
    if minutes < 60:
        return f"{minutes} min"
    hours, minutes = divmod(minutes, 60)
    if hours < 48:
        return f"{hours} h {minutes:02d} min"
    days, hours = divmod(hours, 24)
    return f"{days} d {hours} h"


def last_day(report: Report) -> str:
    return (report.end - timedelta(days=1)).date().isoformat()


def _durations(section: str, name: str, label: str, value: Durations) -> list[Figure]:
    return [Figure(section, f"{name}_count", f"{label}: orders measured", value.count),
            Figure(section, f"{name}_median_seconds", f"{label}: median (seconds)", value.median_seconds),
            Figure(section, f"{name}_p90_seconds", f"{label}: 90th percentile (seconds)", value.p90_seconds)]


def _table(section: str, name: str, label: str, rows: list[Row]) -> list[Figure]:
    return [Figure(section, name, label, r.count, r.key) for r in rows]


def figures(report: Report) -> list[Figure]:
    """Every figure of the report, one per line: what CSV and XLSX hold."""
    o, r, v, d, a, s, e = (report.orders, report.removals, report.victim_reports, report.decisions, report.appeals,
                           report.statements, report.evidence)
    out = [
        Figure("period", "from", "First day", report.start.date().isoformat()),
        Figure("period", "to", "Last day", last_day(report)),
        Figure("period", "generated_at", "Generated at (UTC)", report.generated_at.isoformat()),
        Figure("period", "platform", "Service", report.platform),
        Figure("period", "categories", "Categories", ", ".join(report.categories) if report.categories else "all"),
        Figure("orders", "received", "Orders received", o.received),
        Figure("orders", "preservation_requests", "of which preservation requests", o.preservation_requests),
        *[Figure("orders", "by_authority", f"Orders from {row.key} ({row.country})", row.count, row.key)
          for row in o.by_authority],
        *_table("orders", "by_country", "Orders by country", o.by_country),
        *_table("orders", "by_category", "Orders by category", o.by_category),
        *_table("orders", "by_status", "Orders by status", o.by_status),
        Figure("orders", "items", "Items named in these orders", o.items),
        Figure("orders", "items_removed", "Items removed", o.items_removed),
        Figure("orders", "items_geo_restricted", "Items restricted in the ordering country", o.items_geo_restricted),
        Figure("orders", "items_already_removed", "Items already gone", o.items_already_removed),
        Figure("orders", "items_not_found", "Items not found on the service", o.items_not_found),
        Figure("orders", "items_declined", "Items declined", o.items_declined),
        Figure("orders", "items_pending", "Items still pending", o.items_pending),
        *_durations("orders", "time_to_acknowledge", "Time to acknowledge", o.time_to_acknowledge),
        *_durations("orders", "time_to_act", "Time to act", o.time_to_act),
        Figure("orders", "met_deadline", "Closed orders that met their deadline", o.met_deadline),
        Figure("orders", "missed_deadline", "Closed orders that missed their deadline", o.missed_deadline),
        Figure("removals", "content_removed", "Messages removed", r.content_removed),
        Figure("removals", "ordered_items_removed", "of which items named by an order", r.ordered_items_removed),
        Figure("removals", "copies_removed", "of which copies found by matching", r.copies_removed),
        Figure("removals", "removed_on_decision", "of which after a moderator's decision", r.removed_on_decision),
        *_table("removals", "removed_by_category", "Messages removed by category", r.removed_by_category),
        Figure("removals", "reuploads_caught", "Re-uploads caught and removed at once", r.reuploads_caught),
        Figure("removals", "uploads_refused", "Uploads refused or removed on posting because they matched a bank",
               r.uploads_refused),
        Figure("removals", "accounts_restricted", "Accounts restricted", r.accounts_restricted),
        Figure("removals", "accounts_suspended", "Accounts suspended", r.accounts_suspended),
        Figure("removals", "chats_suspended", "Chats suspended", r.chats_suspended),
        Figure("removals", "failed_total", "Actions that failed", r.failed_total),
        *_table("removals", "failed", "Failed actions by kind", r.failed),
        Figure("victim_reports", "received", "Reports from people depicted and others", v.received),
        Figure("victim_reports", "actioned", "Reports acted on", v.actioned),
        Figure("victim_reports", "declined", "Reports declined", v.declined),
        *_table("victim_reports", "by_status", "Reports by status", v.by_status),
        *_table("victim_reports", "by_category", "Reports by category", v.by_category),
        *_durations("victim_reports", "time_to_outcome", "Time to an outcome", v.time_to_outcome),
        Figure("decisions", "decisions", "Decisions recorded", d.decisions),
        Figure("decisions", "automated", "Automated decisions", d.automated),
        Figure("decisions", "human", "Decisions by a person", d.human),
        Figure("decisions", "automated_removals", "Removals by automated means alone", d.automated_removals),
        Figure("decisions", "human_removals", "Removals a person decided or confirmed", d.human_removals),
        Figure("decisions", "matches_confirmed", "Matches confirmed in review", d.matches_confirmed),
        Figure("decisions", "matches_dismissed", "Matches dismissed in review (false matches)", d.matches_dismissed),
        Figure("appeals", "received", "Appeals received", a.received),
        Figure("appeals", "open", "Appeals open", a.open),
        Figure("appeals", "upheld", "Appeals rejected (decision upheld)", a.upheld),
        Figure("appeals", "reversed", "Decisions reversed on appeal", a.reversed),
        Figure("appeals", "reversed_automated", "of which automated decisions", a.reversed_automated),
        *_durations("appeals", "time_to_resolve", "Time to resolve an appeal", a.time_to_resolve),
        Figure("statements", "created", "Statements of reasons written", s.created),
        Figure("statements", "submitted", "sent to the EU Transparency Database", s.submitted),
        Figure("statements", "refused", "refused by the database", s.refused),
        Figure("statements", "invalid", "held back as invalid", s.invalid),
        Figure("statements", "not_yet_sent", "not sent yet", s.not_yet_sent),
        Figure("evidence", "preserved", "Evidence records preserved", e.preserved),
        Figure("evidence", "purged", "Evidence records purged after retention", e.purged),
        Figure("evidence", "holds_placed", "Legal holds placed", e.holds_placed),
        Figure("evidence", "packages_exported", "Evidence packages exported", e.packages_exported),
    ]
    return out


def to_json(report: Report) -> dict[str, Any]:
    def clean(value: Any) -> Any:
        if isinstance(value, datetime):
            return value.isoformat()
        if isinstance(value, dict):
            return {k: clean(v) for k, v in value.items()}
        if isinstance(value, list | tuple):
            return [clean(v) for v in value]
        return value

    data: dict[str, Any] = clean(asdict(report))
    data["format"] = "firebreak-transparency-report/1"
    data["last_day"] = last_day(report)
    return data


def to_csv(report: Report) -> bytes:
    buf = io.StringIO()
    writer = csv.writer(buf)
    writer.writerow(["section", "figure", "dimension", "value", "label"])
    for f in figures(report):
        writer.writerow([f.section, f.name, f.dimension, "" if f.value is None else f.value, f.label])
    return buf.getvalue().encode()


def to_xlsx(report: Report) -> bytes:
    from openpyxl import Workbook
    from openpyxl.styles import Font

    book = Workbook()
    sheet = book.create_sheet("Figures", 0)
    for extra in book.sheetnames[1:]:
        del book[extra]
    sheet.append(["Section", "Figure", "Dimension", "Value", "Label"])
    for cell in sheet[1]:
        cell.font = Font(bold=True)
    for f in figures(report):
        sheet.append([f.section, f.name, f.dimension, f.value, f.label])
    for column, width in zip("ABCDE", (16, 30, 36, 14, 60), strict=True):
        sheet.column_dimensions[column].width = width
    for title, rows in (("Orders by authority", report.orders.by_authority),
                        ("Orders by country", report.orders.by_country),
                        ("Orders by category", report.orders.by_category)):
        table = book.create_sheet(title)
        table.append(["Name", "Country", "Orders"] if title.endswith("authority") else ["Name", "Orders"])
        for row in rows:
            table.append([row.key, row.country, row.count] if title.endswith("authority") else [row.key, row.count])
    buf = io.BytesIO()
    book.save(buf)
    return buf.getvalue()


def charts(report: Report) -> dict[str, Markup]:
    o, r, d = report.orders, report.removals, report.decisions
    return {
        "by_category": bar_chart("Orders by category", [(row.key, row.count) for row in o.by_category]),
        "by_country": bar_chart("Orders by country", [(row.key, row.count) for row in o.by_country]),
        "removals": bar_chart("Messages removed, by cause", [
            ("named by an order", r.ordered_items_removed), ("copies found by matching", r.copies_removed),
            ("after a moderator's decision", r.removed_on_decision)]),
        "automation": bar_chart("Removals: automated or by a person", [
            ("automated alone", d.automated_removals), ("by a person", d.human_removals)]),
    }


def html_context(report: Report) -> dict[str, Any]:
    return {"report": report, "charts": charts(report), "last_day": last_day(report), "duration": duration_words}


def to_html(report: Report) -> bytes:
    from firebreak.web.templating import env

    return env.get_template("transparency_reports/standalone.html").render(html_context(report)).encode()


def render(report: Report, fmt: Format) -> bytes:
    if fmt == "json":
        return (json.dumps(to_json(report), indent=2, ensure_ascii=False) + "\n").encode()
    if fmt == "csv":
        return to_csv(report)
    if fmt == "xlsx":
        return to_xlsx(report)
    if fmt == "html":
        return to_html(report)
    raise ValueError(f"--format: one of {', '.join(FORMATS)}")


def korean(report: Report, fmt: Format) -> bytes:
    if fmt == "csv":
        return korea.to_csv(report)
    if fmt == "html":
        return korea.to_html(report)
    raise ValueError("the Korean report is written as html or csv")


def eu_files(report: Report) -> dict[str, bytes]:
    return eu_template.files(report)


def write_eu_template(report: Report, folder: Path) -> list[Path]:
    folder.mkdir(parents=True, exist_ok=True)
    written = []
    for name, data in eu_template.files(report).items():
        path = folder / name
        tmp = path.with_suffix(".part")
        tmp.write_bytes(data)
        tmp.replace(path)
        written.append(path)
    return written

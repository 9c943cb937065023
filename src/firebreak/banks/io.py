"""Import and export of hash lists: CSV, ThreatExchange-style lines, StopNCII hash records.

Bad lines are reported by line number; the good lines of the same file are still imported.

- ``csv``: a header is optional; columns ``signal_type,value[,quality,external_id,note,status]``.
- ``te``: one ``<signal_type> <value>`` per line, e.g. ``pdq 3f0a...``; ``#`` starts a comment.
- ``stopncii``: hash records as JSON (an array, ``{"hashRecords": [...]}``, or one object per line) with
  ``signalType`` (``ImagePDQ``, ``VideoMD5``), ``hashValue``, ``hashStatus`` (``Active``, ``Withdrawn``,
  ``Deleted``) and optionally ``caseNumber``. Withdrawn or Deleted removes (withdraws) the entry.
"""

from __future__ import annotations

import csv
import io
import json
import re
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any, Literal

from sqlalchemy import select
from sqlalchemy.orm import Session

from firebreak.audit import service as audit
from firebreak.banks.models import Bank, BankEntry, EntryStatus, Provenance
from firebreak.banks.schemas import ImportLineError, ImportReport
from firebreak.banks.service import BankError, EntryInput, add_entries, canonical_value, value_digest
from firebreak.core.clock import Clock

Format = Literal["csv", "te", "stopncii"]
FORMATS: tuple[str, ...] = ("csv", "te", "stopncii")
STOPNCII_TYPES = {"imagepdq": "pdq", "videomd5": "md5", "imagemd5": "md5", "videopdq": "vpdq"}
STOPNCII_TYPES_OUT = {"pdq": "ImagePDQ", "md5": "VideoMD5"}
WITHDRAWN_STATUSES = {"withdrawn", "deleted"}
BATCH = 1000
_HASH_RECORDS = re.compile(r'\{\s*"hashRecords"\s*:')


@dataclass(frozen=True)
class ParsedLine:
    line: int
    entry: EntryInput
    withdraw: bool = False


def _csv_lines(text: str) -> Iterator[ParsedLine | ImportLineError]:
    reader = csv.reader(io.StringIO(text))
    first_row = True
    end = 0
    for row in reader:
        # A quoted field may span lines: a row is numbered by the line it starts on.
        number, end = end + 1, reader.line_num
        if not row or all(not c.strip() for c in row) or row[0].strip().startswith("#"):
            continue
        if first_row:
            first_row = False
            if row[0].strip().lower() in {"signal_type", "type", "signal"}:
                continue
        if len(row) < 2:
            yield ImportLineError(line=number, message="expected at least signal_type,value")
            continue
        quality: int | None = None
        if len(row) > 2 and row[2].strip():
            try:
                quality = int(row[2])
            except ValueError:
                yield ImportLineError(line=number, message=f"quality {row[2]!r} is not a whole number")
                continue
        status = row[5].strip().lower() if len(row) > 5 else ""
        yield ParsedLine(number, EntryInput(
            signal_type=row[0].strip().lower(), value=row[1].strip(), quality=quality,
            external_id=(row[3].strip() or None) if len(row) > 3 else None,
            note=(row[4].strip() or None) if len(row) > 4 else None,
        ), withdraw=status in WITHDRAWN_STATUSES)


def _te_lines(text: str) -> Iterator[ParsedLine | ImportLineError]:
    for number, raw in enumerate(text.splitlines(), start=1):
        line = raw.split("#", 1)[0].strip()
        if not line:
            continue
        parts = line.split()
        if len(parts) != 2:
            yield ImportLineError(line=number, message="expected '<signal_type> <value>'")
            continue
        yield ParsedLine(number, EntryInput(signal_type=parts[0].lower(), value=parts[1]))


def _stopncii_record(number: int, record: Any) -> ParsedLine | ImportLineError:
    if not isinstance(record, dict):
        return ImportLineError(line=number, message="a hash record must be a JSON object")
    kind = str(record.get("signalType", "")).strip()
    signal_type = STOPNCII_TYPES.get(kind.lower())
    if signal_type is None:
        return ImportLineError(line=number, message=f"signalType {kind!r} is not ImagePDQ or VideoMD5")
    value = record.get("hashValue")
    if not isinstance(value, str) or not value.strip():
        return ImportLineError(line=number, message="hashValue is missing")
    status = str(record.get("hashStatus", "Active")).strip().lower()
    if status not in WITHDRAWN_STATUSES | {"active", ""}:
        return ImportLineError(line=number, message=f"hashStatus {record.get('hashStatus')!r} is not "
                                                    "Active, Withdrawn or Deleted")
    case = record.get("caseNumber")
    return ParsedLine(number, EntryInput(signal_type=signal_type, value=value.strip(),
                                         external_id=str(case) if case is not None else None),
                      withdraw=status in WITHDRAWN_STATUSES)


def _stopncii_lines(text: str) -> Iterator[ParsedLine | ImportLineError]:
    stripped = text.strip()
    # One JSON document (compact or pretty-printed, as export_entries writes it), else one record per line.
    if stripped.startswith("[") or _HASH_RECORDS.match(stripped):
        try:
            doc = json.loads(stripped)
        except json.JSONDecodeError as exc:
            yield ImportLineError(line=exc.lineno, message=f"not valid JSON: {exc.msg}")
            return
        records = doc.get("hashRecords") if isinstance(doc, dict) else doc
        if not isinstance(records, list):
            yield ImportLineError(line=1, message="hashRecords must be a list")
            return
        # Records of a JSON array are numbered from 1, as 'line' in the report.
        for number, record in enumerate(records, start=1):
            yield _stopncii_record(number, record)
        return
    for number, raw in enumerate(text.splitlines(), start=1):
        if not raw.strip():
            continue
        try:
            record = json.loads(raw)
        except json.JSONDecodeError as exc:
            yield ImportLineError(line=number, message=f"not valid JSON: {exc.msg}")
            continue
        yield _stopncii_record(number, record)


PARSERS = {"csv": _csv_lines, "te": _te_lines, "stopncii": _stopncii_lines}


def import_entries(
    *, session: Session, clock: Clock, actor: str, bank: Bank, fmt: str, text: str, source_name: str = "upload"
) -> ImportReport:
    if fmt not in PARSERS:
        raise BankError(f"unknown format {fmt!r}; use one of {', '.join(FORMATS)}")
    errors: list[ImportLineError] = []
    to_add: list[tuple[int, EntryInput]] = []
    to_withdraw: list[tuple[int, EntryInput]] = []
    lines = 0
    for parsed in PARSERS[fmt](text):
        lines += 1
        if isinstance(parsed, ImportLineError):
            errors.append(parsed)
            continue
        try:
            canonical_value(parsed.entry.signal_type, parsed.entry.value)
        except BankError as exc:
            errors.append(ImportLineError(line=parsed.line, message=str(exc)))
            continue
        (to_withdraw if parsed.withdraw else to_add).append((parsed.line, parsed.entry))
    added = 0
    for start in range(0, len(to_add), BATCH):
        chunk = [entry for _, entry in to_add[start:start + BATCH]]
        _, fresh = add_entries(session=session, clock=clock, actor=actor, bank=bank, entries=chunk,
                               provenance=Provenance.IMPORT, source_ref=f"import:{source_name}", audit_each=False)
        added += fresh
    withdrawn = 0
    now = clock.now()
    for _, item in to_withdraw:
        value = canonical_value(item.signal_type, item.value)
        entry = session.scalar(select(BankEntry).where(
            BankEntry.bank_id == bank.id, BankEntry.signal_type == item.signal_type.lower(),
            BankEntry.value_digest == value_digest(value)))
        if entry is not None and entry.status != EntryStatus.WITHDRAWN:
            entry.status, entry.status_changed_at = EntryStatus.WITHDRAWN, now
            withdrawn += 1
    report = ImportReport(format=fmt, lines_read=lines, added=added, already_present=len(to_add) - added,
                          withdrawn=withdrawn, errors=errors)
    audit.record(session=session, clock=clock, actor=actor, action="bank.imported", object_type="bank",
                 object_id=bank.id, data={"source": source_name, **report.model_dump(exclude={"errors", "extra"}),
                                          "error_lines": [e.line for e in errors[:1000]]})
    return report


def export_entries(*, session: Session, bank: Bank, fmt: str, include_inactive: bool = False) -> str:
    if fmt not in PARSERS:
        raise BankError(f"unknown format {fmt!r}; use one of {', '.join(FORMATS)}")
    stmt = select(BankEntry).where(BankEntry.bank_id == bank.id).order_by(BankEntry.id)
    if not include_inactive:
        stmt = stmt.where(BankEntry.status == EntryStatus.ACTIVE)
    entries = list(session.scalars(stmt))
    out = io.StringIO()
    if fmt == "csv":
        writer = csv.writer(out, lineterminator="\n")
        writer.writerow(["signal_type", "value", "quality", "external_id", "note", "status"])
        for e in entries:
            writer.writerow([e.signal_type, e.value, e.quality if e.quality is not None else "", e.external_id or "",
                             e.note or "", e.status.value])
    elif fmt == "te":
        for e in entries:
            out.write(f"{e.signal_type} {e.value}\n")
    else:
        records = [
            {"signalType": STOPNCII_TYPES_OUT[e.signal_type], "hashValue": e.value,
             "hashStatus": "Active" if e.status == EntryStatus.ACTIVE else "Withdrawn",
             **({"caseNumber": e.external_id} if e.external_id else {})}
            for e in entries if e.signal_type in STOPNCII_TYPES_OUT
        ]
        out.write(json.dumps({"hashRecords": records}, indent=1))
    return out.getvalue()

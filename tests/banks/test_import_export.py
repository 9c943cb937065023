"""Hash lists in and out: CSV, ThreatExchange lines, StopNCII records; bad lines named, good lines kept."""

from __future__ import annotations

import itertools
import json
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import select

from firebreak.auth import service as auth_service
from firebreak.auth.models import CredentialScope, Role
from firebreak.banks import io as bank_io
from firebreak.banks import service as banks
from firebreak.banks.models import BankEntry, EntryStatus, MatchAction
from firebreak.banks.schemas import BankCreate, ImportReport
from firebreak.bootstrap.http import create_app
from firebreak.bootstrap.system import System
from firebreak.matching.service import SYNC_INTERVAL
from firebreak.platform.schemas import ScanSignalsRequest, SignalIn, Verdict
from firebreak.signals.hashing import hash_bytes
from tests.conftest import DatabaseFactory
from tests.support import copies_of, jpeg, photo

PDQ_A = "f8f8f0cee0f4a84f06370a22038f63f0b36e2ed596621e1d33e6b39c4e9c9b22"
PDQ_B = "a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5"
MD5_A = "0cc175b9c0f1b6a831c399e269772661"
MD5_B = "92eb5ffee6ae2fec3ad71c777531578f"
SHA_A = "ca978112ca1bbdcafac231b39a23dc4da786eff8147c4e72b9807785afee48bb"
_BANK_NAMES = itertools.count(1)


def _bank(system: System, name: str | None = None, action: MatchAction = MatchAction.BLOCK) -> int:
    with system.db.transaction() as session:
        return banks.create_bank(session=session, clock=system.clock, actor="test", data=BankCreate(
            name=name or f"list-{next(_BANK_NAMES)}", action=action)).id


def _import(system: System, bank_id: int, fmt: str, text: str) -> ImportReport:
    with system.db.transaction() as session:
        bank = session.get(banks.Bank, bank_id)
        assert bank is not None
        return bank_io.import_entries(session=session, clock=system.clock, actor="test", bank=bank, fmt=fmt,
                                      text=text, source_name="test-file")


def _export(system: System, bank_id: int, fmt: str) -> str:
    with system.db.sessions() as session:
        bank = session.get(banks.Bank, bank_id)
        assert bank is not None
        return bank_io.export_entries(session=session, bank=bank, fmt=fmt)


def _entries(system: System, bank_id: int) -> dict[tuple[str, str], BankEntry]:
    with system.db.sessions() as session:
        rows = session.scalars(select(BankEntry).where(BankEntry.bank_id == bank_id)).all()
        for row in rows:
            session.expunge(row)
    return {(e.signal_type, e.value): e for e in rows}


def _active(system: System, bank_id: int) -> set[tuple[str, str]]:
    return {k for k, e in _entries(system, bank_id).items() if e.status == EntryStatus.ACTIVE}


def _scan_pdq(system: System, value: str) -> Verdict:
    return system.gateway.scan_signals(ScanSignalsRequest(signals=[SignalIn(signal_type="pdq", value=value)])).verdict


# -- the formats ---------------------------------------------------------------------------------------------------

def test_csv_with_header_keeps_every_column(system: System) -> None:
    bank_id = _bank(system)
    text = ("signal_type,value,quality,external_id,note,status\n"
            f"pdq,{PDQ_A.upper()},92,case-1,\"seen in two chats, reported twice\",active\n"
            f"md5,{MD5_A},,,,\n"
            f"SHA256 , {SHA_A} \n")
    report = _import(system, bank_id, "csv", text)
    assert (report.added, report.already_present, report.withdrawn, report.errors) == (3, 0, 0, [])
    assert report.lines_read == 3  # the header is not an entry
    entries = _entries(system, bank_id)
    assert set(entries) == {("pdq", PDQ_A), ("md5", MD5_A), ("sha256", SHA_A)}  # normalised: lower case, trimmed
    pdq = entries[("pdq", PDQ_A)]
    assert (pdq.quality, pdq.external_id, pdq.note) == (92, "case-1", "seen in two chats, reported twice")
    assert all(e.status == EntryStatus.ACTIVE for e in entries.values())


def test_csv_without_header_skips_blank_and_comment_lines(system: System) -> None:
    bank_id = _bank(system)
    text = f"# exported from the old system\n\npdq,{PDQ_A}\n   \nmd5,{MD5_A},,ext-9\n"
    report = _import(system, bank_id, "csv", text)
    assert (report.added, report.errors) == (2, [])
    assert _entries(system, bank_id)[("md5", MD5_A)].external_id == "ext-9"


def test_csv_status_column_withdraws(system: System) -> None:
    bank_id = _bank(system)
    _import(system, bank_id, "csv", f"pdq,{PDQ_A}\nmd5,{MD5_A}\n")
    report = _import(system, bank_id, "csv", f"signal_type,value,quality,external_id,note,status\n"
                                               f"pdq,{PDQ_A},,,,withdrawn\nmd5,{MD5_A},,,,Deleted\n")
    assert report.withdrawn == 2 and report.added == 0
    assert _active(system, bank_id) == set()


def test_threatexchange_lines_with_comments(system: System) -> None:
    bank_id = _bank(system)
    text = (f"# ThreatExchange export, 2026-01-01\n"
            f"pdq {PDQ_A}   # from the hotline\n"
            f"\n"
            f"PDQ\t{PDQ_B}\n"
            f"md5 {MD5_A}\n"
            f"   # an indented comment\n")
    report = _import(system, bank_id, "te", text)
    assert (report.added, report.lines_read, report.errors) == (3, 3, [])
    assert _active(system, bank_id) == {("pdq", PDQ_A), ("pdq", PDQ_B), ("md5", MD5_A)}


def _records() -> list[dict[str, str]]:
    return [
        {"signalType": "ImagePDQ", "hashValue": PDQ_A, "hashStatus": "Active", "caseNumber": "SN-1"},
        {"signalType": "VideoMD5", "hashValue": MD5_A, "hashStatus": "Active", "caseNumber": "SN-2"},
        {"signalType": "ImagePDQ", "hashValue": PDQ_B},  # no status: active
        {"signalType": "VideoMD5", "hashValue": MD5_B, "hashStatus": "Withdrawn"},  # never banked: nothing to do
    ]


@pytest.mark.parametrize("shape", ["array", "hashRecords", "hashRecords-pretty", "json-lines"])
def test_stopncii_records_in_every_shape(system: System, shape: str) -> None:
    records = _records()
    text = {
        "array": json.dumps(records),
        "hashRecords": json.dumps({"hashRecords": records}),
        "hashRecords-pretty": json.dumps({"hashRecords": records}, indent=2),
        "json-lines": "\n".join(json.dumps(r) for r in records) + "\n",
    }[shape]
    bank_id = _bank(system)
    report = _import(system, bank_id, "stopncii", text)
    assert report.errors == []
    assert (report.added, report.withdrawn) == (3, 0)
    entries = _entries(system, bank_id)
    assert set(entries) == {("pdq", PDQ_A), ("md5", MD5_A), ("pdq", PDQ_B)}
    assert entries[("pdq", PDQ_A)].external_id == "SN-1" and entries[("md5", MD5_A)].external_id == "SN-2"


@pytest.mark.parametrize("status", ["Withdrawn", "Deleted"])
def test_stopncii_withdrawal_stops_matching_at_once(system: System, status: str) -> None:
    original = photo("astronaut")
    hashes = hash_bytes(jpeg(original))
    bank_id = _bank(system, "stopncii")
    record = {"signalType": "ImagePDQ", "hashValue": hashes.pdq.value, "caseNumber": "SN-77"}
    report = _import(system, bank_id, "stopncii", json.dumps([{**record, "hashStatus": "Active"}]))
    assert report.added == 1
    time.sleep(SYNC_INTERVAL + 0.05)  # upload checks see a new entry within SYNC_INTERVAL of its commit
    copy = copies_of(original)["reencoded_q50"]
    assert system.gateway.scan_bytes(copy).verdict == Verdict.BLOCK
    assert _scan_pdq(system, hashes.pdq.value) == Verdict.BLOCK

    report = _import(system, bank_id, "stopncii", json.dumps({"hashRecords": [{**record, "hashStatus": status}]}))
    assert (report.withdrawn, report.added, report.errors) == (1, 0, [])
    assert system.gateway.scan_bytes(copy).verdict == Verdict.ALLOW
    assert _scan_pdq(system, hashes.pdq.value) == Verdict.ALLOW
    assert _entries(system, bank_id)[("pdq", hashes.pdq.value)].status == EntryStatus.WITHDRAWN
    # Withdrawing again changes nothing and says so.
    again = _import(system, bank_id, "stopncii", json.dumps([{**record, "hashStatus": status}]))
    assert again.withdrawn == 0 and again.errors == []


# -- bad lines ----------------------------------------------------------------------------------------------------

BAD_FILES = {
    "te": (
        f"pdq {PDQ_A}\n"
        f"pdq {'z' * 64}\n"  # 2: bad hex
        f"# a comment\n"
        f"tmk {PDQ_B}\n"  # 4: unknown signal type
        f"pdq {PDQ_B[:-2]}\n"  # 5: wrong length
        f"md5 {MD5_A}\n"
        f"pdq\n"  # 7: no value
        f"sha256 {SHA_A}\n",
        {2: "non-hex", 4: "unknown signal type 'tmk'", 5: "64 hex characters", 7: "<signal_type> <value>"},
        {("pdq", PDQ_A), ("md5", MD5_A), ("sha256", SHA_A)},
    ),
    "csv": (
        f"signal_type,value,quality\n"
        f"pdq,{PDQ_A},90\n"
        f"pdq,{'g' * 64}\n"  # 3: bad hex
        f"tmk,{PDQ_B}\n"  # 4: unknown signal type
        f"md5,{MD5_A[:-1]}\n"  # 5: wrong length
        f"pdq,{PDQ_B},excellent\n"  # 6: quality not a number
        f"md5\n"  # 7: no value
        f"md5,{MD5_A}\n",
        {3: "non-hex", 4: "unknown signal type 'tmk'", 5: "32 hex characters", 6: "quality 'excellent'",
         7: "signal_type,value"},
        {("pdq", PDQ_A), ("md5", MD5_A)},
    ),
    "stopncii": (
        json.dumps({"signalType": "ImagePDQ", "hashValue": PDQ_A, "hashStatus": "Active"}) + "\n"
        + '{"signalType": "ImagePDQ", "hashValue": \n'  # 2: not JSON
        + json.dumps({"signalType": "ImageTMK", "hashValue": PDQ_B}) + "\n"  # 3: unknown signalType
        + json.dumps({"signalType": "VideoMD5", "hashValue": "xyz"}) + "\n"  # 4: bad value
        + "\n"
        + json.dumps({"signalType": "VideoMD5", "hashValue": MD5_A, "hashStatus": "Pending"}) + "\n"  # 6: status
        + json.dumps(["not", "an", "object"]) + "\n"  # 7
        + json.dumps({"signalType": "ImagePDQ"}) + "\n"  # 8: no hashValue
        + json.dumps({"signalType": "VideoMD5", "hashValue": MD5_B}) + "\n",
        {2: "not valid JSON", 3: "signalType 'ImageTMK'", 4: "32 hex characters", 6: "hashStatus 'Pending'",
         7: "JSON object", 8: "hashValue is missing"},
        {("pdq", PDQ_A), ("md5", MD5_B)},
    ),
}


@pytest.mark.parametrize("fmt", sorted(BAD_FILES))
def test_bad_lines_are_named_and_good_lines_still_imported(system: System, fmt: str) -> None:
    text, bad, good = BAD_FILES[fmt]
    bank_id = _bank(system)
    report = _import(system, bank_id, fmt, text)
    assert {e.line: e.message for e in report.errors}.keys() == bad.keys()
    for error in report.errors:
        assert bad[error.line] in error.message, (error.line, error.message)
    assert report.added == len(good)
    assert _active(system, bank_id) == good


def test_bad_line_numbers_count_physical_lines_of_a_quoted_csv_note(system: System) -> None:
    bank_id = _bank(system)
    text = f"pdq,{PDQ_A},,,\"a note\nover two lines\"\nmd5,nothex\n"
    report = _import(system, bank_id, "csv", text)
    assert [e.line for e in report.errors] == [3]
    assert _entries(system, bank_id)[("pdq", PDQ_A)].note == "a note\nover two lines"


def test_stopncii_array_errors_name_the_record(system: System) -> None:
    bank_id = _bank(system)
    records = [{"signalType": "ImagePDQ", "hashValue": PDQ_A}, {"signalType": "ImageTMK", "hashValue": PDQ_B},
               {"signalType": "VideoMD5", "hashValue": MD5_A}]
    report = _import(system, bank_id, "stopncii", json.dumps(records))
    assert [(e.line, "ImageTMK" in e.message) for e in report.errors] == [(2, True)]
    assert report.added == 2
    broken = _import(system, bank_id, "stopncii", '[{"signalType": "ImagePDQ",\n "hashValue": ]')
    assert [e.line for e in broken.errors] == [2] and "not valid JSON" in broken.errors[0].message


def test_unknown_format_is_refused(system: System) -> None:
    bank_id = _bank(system)
    with pytest.raises(banks.BankError, match="unknown format 'xml'"):
        _import(system, bank_id, "xml", "<hashes/>")


# -- idempotency and round trips ---------------------------------------------------------------------------------

def test_reimport_is_idempotent(system: System) -> None:
    bank_id = _bank(system)
    text = f"pdq {PDQ_A}\nmd5 {MD5_A}\nmd5 {MD5_A.upper()}\n"  # the third is the second again
    first = _import(system, bank_id, "te", text)
    assert (first.added, first.already_present) == (2, 1)
    before = _entries(system, bank_id)
    second = _import(system, bank_id, "te", text)
    assert (second.added, second.already_present, second.errors) == (0, 3, [])
    after = _entries(system, bank_id)
    assert {k: e.id for k, e in after.items()} == {k: e.id for k, e in before.items()}


def _fill(system: System, bank_id: int) -> None:
    vpdq = json.dumps([f"{PDQ_A},100,0.000", f"{PDQ_B},90,1.000"], separators=(",", ":"))
    text = (f"signal_type,value,quality,external_id,note,status\n"
            f"pdq,{PDQ_A},95,SN-1,\"first, with a comma\",\n"
            f"pdq,{PDQ_B},60,,,\n"
            f"md5,{MD5_A},,SN-2,,\n"
            f"sha256,{SHA_A},,,\"quoted \"\"word\"\"\",\n")
    report = _import(system, bank_id, "csv", text)
    assert report.errors == [] and report.added == 4
    report = _import(system, bank_id, "te", f"vpdq {vpdq}\n")
    assert report.errors == [] and report.added == 1
    _import(system, bank_id, "csv", f"md5,{MD5_B},,,,\n")
    with system.db.transaction() as session:  # a disabled entry is not exported
        entry = session.scalar(select(BankEntry).where(BankEntry.bank_id == bank_id, BankEntry.value == MD5_B))
        assert entry is not None
        banks.set_entry_status(session=session, clock=system.clock, actor="test", entry=entry,
                               status=EntryStatus.DISABLED)


@pytest.mark.parametrize("fmt", ["csv", "te", "stopncii"])
def test_export_then_import_gives_the_same_entries(system: System, fmt: str) -> None:
    source = _bank(system)
    _fill(system, source)
    text = _export(system, source, fmt)
    target = _bank(system)
    report = _import(system, target, fmt, text)
    assert report.errors == []

    def shape(bank_id: int) -> set[tuple[object, ...]]:
        entries = [e for e in _entries(system, bank_id).values() if e.status == EntryStatus.ACTIVE]
        if fmt == "csv":
            return {(e.signal_type, e.value, e.quality, e.external_id, e.note) for e in entries}
        if fmt == "stopncii":  # StopNCII carries PDQ and MD5 with the case number only
            return {(e.signal_type, e.value, e.external_id) for e in entries if e.signal_type in ("pdq", "md5")}
        return {(e.signal_type, e.value) for e in entries}

    assert shape(target) == shape(source)
    assert len(shape(target)) == {"csv": 5, "te": 5, "stopncii": 3}[fmt]
    assert ("md5", MD5_B) not in _entries(system, target)
    # And the export of the copy is the export of the original.
    assert _export(system, target, fmt) == text


# -- a property: every line is accounted for -----------------------------------------------------------------------

HEX = "0123456789abcdef"
_good_value = {
    "pdq": st.text(HEX, min_size=64, max_size=64),
    "md5": st.text(HEX, min_size=32, max_size=32),
    "sha256": st.text(HEX, min_size=64, max_size=64),
}
_good = st.sampled_from(sorted(_good_value)).flatmap(lambda t: st.tuples(st.just(t), _good_value[t]))
_bad = st.one_of(
    st.tuples(st.just("pdq"), st.text(HEX, min_size=1, max_size=63)),  # too short
    st.tuples(st.just("md5"), st.text(HEX, min_size=33, max_size=40)),  # too long
    st.tuples(st.just("pdq"), st.text("ghijkxyz", min_size=64, max_size=64)),  # not hex
    st.tuples(st.sampled_from(["tmk", "photodna", "video_md5"]), st.text(HEX, min_size=32, max_size=32)),
)
_lines = st.lists(st.one_of(_good.map(lambda v: ("good", v)), _bad.map(lambda v: ("bad", v))), min_size=1,
                  max_size=25)
STOPNCII_NAMES = {"pdq": "ImagePDQ", "md5": "VideoMD5", "sha256": "ImageSHA256", "tmk": "VideoTMK",
                  "photodna": "ImagePhotoDNA", "video_md5": "VideoMD4"}


def _render(fmt: str, signal_type: str, value: str) -> str:
    """One line of a hash list; in StopNCII records a SHA-256 is a bad record (StopNCII has none)."""
    if fmt == "te":
        return f"{signal_type} {value}"
    if fmt == "csv":
        return f"{signal_type},{value}"
    return json.dumps({"signalType": STOPNCII_NAMES[signal_type], "hashValue": value, "hashStatus": "Active"})


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(fmt=st.sampled_from(["te", "csv", "stopncii"]), lines=_lines, blanks=st.lists(st.booleans(), max_size=25))
def test_every_line_is_added_present_or_named(system: System, fmt: str, lines: list[tuple[str, tuple[str, str]]],
                                              blanks: list[bool]) -> None:
    rendered: list[str] = []
    bad_lines: set[int] = set()
    good: list[tuple[str, str]] = []
    for i, (kind, (signal_type, value)) in enumerate(lines):
        if i < len(blanks) and blanks[i]:
            rendered.append("")  # blank lines are not entries and have no error
        rendered.append(_render(fmt, signal_type, value))
        if kind == "bad" or (fmt == "stopncii" and signal_type == "sha256"):
            bad_lines.add(len(rendered))
        else:
            good.append((signal_type, value))
    text = "\n".join(rendered) + "\n"
    bank_id = _bank(system)
    report = _import(system, bank_id, fmt, text)
    non_empty = sum(1 for line in rendered if line.strip())
    assert report.added + report.already_present + len(report.errors) == non_empty
    assert {e.line for e in report.errors} == bad_lines
    assert report.added == len(set(good))
    assert _active(system, bank_id) == set(good)
    again = _import(system, bank_id, fmt, text)
    assert (again.added, again.already_present) == (0, len(good))


# -- over HTTP ----------------------------------------------------------------------------------------------------

@pytest.fixture
def client(system: System) -> Iterator[TestClient]:
    with TestClient(create_app(system), raise_server_exceptions=False) as c:
        yield c


def _staff(system: System, role: Role) -> dict[str, str]:
    with system.db.transaction() as session:
        user = auth_service.create_staff_user(session=session, clock=system.clock, actor="test",
                                              username=f"user-{role.value}", password="a long password!", role=role)
        token = auth_service.issue_token(session=session, clock=system.clock, actor="test", name="t",
                                         scope=CredentialScope.STAFF, staff_user_id=user.id).token
    return {"Authorization": f"Bearer {token}"}


def test_import_and_export_over_http(system: System, client: TestClient) -> None:
    admin, moderator, auditor = (_staff(system, r) for r in (Role.ADMIN, Role.MODERATOR, Role.AUDITOR))
    assert client.post("/v1/banks", json={"name": "ncii", "action": "block"}, headers=admin).status_code == 201
    body = f"# two good, one bad\npdq {PDQ_A}\nmd5 {MD5_A}\npdq {PDQ_A[:10]}\n"
    r = client.post("/v1/banks/ncii/import?format=te&source=hotline.txt", content=body.encode(),
                    headers={**moderator, "Content-Type": "text/plain"})
    assert r.status_code == 200, r.text
    report = r.json()
    assert (report["added"], report["already_present"]) == (2, 0)
    assert [(e["line"], "64 hex characters" in e["message"]) for e in report["errors"]] == [(4, True)]
    # A UTF-8 byte-order mark (as spreadsheet programs write) is not part of the first line.
    r = client.post("/v1/banks/ncii/import?format=csv", content=f"\ufeffsignal_type,value\nmd5,{MD5_B}\n".encode(),
                    headers=moderator)
    assert r.json()["added"] == 1 and r.json()["errors"] == []
    assert client.post("/v1/banks/ncii/import?format=csv", content=b"pdq,\xff\xfe\n",
                       headers=moderator).status_code == 422
    assert client.post("/v1/banks/ncii/import?format=xml", content=b"x", headers=moderator).status_code == 422
    assert client.post("/v1/banks/ncii/import?format=te", content=body.encode(), headers=auditor).status_code == 403
    assert client.post("/v1/banks/nope/import?format=te", content=body.encode(), headers=moderator).status_code == 404

    r = client.get("/v1/banks/ncii/export?format=csv", headers=auditor)
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/csv")
    assert r.text.splitlines()[0] == "signal_type,value,quality,external_id,note,status"
    assert {tuple(line.split(",")[:2]) for line in r.text.splitlines()[1:]} == {
        ("pdq", PDQ_A), ("md5", MD5_A), ("md5", MD5_B)}
    r = client.get("/v1/banks/ncii/export?format=stopncii", headers=auditor)
    assert r.headers["content-type"].startswith("application/json")
    assert {(x["signalType"], x["hashValue"]) for x in r.json()["hashRecords"]} == {
        ("ImagePDQ", PDQ_A), ("VideoMD5", MD5_A), ("VideoMD5", MD5_B)}
    assert client.get("/v1/banks/ncii/export?format=te").status_code == 401


# -- from the command line ----------------------------------------------------------------------------------------

def test_cli_import_and_export(tmp_path: Path, databases: DatabaseFactory) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("FIREBREAK_")}
    env.update(FIREBREAK_DATA_DIR=str(tmp_path / "var"), FIREBREAK_DATABASE_URL=databases.new_url("sqlite"),
               COLUMNS="200")

    def firebreak(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([sys.executable, "-m", "firebreak", *args], env=env, capture_output=True, text=True,
                              timeout=120)

    assert firebreak("db", "upgrade").returncode == 0
    assert firebreak("banks", "create", "stopncii", "--action", "block").returncode == 0
    hashes = tmp_path / "hashes.txt"
    hashes.write_text(f"# from the exchange\npdq {PDQ_A}\npdq {PDQ_A[:-1]}\nmd5 {MD5_A}\n", encoding="utf-8")
    r = firebreak("banks", "import", "stopncii", str(hashes), "--format", "te")
    assert r.returncode == 0, r.stderr
    assert "2 added, 0 already present, 0 withdrawn, 1 bad lines" in r.stdout
    assert f"{hashes}:3: pdq value must be 64 hex characters, got 63" in r.stderr
    r = firebreak("banks", "export", "stopncii", "--format", "te")
    assert r.returncode == 0 and r.stdout == f"pdq {PDQ_A}\nmd5 {MD5_A}\n"
    r = firebreak("banks", "import", "nope", str(hashes), "--format", "te")
    assert r.returncode != 0 and "no bank named 'nope'" in r.stderr + r.stdout

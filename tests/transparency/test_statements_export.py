"""Stored statements out: `firebreak statements export` and the auditors' route, validated line by line."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from firebreak.auth import service as auth_service
from firebreak.auth.models import CredentialScope, Role
from firebreak.bootstrap.http import create_app
from firebreak.bootstrap.system import System, build_system
from firebreak.core.clock import FakeClock
from firebreak.core.config import load_settings
from firebreak.schema.migrate import upgrade
from firebreak.transparency import dsa
from firebreak.transparency import service as statements
from tests.conftest import DatabaseFactory
from tests.transparency.dsa_stand_in import check_statement

DAYS = [datetime(2026, 3, d, 12, tzinfo=UTC) for d in (2, 3, 4)]


def store(system: System, per_day: int = 3) -> None:
    """Statements applied on three days, of every kind of restriction."""
    kinds = [dsa.ActionKind.REMOVE_CONTENT, dsa.ActionKind.REFUSE_UPLOAD, dsa.ActionKind.SUSPEND_ACCOUNT]
    n = 0
    with system.db.transaction() as session:
        for day in DAYS:
            for k in range(per_day):
                n += 1
                ground = system.due.policy.get("ncii")
                statements.record(session=session, clock=system.clock, facts=dsa.StatementFacts(
                    puid=statements.puid_for(system.due.puid_key, "action", n), action=kinds[k % 3],
                    ground=ground.statement_ground(), category=ground.category, media=(dsa.Medium.IMAGE,),
                    content_posted_at=day - timedelta(days=1), decided_at=day, source=dsa.SourceKind.OWN_INITIATIVE,
                    automated_detection=True, automated_decision=dsa.AutomatedDecision.FULLY,
                    personal=("Jane Roe", "u-1001")), links=statements.StatementLinks(ground=ground.name))


def test_the_cli_exports_a_period_as_valid_json_lines(tmp_path: Path, databases: DatabaseFactory) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("FIREBREAK_")}
    env |= {"FIREBREAK_DATA_DIR": str(tmp_path / "var"), "FIREBREAK_DATABASE_URL": databases.new_url("sqlite")}
    settings = load_settings(environ=env)
    system = build_system(settings, clock=FakeClock())
    upgrade(system.db.engine)
    store(system)
    system.close()

    def export(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([sys.executable, "-m", "firebreak", "statements", "export", *args], env=env,
                              capture_output=True, text=True, timeout=120)

    out = tmp_path / "out" / "march.jsonl"
    r = export("--from", "2026-03-03", "--to", "2026-03-04", "--out", str(out))
    assert r.returncode == 0, r.stderr
    assert "6 statements from 2026-03-03 to 2026-03-04 written" in r.stdout
    lines = [json.loads(line) for line in out.read_text().splitlines()]
    assert len(lines) == 6 and {line["application_date"] for line in lines} == {"2026-03-03", "2026-03-04"}
    assert len({line["puid"] for line in lines}) == 6
    assert all(check_statement(line) == {} and dsa.validate_statement(line) == [] for line in lines)
    assert "Jane Roe" not in out.read_text() and "u-1001" not in out.read_text()
    assert {line.get("decision_visibility", [None])[0] for line in lines} >= {
        "DECISION_VISIBILITY_CONTENT_REMOVED", "DECISION_VISIBILITY_OTHER"}

    everything = tmp_path / "all.jsonl"
    assert export("--out", str(everything)).returncode == 0
    assert len(everything.read_text().splitlines()) == 9
    bad = export("--from", "March", "--out", str(everything))
    assert bad.returncode == 1 and "--from 'March': give a date as YYYY-MM-DD" in bad.stderr
    backwards = export("--from", "2026-03-04", "--to", "2026-03-02", "--out", str(everything))
    assert backwards.returncode == 1 and "is after --to" in backwards.stderr and "Traceback" not in backwards.stderr
    assert len(everything.read_text().splitlines()) == 9  # a refused export leaves the file as it was


@pytest.mark.parametrize("role,status", [(Role.AUDITOR, 200), (Role.ADMIN, 200), (Role.MODERATOR, 403)])
def test_auditors_get_the_same_export(system: System, role: Role, status: int) -> None:
    store(system)
    with system.db.transaction() as session:
        user = auth_service.create_staff_user(session=session, clock=system.clock, actor="test", username="someone",
                                              password="correct horse battery staple", role=role)
        token = auth_service.issue_token(session=session, clock=system.clock, actor="test", name="export",
                                         scope=CredentialScope.STAFF, staff_user_id=user.id).token
    with TestClient(create_app(system), raise_server_exceptions=False) as client:
        r = client.get("/v1/statements", params={"from": "2026-03-02", "to": "2026-03-02"},
                       headers={"Authorization": f"Bearer {token}"})
        assert r.status_code == status
        if status != 200:
            return
        assert r.headers["content-type"].startswith("application/x-ndjson") and r.headers["x-statement-count"] == "3"
        assert all(check_statement(json.loads(line)) == {} for line in r.text.splitlines())
        wrong = client.get("/v1/statements", params={"from": "2026-03-04", "to": "2026-03-02"},
                           headers={"Authorization": f"Bearer {token}"})
        assert wrong.status_code == 422 and "is after to" in wrong.json()["detail"]
        garbage = client.get("/v1/statements", params={"from": "yesterday"},
                             headers={"Authorization": f"Bearer {token}"})
        assert garbage.status_code == 422

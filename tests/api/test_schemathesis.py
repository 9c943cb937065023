"""The whole API under schemathesis: no 5xx, no status or content type the document does not declare, no response
that breaks its schema. Twice per database: with an admin's token, and with none (and once with an authority's).

A bounded run (a fixed seed, a few examples per operation; about 20 s per run on two cores), against a real server
on loopback. What
it found the first time: 500s for ids of 2^63 and more, undocumented 401/403/404/409/413 answers and problem
documents, and a reference to a schema that did not exist.
"""

from __future__ import annotations

import re
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from firebreak.auth import service as auth_service
from firebreak.auth.models import CredentialScope, Role
from firebreak.authorities import service as authorities
from firebreak.authorities.schemas import AuthorityCreate, ContactCreate
from firebreak.banks import service as banks
from firebreak.banks.schemas import BankCreate
from tests.conftest import DatabaseFactory
from tests.live import LiveFirebreak

pytestmark = pytest.mark.slow

CHECKS = ("not_a_server_error", "status_code_conformance", "content_type_conformance",
          "response_headers_conformance", "response_schema_conformance")
MAX_EXAMPLES = 10
SEED = 20260
# Schemathesis's --max-time is a duration to fill, not a bound: the bound is the examples, and this timeout.
TIMEOUT_SECONDS = 300


@pytest.fixture
def live(tmp_path: Path, backend: str, databases: DatabaseFactory) -> Iterator[LiveFirebreak]:
    with LiveFirebreak(tmp_path, databases.new_url(backend)) as server:
        yield server


def seed(live: LiveFirebreak) -> tuple[str, str]:
    """An admin's token, an authority's, and a little of everything, so that low ids lead somewhere."""
    system = live.system
    with system.db.transaction() as session:
        admin = auth_service.create_staff_user(session=session, clock=system.clock, actor="test", username="admin",
                                               password="a long password!", role=Role.ADMIN)
        token = auth_service.issue_token(session=session, clock=system.clock, actor="test", name="schemathesis",
                                         scope=CredentialScope.STAFF, staff_user_id=admin.id).token
        authority = authorities.create_authority(
            session=session, clock=system.clock, actor="test",
            data=AuthorityCreate(name="Fuzz Authority", country="DE", jurisdiction="Germany"))
        authorities.add_contact(session=session, clock=system.clock, actor="test", authority=authority,
                                data=ContactCreate(name="Officer", email="officer@fuzz.example"))
        authority_token = authorities.issue_authority_token(session=session, clock=system.clock, actor="test",
                                                            authority=authority, name="schemathesis").token
        bank = banks.create_bank(session=session, clock=system.clock, actor="test", data=BankCreate(name="fuzz"))
        banks.add_entry(session=session, clock=system.clock, actor="test", bank=bank,
                        entry=banks.EntryInput("md5", "0" * 32), provenance=banks.Provenance.DECISION,
                        source_ref="test")
    return token, authority_token


def run_schemathesis(live: LiveFirebreak, cwd: Path, who: str, *headers: str) -> str:
    command = [sys.executable, "-m", "schemathesis.cli", "run", f"{live.url}/openapi.json",
               "--checks", ",".join(CHECKS), "--max-examples", str(MAX_EXAMPLES), "--seed", str(SEED),
               "--generation-database", "none",
               "--request-timeout", "30", "--no-color", "--warnings", "off"]
    for header in headers:
        command += ["--header", header]
    done = subprocess.run(command, cwd=cwd, capture_output=True, text=True, timeout=TIMEOUT_SECONDS)
    output = done.stdout + done.stderr
    failures = output[output.find("FAILURES"):] if "FAILURES" in output else output[-4000:]
    assert done.returncode == 0, f"schemathesis found problems ({who}):\n{failures}"
    selected = re.search(r"Selected:\s+(\d+)/(\d+)", output)
    tested = re.search(r"Tested:\s+(\d+)", output)
    assert selected and tested and int(tested[1]) == int(selected[2]) > 50, output[-2000:]
    return output


@pytest.mark.timeout(3 * TIMEOUT_SECONDS + 60)
def test_whole_api_with_an_admin_token_and_without(live: LiveFirebreak, tmp_path: Path, backend: str) -> None:
    admin, authority = seed(live)
    run_schemathesis(live, tmp_path, "an admin's token", f"Authorization: Bearer {admin}")
    run_schemathesis(live, tmp_path, "no token")
    if backend == "sqlite":  # once: the refusals an authority meets (403) do not depend on the database
        run_schemathesis(live, tmp_path, "an authority's token", f"Authorization: Bearer {authority}")

"""A small platform scene for evidence tests: messages posted and forwarded, a bank that removes them."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from firebreak.auth import service as auth_service
from firebreak.auth.models import CredentialScope, Role
from firebreak.banks import service as banks
from firebreak.banks.models import MatchAction, Provenance
from firebreak.bootstrap.http import create_app
from firebreak.bootstrap.system import System
from firebreak.evidence.models import EvidenceRecord
from firebreak.signals.hashing import hash_bytes
from tests.support import RecordingPlatform, later, media_event


@pytest.fixture
def platform(system: System) -> Iterator[RecordingPlatform]:
    system.gateway.ensure_integration(name="test", adapter="webhook")
    recording = RecordingPlatform()
    system.adapters.override("test", recording)
    yield recording


@pytest.fixture
def client(system: System) -> Iterator[TestClient]:
    with TestClient(create_app(system), raise_server_exceptions=False) as c:
        yield c


def post(system: System, platform: RecordingPlatform, chat: str, message: str, data: bytes, *, sender: str = "u1",
         seconds: int = 0, forwarded_from: tuple[str, str] | None = None) -> None:
    platform.add_message(chat, message)
    system.gateway.record_event("test", media_event(chat, message, data, sender=sender,
                                                    when=later(system.clock.now(), seconds),
                                                    forwarded_from=forwarded_from))


def bank_and_remove(system: System, data: bytes, *, category: str | None = None, name: str | None = None) -> None:
    """Bank a file in a removing bank; every copy is removed and (by the hook) preserved."""
    with system.db.transaction() as session:
        bank = banks.ensure_bank(session=session, clock=system.clock, actor="test",
                                 name=name or f"bank-{category or 'other'}", action=MatchAction.BLOCK,
                                 policy_category=category, description="test")
        banks.add_entries(session=session, clock=system.clock, actor="test", bank=bank,
                          entries=banks.entries_for_hashes(hash_bytes(data)), provenance=Provenance.IMPORT,
                          source_ref="test")
    settle(system)


def settle(system: System) -> None:
    """Run every due job (removals, then preservation) until nothing is left."""
    for _ in range(5):
        if not system.runner.reconcile():
            break


def records(system: System) -> list[EvidenceRecord]:
    with system.db.sessions() as session:
        return list(session.scalars(select(EvidenceRecord).order_by(EvidenceRecord.id)))


def staff_token(system: System, role: Role = Role.LIAISON, username: str | None = None) -> tuple[str, int]:
    with system.db.transaction() as session:
        user = auth_service.create_staff_user(session=session, clock=system.clock, actor="test",
                                              username=username or f"staff-{role.value}",
                                              password="a long password!", role=role)
        token = auth_service.issue_token(session=session, clock=system.clock, actor="test", name="t",
                                         scope=CredentialScope.STAFF, staff_user_id=user.id).token
        return token, user.id


def auth(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def days(n: float) -> timedelta:
    return timedelta(days=n)


@pytest.fixture
def settings_dir(system: System) -> Path:
    return system.settings.data_dir

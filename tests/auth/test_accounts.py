"""Staff accounts and API tokens."""

from __future__ import annotations

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from firebreak.auth import service
from firebreak.auth.models import ApiCredential, CredentialScope, Role
from firebreak.core.clock import FakeClock


def test_password_is_argon2_and_verifies(session: Session, clock: FakeClock) -> None:
    user = service.create_staff_user(session=session, clock=clock, actor="t", username="ana",
                                     password="correct horse battery", role=Role.ADMIN)
    assert user.password_hash.startswith("$argon2id$")
    assert service.authenticate_staff(session=session, clock=clock, username="ana",
                                      password="correct horse battery") is user
    assert service.authenticate_staff(session=session, clock=clock, username="ana", password="wrong") is None


def test_short_password_and_duplicate_user_refused(session: Session, clock: FakeClock) -> None:
    with pytest.raises(service.AuthError, match="12 characters"):
        service.create_staff_user(session=session, clock=clock, actor="t", username="b", password="short",
                                  role=Role.MODERATOR)
    service.create_staff_user(session=session, clock=clock, actor="t", username="b", password="long enough pw",
                              role=Role.MODERATOR)
    with pytest.raises(service.AuthError, match="already exists"):
        service.create_staff_user(session=session, clock=clock, actor="t", username="b", password="long enough pw",
                                  role=Role.MODERATOR)


def test_token_stored_only_as_hash_and_revocable(session: Session, clock: FakeClock) -> None:
    user = service.create_staff_user(session=session, clock=clock, actor="t", username="c",
                                     password="long enough pw", role=Role.AUDITOR)
    issued = service.issue_token(session=session, clock=clock, actor="t", name="laptop",
                                 scope=CredentialScope.STAFF, staff_user_id=user.id)
    stored = session.scalars(select(ApiCredential)).all()
    assert all(issued.token not in (c.token_hash, c.prefix, c.name) for c in stored)
    assert service.resolve_token(session=session, clock=clock, token=issued.token) is issued.credential
    service.revoke_token(session=session, clock=clock, actor="t", credential=issued.credential)
    assert service.resolve_token(session=session, clock=clock, token=issued.token) is None


def test_token_scoped_to_exactly_one_owner(session: Session, clock: FakeClock) -> None:
    with pytest.raises(service.AuthError):
        service.issue_token(session=session, clock=clock, actor="t", name="x", scope=CredentialScope.AUTHORITY)

"""Staff accounts, roles and API credentials."""

from __future__ import annotations

import enum
from datetime import datetime

from sqlalchemy import ForeignKey, String
from sqlalchemy.orm import Mapped, mapped_column, validates

from firebreak.core.db.base import Base, BigId, IdMixin, StrEnumType, TimestampMixin, UTCDateTime
from firebreak.core.names import name_key


class Role(enum.StrEnum):
    ADMIN = "admin"
    MODERATOR = "moderator"
    LIAISON = "liaison"  # liaison officer: talks to authorities, works orders
    AUDITOR = "auditor"  # read-only: audit log, evidence, transparency


class StaffUser(IdMixin, TimestampMixin, Base):
    __tablename__ = "staff_users"

    username: Mapped[str] = mapped_column(String(64), unique=True)
    # Unique whatever the case, in all of Unicode (core.names); kept in step with username.
    username_key: Mapped[str] = mapped_column(String(64), unique=True)
    display_name: Mapped[str] = mapped_column(String(200))
    email: Mapped[str | None] = mapped_column(String(320))
    password_hash: Mapped[str] = mapped_column(String(200))
    role: Mapped[Role] = mapped_column(StrEnumType(Role))
    is_active: Mapped[bool] = mapped_column(default=True)
    last_login_at: Mapped[datetime | None] = mapped_column(UTCDateTime())

    @validates("username")
    def _keep_username_key(self, _: str, value: str) -> str:
        self.username_key = name_key(value)
        return value


class CredentialScope(enum.StrEnum):
    AUTHORITY = "authority"  # an authority's machine client: only its own orders
    PLATFORM = "platform"  # a platform integration: events in, scans, action callbacks
    STAFF = "staff"  # a staff member's personal token, acting with that member's role


class ApiCredential(IdMixin, TimestampMixin, Base):
    """An API token. Only a SHA-256 of the token is kept; the token is shown once.

    Tokens are 256-bit random values, so a fast hash is enough (no dictionary to guess
    from); argon2 is for human passwords.
    """

    __tablename__ = "api_credentials"

    name: Mapped[str] = mapped_column(String(200))
    prefix: Mapped[str] = mapped_column(String(16), index=True)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    scope: Mapped[CredentialScope] = mapped_column(StrEnumType(CredentialScope))
    authority_id: Mapped[int | None] = mapped_column(BigId, ForeignKey("authorities.id"))
    integration_id: Mapped[int | None] = mapped_column(BigId, ForeignKey("platform_integrations.id"))
    staff_user_id: Mapped[int | None] = mapped_column(BigId, ForeignKey("staff_users.id"))
    expires_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    last_used_at: Mapped[datetime | None] = mapped_column(UTCDateTime())

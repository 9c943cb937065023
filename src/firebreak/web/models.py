"""Browser-session state every process must see: sessions ended by logout, and the login throttle."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import String
from sqlalchemy.orm import Mapped, mapped_column

from firebreak.core.db.base import Base, UTCDateTime


class EndedSession(Base):
    """A session ended by logout (or by a new login): its cookie is refused everywhere until it would have expired."""

    __tablename__ = "web_ended_sessions"

    sid: Mapped[str] = mapped_column(String(64), primary_key=True)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime(), index=True)


class LoginThrottle(Base):
    """Failed logins counted per key (an account, or the client address), in a window; a lock when over the limit."""

    __tablename__ = "web_login_throttles"

    key: Mapped[str] = mapped_column(String(400), primary_key=True)
    failures: Mapped[int] = mapped_column(default=0)
    window_started_at: Mapped[datetime] = mapped_column(UTCDateTime())
    locked_until: Mapped[datetime | None] = mapped_column(UTCDateTime(), index=True)

"""browser sessions ended by logout and the login throttle, in the database so every process sees them

Revision ID: 0004
Revises: 0003
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: Sequence[str] | None = None
depends_on: Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "web_ended_sessions",
        sa.Column("sid", sa.String(length=64), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("sid", name=op.f("pk_web_ended_sessions")),
    )
    op.create_index(op.f("ix_web_ended_sessions_expires_at"), "web_ended_sessions", ["expires_at"])
    op.create_table(
        "web_login_throttles",
        sa.Column("key", sa.String(length=400), nullable=False),
        sa.Column("failures", sa.Integer(), nullable=False),
        sa.Column("window_started_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("locked_until", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("key", name=op.f("pk_web_login_throttles")),
    )
    op.create_index(op.f("ix_web_login_throttles_locked_until"), "web_login_throttles", ["locked_until"])


def downgrade() -> None:
    op.drop_index(op.f("ix_web_login_throttles_locked_until"), table_name="web_login_throttles")
    op.drop_table("web_login_throttles")
    op.drop_index(op.f("ix_web_ended_sessions_expires_at"), table_name="web_ended_sessions")
    op.drop_table("web_ended_sessions")

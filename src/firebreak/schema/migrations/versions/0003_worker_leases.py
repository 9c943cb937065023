"""worker processes and lease owners (dead workers' jobs and actions are taken back at once); the sandbox's log of
moderation calls

Revision ID: 0003
Revises: 0002
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: Sequence[str] | None = None
depends_on: Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "worker_processes",
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("host", sa.String(length=255), nullable=False),
        sa.Column("pid", sa.Integer(), nullable=False),
        sa.Column("started_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("heartbeat_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("stopped_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_worker_processes")),
    )
    op.create_index(op.f("ix_worker_processes_heartbeat_at"), "worker_processes", ["heartbeat_at"])
    with op.batch_alter_table("scheduled_tasks") as batch:
        batch.add_column(sa.Column("lease_owner", sa.String(length=36), nullable=True))
    with op.batch_alter_table("actions") as batch:
        batch.add_column(sa.Column("lease_owner", sa.String(length=36), nullable=True))
    op.create_table(
        "sandbox_moderation_calls",
        sa.Column("action", sa.String(length=40), nullable=False),
        sa.Column("target", sa.String(length=200), nullable=False),
        sa.Column("outcome", sa.String(length=20), nullable=False),
        sa.Column("detail", sa.Text(), nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), autoincrement=True, nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_sandbox_moderation_calls")),
    )
    op.create_index(op.f("ix_sandbox_moderation_calls_target"), "sandbox_moderation_calls", ["target"])


def downgrade() -> None:
    op.drop_index(op.f("ix_sandbox_moderation_calls_target"), table_name="sandbox_moderation_calls")
    op.drop_table("sandbox_moderation_calls")
    with op.batch_alter_table("actions") as batch:
        batch.drop_column("lease_owner")
    with op.batch_alter_table("scheduled_tasks") as batch:
        batch.drop_column("lease_owner")
    op.drop_index(op.f("ix_worker_processes_heartbeat_at"), table_name="worker_processes")
    op.drop_table("worker_processes")

"""a scheduled task counts its claims, so a worker records an outcome only for the claim it made

Revision ID: 0016
Revises: 0015
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0016"
down_revision: str | None = "0015"
branch_labels: Sequence[str] | None = None
depends_on: Sequence[str] | None = None


def upgrade() -> None:
    # A job may re-arm its own row while it runs (schedule() with its dedupe key); another worker can claim the
    # re-armed row before the first records its outcome. `attempts` is reset by a re-arm, so it cannot tell the two
    # claims apart; `claims` only ever grows.
    with op.batch_alter_table("scheduled_tasks", schema=None) as batch_op:
        batch_op.add_column(sa.Column("claims", sa.Integer(), nullable=False, server_default="0"))


def downgrade() -> None:
    with op.batch_alter_table("scheduled_tasks", schema=None) as batch_op:
        batch_op.drop_column("claims")

"""a victim's report remembers the form it came from: sending the same form twice (a reload) records one case

Revision ID: 0013
Revises: 0012
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0013"
down_revision: str | None = "0012"
branch_labels: Sequence[str] | None = None
depends_on: Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("victim_reports", schema=None) as batch_op:
        batch_op.add_column(sa.Column("submission_key", sa.String(length=64), nullable=True))
        batch_op.create_unique_constraint(batch_op.f("uq_victim_reports_submission_key"), ["submission_key"])


def downgrade() -> None:
    with op.batch_alter_table("victim_reports", schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f("uq_victim_reports_submission_key"), type_="unique")
        batch_op.drop_column("submission_key")

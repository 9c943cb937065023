"""the second line of matching: a colour picture's local features on its brightest channel, which a hue change keeps

Revision ID: 0015
Revises: 0014
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0015"
down_revision: str | None = "0014"
branch_labels: Sequence[str] | None = None
depends_on: Sequence[str] | None = None


def upgrade() -> None:
    # Rows written before have none; their features carry extractor revision 1, so every process describes such a
    # picture again from its kept bytes when it loads it (matching.copies.CopyLine._current).
    with op.batch_alter_table("copy_descriptions", schema=None) as batch_op:
        batch_op.add_column(sa.Column("brightest_features", sa.LargeBinary(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("copy_descriptions", schema=None) as batch_op:
        batch_op.drop_column("brightest_features")

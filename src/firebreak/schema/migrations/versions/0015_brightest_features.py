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
    # Rows written before have none, and were written by extractor revision 1 (or 0) at most: the upgrade job
    # (matching.copies.REDESCRIBE_JOB, scheduled when a serving process starts) describes them again from their kept
    # bytes, a batch at a time.
    # The job replaces such a row by a new one, whose new id every process's posted side follows: on SQLite ids must
    # then never be handed out again (AUTOINCREMENT; without it the highest id, deleted, comes back).
    # PostgreSQL's sequences never hand an id out twice, and there the columns are added in place.
    sqlite = op.get_bind().dialect.name == "sqlite"
    with op.batch_alter_table("copy_descriptions", schema=None, recreate="always" if sqlite else "auto",
                              table_kwargs={"sqlite_autoincrement": True}) as batch_op:
        batch_op.add_column(sa.Column("brightest_features", sa.LargeBinary(), nullable=True))
        batch_op.add_column(sa.Column("revision", sa.Integer(), nullable=False, server_default="1"))
        batch_op.create_index(batch_op.f("ix_copy_descriptions_revision"), ["revision"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("copy_descriptions", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_copy_descriptions_revision"))
        batch_op.drop_column("revision")
        batch_op.drop_column("brightest_features")

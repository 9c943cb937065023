"""the second line of matching: a picture's outlines, sealed, which settle a flat copy its corners cannot

Revision ID: 0017
Revises: 0016
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0017"
down_revision: str | None = "0016"
branch_labels: Sequence[str] | None = None
depends_on: Sequence[str] | None = None


def upgrade() -> None:
    # Rows written before have none, and an older extractor revision (4 at most): the upgrade job
    # (matching.copies.REDESCRIBE_JOB) describes them again from their kept bytes, a new row each (see 0015 for why
    # SQLite's table keeps AUTOINCREMENT).
    sqlite = op.get_bind().dialect.name == "sqlite"
    with op.batch_alter_table("copy_descriptions", schema=None, recreate="always" if sqlite else "auto",
                              table_kwargs={"sqlite_autoincrement": True}) as batch_op:
        batch_op.add_column(sa.Column("outlines", sa.LargeBinary(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("copy_descriptions", schema=None) as batch_op:
        batch_op.drop_column("outlines")

"""the second line of matching: each still picture's canonical variants and local features, a match's evidence, and
an index on bank entries' status changes (asked before every copy search)

Revision ID: 0014
Revises: 0013
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0014"
down_revision: str | None = "0013"
branch_labels: Sequence[str] | None = None
depends_on: Sequence[str] | None = None

BIG_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "copy_descriptions",
        sa.Column("id", BIG_ID, autoincrement=True, nullable=False),
        sa.Column("media_id", BIG_ID, nullable=False),
        sa.Column("width", sa.Integer(), nullable=False),
        sa.Column("height", sa.Integer(), nullable=False),
        sa.Column("pdq_rows", sa.JSON(), nullable=False),
        sa.Column("features", sa.LargeBinary(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["media_id"], ["media.id"], name=op.f("fk_copy_descriptions_media_id_media")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_copy_descriptions")),
        sa.UniqueConstraint("media_id", name=op.f("uq_copy_descriptions_media_id")),
    )
    with op.batch_alter_table("matches", schema=None) as batch_op:
        batch_op.add_column(sa.Column("evidence", sa.JSON(), nullable=True))
    with op.batch_alter_table("bank_entries", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_bank_entries_status_changed_at"), ["status_changed_at"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("bank_entries", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_bank_entries_status_changed_at"))
    with op.batch_alter_table("matches", schema=None) as batch_op:
        batch_op.drop_column("evidence")
    op.drop_table("copy_descriptions")

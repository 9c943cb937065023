"""hotline: internal thread notes, authority time zones, pinned DKIM keys, refused uploads counted once each

Revision ID: 0005
Revises: 0004
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0005"
down_revision: str | None = "0004"
branch_labels: Sequence[str] | None = None
depends_on: Sequence[str] | None = None

ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    with op.batch_alter_table("order_messages") as batch:
        batch.add_column(sa.Column("internal", sa.Boolean(), nullable=False, server_default=sa.false()))
    with op.batch_alter_table("authorities") as batch:
        batch.add_column(sa.Column("timezone", sa.String(length=64), nullable=True))
    op.create_table(
        "authority_dkim_keys",
        sa.Column("authority_id", ID, nullable=False),
        sa.Column("domain", sa.String(length=253), nullable=False),
        sa.Column("selector", sa.String(length=63), nullable=False),
        sa.Column("public_key", sa.Text(), nullable=False),
        sa.Column("valid_from", sa.DateTime(timezone=True), nullable=False),
        sa.Column("valid_until", sa.DateTime(timezone=True), nullable=True),
        sa.Column("revoked_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("added_by", sa.String(length=200), nullable=False),
        sa.Column("note", sa.Text(), nullable=True),
        sa.Column("id", ID, autoincrement=True, nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["authority_id"], ["authorities.id"],
                                name=op.f("fk_authority_dkim_keys_authority_id_authorities")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_authority_dkim_keys")),
    )
    op.create_index(op.f("ix_authority_dkim_keys_authority_id"), "authority_dkim_keys", ["authority_id"])
    op.create_index(op.f("ix_authority_dkim_keys_domain"), "authority_dkim_keys", ["domain"])
    op.create_table(
        "upload_refusals",
        sa.Column("source", sa.String(length=20), nullable=False),
        sa.Column("sha256", sa.String(length=64), nullable=True),
        sa.Column("placement_id", ID, nullable=True),
        sa.Column("id", ID, autoincrement=True, nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["placement_id"], ["placements.id"],
                                name=op.f("fk_upload_refusals_placement_id_placements")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_upload_refusals")),
    )
    op.create_table(
        "upload_refusal_entries",
        sa.Column("refusal_id", ID, nullable=False),
        sa.Column("entry_id", ID, nullable=False),
        sa.ForeignKeyConstraint(["refusal_id"], ["upload_refusals.id"],
                                name=op.f("fk_upload_refusal_entries_refusal_id_upload_refusals")),
        sa.ForeignKeyConstraint(["entry_id"], ["bank_entries.id"],
                                name=op.f("fk_upload_refusal_entries_entry_id_bank_entries")),
        sa.PrimaryKeyConstraint("refusal_id", "entry_id", name=op.f("pk_upload_refusal_entries")),
    )
    op.create_index(op.f("ix_upload_refusal_entries_entry_id"), "upload_refusal_entries", ["entry_id"])


def downgrade() -> None:
    op.drop_index(op.f("ix_upload_refusal_entries_entry_id"), table_name="upload_refusal_entries")
    op.drop_table("upload_refusal_entries")
    op.drop_table("upload_refusals")
    op.drop_index(op.f("ix_authority_dkim_keys_domain"), table_name="authority_dkim_keys")
    op.drop_index(op.f("ix_authority_dkim_keys_authority_id"), table_name="authority_dkim_keys")
    op.drop_table("authority_dkim_keys")
    with op.batch_alter_table("authorities") as batch:
        batch.drop_column("timezone")
    with op.batch_alter_table("order_messages") as batch:
        batch.drop_column("internal")

"""evidence under legal hold (preserved records and media, holds, purge tombstones) and the DSA Transparency Database
submission state of statements of reasons

Revision ID: 0007
Revises: 0006
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0007"
down_revision: str | None = "0006"
branch_labels: Sequence[str] | None = None
depends_on: Sequence[str] | None = None

BigId = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
When = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "evidence_media",
        sa.Column("sha256", sa.String(length=64), nullable=False),
        sa.Column("mime_type", sa.String(length=100), nullable=True),
        sa.Column("size_bytes", sa.Integer(), nullable=False),
        sa.Column("blob_key", sa.String(length=200), nullable=True),
        sa.Column("kek_id", sa.String(length=32), nullable=False),
        sa.Column("wrapped_key", sa.String(length=200), nullable=True),
        sa.Column("purged_at", When, nullable=True),
        sa.Column("id", BigId, autoincrement=True, nullable=False),
        sa.Column("created_at", When, nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_evidence_media")),
        sa.UniqueConstraint("sha256", name=op.f("uq_evidence_media_sha256")),
    )
    op.create_table(
        "evidence_records",
        sa.Column("uid", sa.String(length=32), nullable=False),
        sa.Column("dedupe_key", sa.String(length=200), nullable=False),
        sa.Column("trigger", sa.String(length=40), nullable=False),
        sa.Column("status", sa.String(length=40), nullable=False),
        sa.Column("category", sa.String(length=80), nullable=True),
        sa.Column("action_id", BigId, nullable=True),
        sa.Column("placement_id", BigId, nullable=True),
        sa.Column("media_id", BigId, nullable=True),
        sa.Column("account_id", BigId, nullable=True),
        sa.Column("chat_id", BigId, nullable=True),
        sa.Column("match_id", BigId, nullable=True),
        sa.Column("decision_id", BigId, nullable=True),
        sa.Column("order_item_id", BigId, nullable=True),
        sa.Column("order_id", BigId, nullable=True),
        sa.Column("case_id", BigId, nullable=True),
        sa.Column("note", sa.String(length=500), nullable=True),
        sa.Column("evidence_media_id", BigId, nullable=True),
        sa.Column("context_blob_key", sa.String(length=200), nullable=True),
        sa.Column("context_sha256", sa.String(length=64), nullable=True),
        sa.Column("kek_id", sa.String(length=32), nullable=True),
        sa.Column("wrapped_key", sa.String(length=200), nullable=True),
        sa.Column("preserved_at", When, nullable=True),
        sa.Column("retain_until", When, nullable=True),
        sa.Column("retention_rule", sa.String(length=200), nullable=True),
        sa.Column("purged_at", When, nullable=True),
        sa.Column("id", BigId, autoincrement=True, nullable=False),
        sa.Column("created_at", When, nullable=False),
        sa.ForeignKeyConstraint(["placement_id"], ["placements.id"],
                                name=op.f("fk_evidence_records_placement_id_placements")),
        sa.ForeignKeyConstraint(["media_id"], ["media.id"], name=op.f("fk_evidence_records_media_id_media")),
        sa.ForeignKeyConstraint(["account_id"], ["platform_accounts.id"],
                                name=op.f("fk_evidence_records_account_id_platform_accounts")),
        sa.ForeignKeyConstraint(["chat_id"], ["chats.id"], name=op.f("fk_evidence_records_chat_id_chats")),
        sa.ForeignKeyConstraint(["order_item_id"], ["order_items.id"],
                                name=op.f("fk_evidence_records_order_item_id_order_items")),
        sa.ForeignKeyConstraint(["order_id"], ["orders.id"], name=op.f("fk_evidence_records_order_id_orders")),
        sa.ForeignKeyConstraint(["case_id"], ["cases.id"], name=op.f("fk_evidence_records_case_id_cases")),
        sa.ForeignKeyConstraint(["evidence_media_id"], ["evidence_media.id"],
                                name=op.f("fk_evidence_records_evidence_media_id_evidence_media")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_evidence_records")),
        sa.UniqueConstraint("uid", name=op.f("uq_evidence_records_uid")),
        sa.UniqueConstraint("dedupe_key", name=op.f("uq_evidence_records_dedupe_key")),
    )
    for column in ("action_id", "placement_id", "media_id", "account_id", "chat_id", "order_item_id", "order_id",
                   "case_id", "evidence_media_id"):
        op.create_index(op.f(f"ix_evidence_records_{column}"), "evidence_records", [column])
    op.create_index("ix_evidence_records_status_retain", "evidence_records", ["status", "retain_until"])
    op.create_table(
        "legal_holds",
        sa.Column("scope", sa.String(length=40), nullable=False),
        sa.Column("subject_id", BigId, nullable=False),
        sa.Column("label", sa.String(length=300), nullable=False),
        sa.Column("order_item_ids", sa.JSON(), nullable=False),
        sa.Column("placement_ids", sa.JSON(), nullable=False),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("source", sa.String(length=40), nullable=False),
        sa.Column("placed_by", sa.String(length=200), nullable=False),
        sa.Column("placed_at", When, nullable=False),
        sa.Column("expires_at", When, nullable=False),
        sa.Column("extensions", sa.JSON(), nullable=False),
        sa.Column("released_at", When, nullable=True),
        sa.Column("released_by", sa.String(length=200), nullable=True),
        sa.Column("release_reason", sa.Text(), nullable=True),
        sa.Column("id", BigId, autoincrement=True, nullable=False),
        sa.Column("created_at", When, nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_legal_holds")),
    )
    op.create_index(op.f("ix_legal_holds_expires_at"), "legal_holds", ["expires_at"])
    op.create_index("ix_legal_holds_scope_subject", "legal_holds", ["scope", "subject_id"])
    op.create_table(
        "evidence_purges",
        sa.Column("record_id", BigId, nullable=False),
        sa.Column("record_uid", sa.String(length=32), nullable=False),
        sa.Column("purged_at", When, nullable=False),
        sa.Column("rule", sa.String(length=200), nullable=False),
        sa.Column("category", sa.String(length=80), nullable=True),
        sa.Column("preserved_at", When, nullable=False),
        sa.Column("retain_until", When, nullable=False),
        sa.Column("media_sha256", sa.String(length=64), nullable=True),
        sa.Column("media_deleted", sa.Boolean(), nullable=False),
        sa.Column("context_sha256", sa.String(length=64), nullable=True),
        sa.Column("deleted_blobs", sa.JSON(), nullable=False),
        sa.Column("audit_seq", sa.BigInteger(), nullable=False),
        sa.Column("id", BigId, autoincrement=True, nullable=False),
        sa.ForeignKeyConstraint(["record_id"], ["evidence_records.id"],
                                name=op.f("fk_evidence_purges_record_id_evidence_records")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_evidence_purges")),
        sa.UniqueConstraint("record_id", name=op.f("uq_evidence_purges_record_id")),
    )
    op.create_index(op.f("ix_evidence_purges_record_uid"), "evidence_purges", ["record_uid"])
    op.create_index(op.f("ix_evidence_purges_purged_at"), "evidence_purges", ["purged_at"])
    op.create_table(
        "statement_submissions",
        sa.Column("puid", sa.String(length=500), nullable=False),
        sa.Column("statement_id", BigId, nullable=False),
        sa.Column("batch_id", sa.String(length=64), nullable=True),
        sa.Column("outcome", sa.String(length=20), nullable=True),
        sa.Column("reason", sa.String(length=2000), nullable=True),
        sa.Column("attempted_at", When, nullable=True),
        sa.Column("recorded_at", When, nullable=True),
        sa.ForeignKeyConstraint(["statement_id"], ["statements_of_reasons.id"],
                                name=op.f("fk_statement_submissions_statement_id_statements_of_reasons")),
        sa.PrimaryKeyConstraint("puid", name=op.f("pk_statement_submissions")),
        sa.UniqueConstraint("statement_id", name=op.f("uq_statement_submissions_statement_id")),
    )
    op.create_index(op.f("ix_statement_submissions_batch_id"), "statement_submissions", ["batch_id"])
    op.create_index(op.f("ix_statement_submissions_outcome"), "statement_submissions", ["outcome"])


def downgrade() -> None:
    op.drop_index(op.f("ix_statement_submissions_outcome"), table_name="statement_submissions")
    op.drop_index(op.f("ix_statement_submissions_batch_id"), table_name="statement_submissions")
    op.drop_table("statement_submissions")
    op.drop_index(op.f("ix_evidence_purges_purged_at"), table_name="evidence_purges")
    op.drop_index(op.f("ix_evidence_purges_record_uid"), table_name="evidence_purges")
    op.drop_table("evidence_purges")
    op.drop_index("ix_legal_holds_scope_subject", table_name="legal_holds")
    op.drop_index(op.f("ix_legal_holds_expires_at"), table_name="legal_holds")
    op.drop_table("legal_holds")
    op.drop_index("ix_evidence_records_status_retain", table_name="evidence_records")
    for column in ("action_id", "placement_id", "media_id", "account_id", "chat_id", "order_item_id", "order_id",
                   "case_id", "evidence_media_id"):
        op.drop_index(op.f(f"ix_evidence_records_{column}"), table_name="evidence_records")
    op.drop_table("evidence_records")
    op.drop_table("evidence_media")

"""victims' reports: case number, status link and PIN, sealed contact details, clocks, items, rate limits

The victim_reports table of 0001 was never written by any code before this revision, so its new NOT NULL columns need
no values for old rows. Its plain-text contact_email and description columns go: contact details and the person's own
words are sealed (AES-GCM) in sealed_private instead.

Revision ID: 0010
Revises: 0009
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0010"
down_revision: str | None = "0009"
branch_labels: Sequence[str] | None = None
depends_on: Sequence[str] | None = None

BigId = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    with op.batch_alter_table("victim_reports") as batch:
        batch.drop_column("contact_email")
        batch.drop_column("description")
        batch.drop_column("client_hashes")
        batch.alter_column("category", existing_type=sa.String(length=80), type_=sa.String(length=40), nullable=False)
        batch.add_column(sa.Column("pin_hash", sa.String(length=64), nullable=False))
        batch.add_column(sa.Column("kind", sa.String(length=40), nullable=False))
        batch.add_column(sa.Column("jurisdiction", sa.String(length=8), nullable=False))
        batch.add_column(sa.Column("language", sa.String(length=16), nullable=False))
        batch.add_column(sa.Column("sealed_private", sa.Text(), nullable=True))
        batch.add_column(sa.Column("email_updates", sa.Boolean(), nullable=False))
        batch.add_column(sa.Column("good_faith_statement", sa.Boolean(), nullable=False))
        batch.add_column(sa.Column("complete_request", sa.Boolean(), nullable=False))
        batch.add_column(sa.Column("priority", sa.Integer(), nullable=False))
        for name in ("received_at",):
            batch.add_column(sa.Column(name, sa.DateTime(timezone=True), nullable=False))
        for name in ("queued_at", "deadline_at", "reviewed_at", "actioned_at", "closed_at", "withdrawn_at",
                     "reminded_50_at", "reminded_90_at", "escalated_at"):
            batch.add_column(sa.Column(name, sa.DateTime(timezone=True), nullable=True))
        batch.add_column(sa.Column("reviewed_by_id", BigId, nullable=True))
        batch.add_column(sa.Column("decline_reason", sa.String(length=40), nullable=True))
        batch.add_column(sa.Column("review_note", sa.Text(), nullable=True))
        batch.add_column(sa.Column("copy_search", sa.JSON(), nullable=True))
        batch.create_foreign_key(op.f("fk_victim_reports_reviewed_by_id_staff_users"), "staff_users",
                                 ["reviewed_by_id"], ["id"])
        batch.create_unique_constraint(op.f("uq_victim_reports_access_code_hash"), ["access_code_hash"])

    op.create_table(
        "victim_report_items",
        sa.Column("report_id", BigId, nullable=False),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(length=40), nullable=False),
        sa.Column("value", sa.Text(), nullable=False),
        sa.Column("hashes", sa.JSON(), nullable=False),
        sa.Column("integration_id", BigId, nullable=True),
        sa.Column("placement_id", BigId, nullable=True),
        sa.Column("media_id", BigId, nullable=True),
        sa.Column("resolution", sa.String(length=40), nullable=False),
        sa.Column("outcome", sa.String(length=40), nullable=False),
        sa.Column("actioned_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("id", BigId, autoincrement=True, nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["report_id"], ["victim_reports.id"],
                                name=op.f("fk_victim_report_items_report_id_victim_reports")),
        sa.ForeignKeyConstraint(["integration_id"], ["platform_integrations.id"],
                                name=op.f("fk_victim_report_items_integration_id_platform_integrations")),
        sa.ForeignKeyConstraint(["placement_id"], ["placements.id"],
                                name=op.f("fk_victim_report_items_placement_id_placements")),
        sa.ForeignKeyConstraint(["media_id"], ["media.id"], name=op.f("fk_victim_report_items_media_id_media")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_victim_report_items")),
    )
    op.create_index(op.f("ix_victim_report_items_report_id"), "victim_report_items", ["report_id"])

    op.create_table(
        "victim_rate_limits",
        sa.Column("key", sa.String(length=200), nullable=False),
        sa.Column("count", sa.Integer(), nullable=False),
        sa.Column("window_started_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("locked_until", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("key", name=op.f("pk_victim_rate_limits")),
    )
    op.create_index(op.f("ix_victim_rate_limits_window_started_at"), "victim_rate_limits", ["window_started_at"])


def downgrade() -> None:
    op.drop_index(op.f("ix_victim_rate_limits_window_started_at"), table_name="victim_rate_limits")
    op.drop_table("victim_rate_limits")
    op.drop_index(op.f("ix_victim_report_items_report_id"), table_name="victim_report_items")
    op.drop_table("victim_report_items")
    with op.batch_alter_table("victim_reports") as batch:
        batch.drop_constraint(op.f("uq_victim_reports_access_code_hash"), type_="unique")
        batch.drop_constraint(op.f("fk_victim_reports_reviewed_by_id_staff_users"), type_="foreignkey")
        for name in ("copy_search", "review_note", "decline_reason", "reviewed_by_id", "escalated_at",
                     "reminded_90_at", "reminded_50_at", "withdrawn_at", "closed_at", "actioned_at", "reviewed_at",
                     "deadline_at", "queued_at", "received_at", "priority", "complete_request",
                     "good_faith_statement", "email_updates", "sealed_private", "language", "jurisdiction", "kind",
                     "pin_hash"):
            batch.drop_column(name)
        batch.alter_column("category", existing_type=sa.String(length=40), type_=sa.String(length=80), nullable=True)
        batch.add_column(sa.Column("client_hashes", sa.JSON(), nullable=False, server_default="[]"))
        batch.add_column(sa.Column("description", sa.Text(), nullable=True))
        batch.add_column(sa.Column("contact_email", sa.String(length=320), nullable=True))

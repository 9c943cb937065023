"""name keys: unique whatever the case, in all of Unicode (authorities, staff usernames, banks, integrations)

Each table gets a ``<column>_key`` column: SHA-256 of the name in NFKC, case-folded, white space collapsed (the same
function as firebreak.core.names, copied here: migrations never import application code), with a unique index.
Existing names that collide under that rule keep working: the later row's key gets its id appended, and a warning
names them, so that the upgrade never fails on old data.

Revision ID: 0008
Revises: 0007
"""

import hashlib
import logging
import unicodedata
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0008"
down_revision: str | None = "0007"
branch_labels: Sequence[str] | None = None
depends_on: Sequence[str] | None = None

log = logging.getLogger("alembic.runtime.migration")

# table, name column
KEYED = (("authorities", "name"), ("staff_users", "username"), ("banks", "name"), ("platform_integrations", "name"))


def _key(text: str) -> str:
    folded = unicodedata.normalize("NFKC", unicodedata.normalize("NFKC", text).casefold())
    return hashlib.sha256(" ".join(folded.split()).encode("utf-8", "surrogatepass")).hexdigest()


def upgrade() -> None:
    bind = op.get_bind()
    for table, column in KEYED:
        key = f"{column}_key"
        with op.batch_alter_table(table) as batch_op:
            batch_op.add_column(sa.Column(key, sa.String(length=64), nullable=True))
        rows = sa.table(table, sa.column("id", sa.BigInteger()), sa.column(column, sa.String()),
                        sa.column(key, sa.String()))
        seen: dict[str, int] = {}
        for row_id, name in bind.execute(sa.select(rows.c.id, rows.c[column]).order_by(rows.c.id)).all():
            value = _key(name)
            if value in seen:
                log.warning("%s %s %r: the same name as row %s but for case; kept, with a key of its own",
                            table, row_id, name, seen[value])
                value = hashlib.sha256(f"{value}#{row_id}".encode()).hexdigest()
            seen[value] = row_id
            bind.execute(sa.update(rows).where(rows.c.id == row_id).values({key: value}))
        with op.batch_alter_table(table) as batch_op:
            batch_op.alter_column(key, existing_type=sa.String(length=64), nullable=False)
            batch_op.create_unique_constraint(op.f(f"uq_{table}_{key}"), [key])


def downgrade() -> None:
    for table, column in reversed(KEYED):
        key = f"{column}_key"
        with op.batch_alter_table(table) as batch_op:
            batch_op.drop_constraint(op.f(f"uq_{table}_{key}"), type_="unique")
            batch_op.drop_column(key)

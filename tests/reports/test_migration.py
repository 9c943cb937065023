"""Migration 0010 (victims' reports) goes down and up on both databases, and leaves the tables the models describe."""

from __future__ import annotations

from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import inspect

from firebreak.schema.migrate import alembic_config, current_revision, upgrade
from firebreak.schema.tables import Base
from tests.conftest import DatabaseFactory

VICTIM_TABLES = {"victim_reports", "victim_report_items", "victim_rate_limits"}


def _differences(engine: object) -> list[object]:
    with engine.connect() as conn:  # type: ignore[attr-defined]
        context = MigrationContext.configure(conn, opts={"compare_type": True})
        diffs = compare_metadata(context, Base.metadata)

    def table_of(diff: object) -> str | None:
        item = diff[0] if isinstance(diff, list) else diff
        for part in item[1:] if isinstance(item, tuple) else ():
            name = getattr(part, "name", None) if not isinstance(part, str) else None
            table = getattr(part, "table", None)
            if table is not None:
                return str(table.name)
            if isinstance(part, str) and part in VICTIM_TABLES:
                return part
            if name in VICTIM_TABLES:
                return str(name)
        return None

    return [d for d in diffs if table_of(d) in VICTIM_TABLES]


def test_down_and_up_and_the_tables_match_the_models(databases: DatabaseFactory, backend: str) -> None:
    engine = databases.migrated_engine(backend)
    try:
        assert VICTIM_TABLES <= set(inspect(engine).get_table_names())
        assert _differences(engine) == []
        cfg = alembic_config()
        with engine.begin() as conn:
            cfg.attributes["connection"] = conn
            command.downgrade(cfg, "0009")
        assert current_revision(engine) == "0009"
        columns = {c["name"] for c in inspect(engine).get_columns("victim_reports")}
        assert {"contact_email", "description"} <= columns and "sealed_private" not in columns
        assert not {"victim_report_items", "victim_rate_limits"} & set(inspect(engine).get_table_names())
        upgrade(engine)
        columns = {c["name"] for c in inspect(engine).get_columns("victim_reports")}
        assert "contact_email" not in columns and "sealed_private" in columns
        assert _differences(engine) == []
    finally:
        engine.dispose()

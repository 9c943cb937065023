"""Migration 0015 (a colour picture's brightest-channel features, and each description's extractor revision) goes
down and up on both databases, leaves the table the model describes, and on SQLite never hands an id out twice."""

from __future__ import annotations

from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import Engine, inspect, text

from firebreak.schema.migrate import alembic_config, current_revision, upgrade
from firebreak.schema.tables import Base
from tests.conftest import DatabaseFactory

TABLE = "copy_descriptions"


def _differences(engine: Engine) -> list[object]:
    with engine.connect() as conn:
        context = MigrationContext.configure(conn, opts={"compare_type": True})
        diffs = compare_metadata(context, Base.metadata)
    return [d for d in diffs if TABLE in repr(d)]


def test_down_and_up_and_the_table_matches_the_model(databases: DatabaseFactory, backend: str) -> None:
    engine = databases.migrated_engine(backend)
    try:
        assert _differences(engine) == []
        cfg = alembic_config()
        with engine.begin() as conn:
            cfg.attributes["connection"] = conn
            command.downgrade(cfg, "0014")
        assert current_revision(engine) == "0014"
        columns = {c["name"] for c in inspect(engine).get_columns(TABLE)}
        assert "features" in columns and not {"brightest_features", "revision"} & columns
        upgrade(engine)
        columns = {c["name"] for c in inspect(engine).get_columns(TABLE)}
        assert {"brightest_features", "revision"} <= columns
        assert _differences(engine) == []
        if backend == "sqlite":
            with engine.connect() as conn:
                sql = conn.execute(text("SELECT sql FROM sqlite_master WHERE name = :t"), {"t": TABLE}).scalar_one()
            assert "AUTOINCREMENT" in sql.upper(), sql
    finally:
        engine.dispose()

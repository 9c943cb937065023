"""Migration 0002 (the sandbox tables) goes down and up again on both databases."""

from __future__ import annotations

from alembic import command
from sqlalchemy import inspect

from firebreak.schema.migrate import alembic_config, current_revision, upgrade
from tests.conftest import DatabaseFactory

SANDBOX_TABLES = {"sandbox_users", "sandbox_chats", "sandbox_memberships", "sandbox_media", "sandbox_messages",
                  "sandbox_notices"}


def test_down_and_up(databases: DatabaseFactory, backend: str) -> None:
    engine = databases.migrated_engine(backend)
    try:
        assert SANDBOX_TABLES <= set(inspect(engine).get_table_names())
        cfg = alembic_config()
        with engine.begin() as conn:
            cfg.attributes["connection"] = conn
            command.downgrade(cfg, "0001")
        assert current_revision(engine) == "0001"
        assert not SANDBOX_TABLES & set(inspect(engine).get_table_names())
        upgrade(engine)
        assert SANDBOX_TABLES <= set(inspect(engine).get_table_names())
        columns = {c["name"]: c for c in inspect(engine).get_columns("sandbox_media")}
        assert columns["data"]["type"].python_type is bytes
    finally:
        engine.dispose()

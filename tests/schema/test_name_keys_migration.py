"""Migration 0008 (name keys): existing names get their keys, old names that collide by case keep working, and from
then on the database itself refuses a name that differs from another only by case. Both databases, down and up."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from alembic import command
from sqlalchemy import Engine, inspect, text
from sqlalchemy.exc import IntegrityError

from firebreak.core.names import name_key
from firebreak.schema.migrate import alembic_config, current_revision, head_revision, upgrade
from tests.conftest import DatabaseFactory

NOW = datetime(2026, 1, 1, tzinfo=UTC)
KEYED = {"authorities": "name", "staff_users": "username", "banks": "name", "platform_integrations": "name"}


def downgrade(engine: Engine, revision: str) -> None:
    cfg = alembic_config()
    with engine.begin() as conn:
        cfg.attributes["connection"] = conn
        command.downgrade(cfg, revision)


def insert_old_rows(engine: Engine) -> None:
    """Rows as a Firebreak before 0003 could write them: "Amt" and "AMT" were two authorities."""
    with engine.begin() as conn:
        for name in ("Amt Nord", "AMT NORD", "Zoll"):
            conn.execute(text("INSERT INTO authorities (name, country, jurisdiction, legal_bases, mail_domains, "
                              "mail_addresses, default_deadlines, trust_level, trusted_categories, language, "
                              "is_active, created_at) VALUES (:name, 'DE', 'Germany', '[]', '[]', '[]', '{}', "
                              "'standard', '[]', 'en', true, :now)"), {"name": name, "now": NOW})
        for username in ("ana", "Ana"):
            conn.execute(text("INSERT INTO staff_users (username, display_name, password_hash, role, is_active, "
                              "created_at) VALUES (:u, :u, 'x', 'admin', true, :now)"), {"u": username, "now": NOW})
        conn.execute(text("INSERT INTO banks (name, action, jurisdictions, enabled, pdq_distance, created_at) "
                          "VALUES ('Hashes', 'review', '[]', true, 31, :now)"), {"now": NOW})
        conn.execute(text("INSERT INTO platform_integrations (name, adapter, config, is_active, created_at) "
                          "VALUES ('Straße', 'webhook', '{}', true, :now)"), {"now": NOW})


def test_upgrade_keys_old_names_and_refuses_new_duplicates(databases: DatabaseFactory, backend: str) -> None:
    engine = databases.migrated_engine(backend)
    try:
        downgrade(engine, "0007")
        assert not {"name_key", "username_key"} & {c["name"] for t in KEYED for c in inspect(engine).get_columns(t)}
        insert_old_rows(engine)
        upgrade(engine)
        assert current_revision(engine) == head_revision()
        with engine.connect() as conn:
            keys = dict(conn.execute(text("SELECT name, name_key FROM authorities ORDER BY id")).all())
            assert keys["Amt Nord"] == name_key("amt nord") and keys["Zoll"] == name_key("ZOLL")
            assert keys["AMT NORD"] not in (keys["Amt Nord"], None)  # grandfathered: a key of its own
            assert conn.execute(text("SELECT name_key FROM platform_integrations")).scalar() == name_key("STRASSE")
        for table, column in KEYED.items():
            uniques = {tuple(u["column_names"]) for u in inspect(engine).get_unique_constraints(table)}
            assert (f"{column}_key",) in uniques, table
        with pytest.raises(IntegrityError), engine.begin() as conn:
            conn.execute(text("INSERT INTO banks (name, name_key, action, jurisdictions, enabled, pdq_distance, "
                              "created_at) VALUES ('HASHES', :key, 'review', '[]', true, 31, :now)"),
                         {"key": name_key("HASHES"), "now": NOW})
        downgrade(engine, "0007")
        assert "name_key" not in {c["name"] for c in inspect(engine).get_columns("banks")}
        upgrade(engine)
    finally:
        engine.dispose()

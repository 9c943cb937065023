"""Schema migrations: one Alembic chain for SQLite and PostgreSQL."""

from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Connection, Engine


class SchemaError(Exception):
    pass


def alembic_config() -> Config:
    cfg = Config()
    cfg.set_main_option("script_location", str(Path(__file__).parent / "migrations"))
    return cfg


def head_revision() -> str:
    head = ScriptDirectory.from_config(alembic_config()).get_current_head()
    if head is None:
        raise SchemaError("no migrations found in the installed package")
    return head


def current_revision(bind: Engine | Connection) -> str | None:
    if isinstance(bind, Connection):
        return MigrationContext.configure(bind).get_current_revision()
    with bind.connect() as conn:
        return MigrationContext.configure(conn).get_current_revision()


def _check_known(bind: Engine | Connection) -> str | None:
    current = current_revision(bind)
    script = ScriptDirectory.from_config(alembic_config())
    if current is not None:
        try:
            script.get_revision(current)
        except Exception:
            raise SchemaError(
                f"database schema is at revision {current}, which this Firebreak does not know "
                f"(newest known: {head_revision()}); it was migrated by a newer Firebreak: upgrade Firebreak"
            ) from None
    return current


def upgrade(engine: Engine, revision: str = "head") -> tuple[str | None, str]:
    """Bring the schema to ``revision``. Returns (before, after)."""
    before = _check_known(engine)
    cfg = alembic_config()
    with engine.begin() as conn:
        cfg.attributes["connection"] = conn
        command.upgrade(cfg, revision)
    return before, current_revision(engine) or ""


def check_current(bind: Engine | Connection) -> None:
    """Refuse to serve on a schema that is behind or ahead of this code."""
    current = _check_known(bind)
    if current != head_revision():
        raise SchemaError(
            f"database schema is at revision {current or 'none (empty database)'}, this Firebreak needs "
            f"{head_revision()}: run `firebreak db upgrade`"
        )

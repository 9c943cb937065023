"""Migration 0015 (a colour picture's brightest-channel features, and each description's extractor revision) goes
down and up on both databases, leaves the table the model describes, and on SQLite never hands an id out twice."""

from __future__ import annotations

from datetime import UTC, datetime

from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import Engine, inspect, select, text
from sqlalchemy.orm import Session

from firebreak.matching.models import CopyDescription
from firebreak.media.models import Media
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


NOW = datetime(2026, 12, 5, tzinfo=UTC)


def _describe(session: Session, sha: str) -> int:
    media = Media(sha256=sha * 64, created_at=NOW)
    session.add(media)
    session.flush()
    row = CopyDescription(media_id=media.id, width=10, height=10, pdq_rows=[], features=b"x", created_at=NOW)
    session.add(row)
    session.flush()
    return row.id


def test_rows_from_before_are_kept_marked_older_and_ids_are_never_handed_out_again(databases: DatabaseFactory,
                                                                                   backend: str) -> None:
    engine = databases.migrated_engine(backend)
    try:
        cfg = alembic_config()
        with engine.begin() as conn:
            cfg.attributes["connection"] = conn
            command.downgrade(cfg, "0014")
        with engine.begin() as conn:  # a row as Firebreak before 0015 wrote it
            conn.execute(text("INSERT INTO media (sha256, kind, hash_status, hash_attempts, created_at) "
                              "VALUES (:sha, 'image', 'hashed', 0, :now)"), {"sha": "a" * 64, "now": NOW})
            conn.execute(text("INSERT INTO copy_descriptions (media_id, width, height, pdq_rows, features, created_at) "
                              "SELECT id, 640, 480, '[]', :blob, :now FROM media"), {"blob": b"FBKP", "now": NOW})
        upgrade(engine)
        with Session(engine) as session, session.begin():
            (old,) = session.scalars(select(CopyDescription))
            assert (old.revision, old.width, old.features, old.brightest_features) == (1, 640, b"FBKP", None)
            newest = _describe(session, "b")
        with Session(engine) as session, session.begin():
            session.delete(session.get(CopyDescription, newest))  # the highest id, gone ...
        with Session(engine) as session, session.begin():
            assert _describe(session, "c") > newest  # ... is not handed out again: the posted side follows ids
    finally:
        engine.dispose()

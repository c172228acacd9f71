"""Alembic, driven from code: ``vegafs db upgrade`` and the check the service runs at start."""

from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory

from vegafs.db.database import Database

MIGRATIONS = Path(__file__).with_name("migrations")


def _config(db: Database) -> Config:
    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    # A write transaction (BEGIN IMMEDIATE on SQLite): processes starting together on a fresh
    # file then migrate one after the other, instead of failing with "database is locked" when
    # their read transactions both try to write.
    cfg.attributes["engine"] = db.engine.execution_options(vegafs_write=True)
    return cfg


def upgrade(db: Database, revision: str = "head") -> None:
    with db.translate():
        command.upgrade(_config(db), revision)


def head() -> str:
    script = ScriptDirectory.from_config(_config_for_script())
    current = script.get_current_head()
    assert current is not None
    return current


def current(db: Database) -> str | None:
    with db.translate(), db.engine.connect() as conn:
        return MigrationContext.configure(conn).get_current_revision()


def is_current(db: Database) -> bool:
    return current(db) == head()


def _config_for_script() -> Config:
    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    return cfg


def downgrade(db: Database, revision: str) -> None:
    with db.translate():
        command.downgrade(_config(db), revision)

"""Alembic, driven from code: ``vegafs db upgrade`` and the check the service runs at start.

The checks (``is_current``, and ``plain_is_current`` for the journal's connection) do without
Alembic, which takes a tenth of a second to import: a writing command checks its local
journal's database on every run; the plain one does without SQLAlchemy too. Revisions are
numbered like their files (``0005_write_step_kinds.py`` is revision ``0005``), so the head is
the highest number there; a test holds Alembic's view and this one equal."""

from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from alembic.config import Config

    from vegafs.db.database import Database
    from vegafs.db.plain import PlainDatabase

MIGRATIONS = Path(__file__).with_name("migrations")


def _config(db: "Database") -> "Config":
    from alembic.config import Config

    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    # A write transaction (BEGIN IMMEDIATE on SQLite): processes starting together on a fresh
    # file then migrate one after the other, instead of failing with "database is locked" when
    # their read transactions both try to write.
    cfg.attributes["engine"] = db.engine.execution_options(vegafs_write=True)
    return cfg


def upgrade(db: "Database", revision: str = "head") -> None:
    from alembic import command

    with db.translate():
        command.upgrade(_config(db), revision)


def head() -> str:
    """The latest revision: the highest-numbered file in ``migrations/versions``."""
    return max(p.name[:4] for p in (MIGRATIONS / "versions").glob("[0-9][0-9][0-9][0-9]_*.py"))


def alembic_head() -> str:
    """The head as Alembic finds it, by following the revisions' links (tests: equals head())."""
    from alembic.script import ScriptDirectory

    script = ScriptDirectory.from_config(_config_for_script())
    current = script.get_current_head()
    assert current is not None
    return current


def current(db: "Database") -> str | None:
    """The database's revision; None before the first migration."""
    from sqlalchemy import inspect, text

    with db.translate(), db.engine.connect() as conn:
        if not inspect(conn).has_table("alembic_version"):
            return None
        found = conn.execute(text("SELECT version_num FROM alembic_version")).scalar()
        return None if found is None else str(found)


def is_current(db: "Database") -> bool:
    return current(db) == head()


def plain_is_current(db: "PlainDatabase") -> bool:
    """``is_current`` for a SQLite database, through the driver alone."""
    with db.read() as cur:
        if not cur.execute(
            "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'alembic_version'"
        ):
            return False
        found = cur.execute("SELECT version_num FROM alembic_version")
    return bool(found) and found[0][0] == head()


def _config_for_script() -> "Config":
    from alembic.config import Config

    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    return cfg


def downgrade(db: "Database", revision: str) -> None:
    from alembic import command

    with db.translate():
        command.downgrade(_config(db), revision)

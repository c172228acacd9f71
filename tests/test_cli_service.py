"""`vegafs db upgrade`, and the service refusing to start on a database that is not current."""

from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

from conftest import PG_URL
from stack import Backend, Stack
from vegafs.db import Database, migrate
from vegafs.db.database import normalise_url


@pytest.fixture
def empty_pg() -> Any:
    """A PostgreSQL database with no tables."""
    if not PG_URL:
        pytest.skip("VEGAFS_TEST_DATABASE_URL unset: run `make pytest`")
    name = "vegafs_empty_test"
    admin = create_engine(normalise_url(PG_URL), isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
        conn.execute(text(f"CREATE DATABASE {name}"))
    yield make_url(PG_URL).set(database=name).render_as_string(hide_password=False)
    with admin.connect() as conn:
        conn.execute(text(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
    admin.dispose()


def test_serve_and_worker_refuse_an_unmigrated_shared_database(
    empty_pg: str, tmp_path: Path
) -> None:
    s = Stack(Backend("pg", empty_pg, None), tmp_path, [tmp_path])
    for command in (["serve", "--port", "1"], ["worker"]):
        done = s.cli(*command)
        assert done.returncode == 2, done.stderr
        assert done.stderr.strip() == (
            f"vegafs: error: the database schema is not current (empty, needs "
            f"{migrate.head()}): run `vegafs db upgrade`"
        )
    done = s.cli("db", "upgrade")
    assert (done.returncode, done.stdout.strip()) == (0, f"database at revision {migrate.head()}")
    done = s.cli("db", "upgrade")  # again: nothing to do
    assert (done.returncode, done.stdout.strip()) == (0, f"database at revision {migrate.head()}")
    s.start_server()
    try:
        assert httpx.get(f"{s.url}/readyz").status_code == 200
    finally:
        s.stop()


def test_the_embedded_database_is_created_on_first_start(tmp_path: Path) -> None:
    s = Stack(Backend("sqlite", None, None), tmp_path / "fresh-data-dir", [tmp_path])
    s.data_dir.mkdir()
    s.start_server()
    try:
        assert (s.data_dir / "vegafs.db").is_file()
        assert httpx.get(f"{s.url}/readyz").status_code == 200
    finally:
        s.stop()


def test_migrations_go_down_and_up_again(backend: Backend, tmp_path: Path) -> None:
    db = Database(backend.database_url or f"sqlite:///{tmp_path / 'm.db'}")
    try:
        migrate.upgrade(db)
        migrate.downgrade(db, "base")
        assert migrate.current(db) is None
        migrate.upgrade(db)
        assert migrate.is_current(db)
    finally:
        db.dispose()


def test_an_unreachable_database_is_a_clear_error(tmp_path: Path) -> None:
    url = "postgresql://vegafs:vegafs@127.0.0.1:1/nowhere"
    done = Stack(Backend("pg", url, None), tmp_path, [tmp_path]).cli("db", "upgrade")
    assert done.returncode == 2
    assert done.stderr.startswith("vegafs: error: database unavailable: ")
    assert "127.0.0.1" in done.stderr


def test_a_bad_setting_is_named_and_an_unknown_one_reported(tmp_path: Path) -> None:
    s = Stack(Backend("sqlite", None, None), tmp_path, [tmp_path], {"VEGAFS_LEASE_S": "soon"})
    done = s.cli("worker")
    assert (done.returncode, done.stderr.strip()) == (
        2,
        "vegafs: error: invalid VEGAFS_LEASE_S: Input should be a valid number, "
        "unable to parse string as a number",
    )
    s = Stack(Backend("sqlite", None, None), tmp_path, [tmp_path], {"VEGAFS_LEASE": "3"})
    s.start_server()
    try:
        assert "WARNING vegafs: VEGAFS_LEASE is not a VegaFS setting (ignored)" in s.log_text()
    finally:
        s.stop()

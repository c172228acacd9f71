"""`vegafs db upgrade`, and the service refusing to start on a database that is not current."""

import socket
import subprocess
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

from conftest import PG_URL, SUBPROCESS_TIMEOUT, cli_env
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
        assert migrate.current(db) == migrate.head()
        migrate.downgrade(db, "0004")
        assert (migrate.current(db), migrate.is_current(db)) == ("0004", False)
        migrate.downgrade(db, "base")
        assert migrate.current(db) is None
        migrate.upgrade(db)
        assert migrate.is_current(db)
    finally:
        db.dispose()


def test_the_head_read_from_the_file_names_is_alembics() -> None:
    assert migrate.head() == migrate.alembic_head()


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


@pytest.mark.parametrize(
    ("variable", "value", "message"),
    [
        (
            "VEGAFS_REDIS_URL",
            "localhost:6379",
            "must start with one of redis://, rediss://, unix:// (e.g. redis://localhost:6379/0)",
        ),
        (
            "VEGAFS_DATABASE_URL",
            "/tmp/x.db",
            "not a database URL (expected sqlite:///PATH or postgresql://HOST/NAME)",
        ),
        (
            "VEGAFS_DATABASE_URL",
            "mysql://u:secret@db/vegafs",
            "unsupported database 'mysql' (supported: sqlite, postgresql)",
        ),
        ("VEGAFS_MAX_ATTEMPTS", "50", "Input should be less than or equal to 20"),
        ("VEGAFS_MAX_ATTEMPTS", "0", "Input should be greater than or equal to 1"),
    ],
)
def test_a_mistyped_setting_is_one_line_naming_it(
    tmp_path: Path, variable: str, value: str, message: str
) -> None:
    s = Stack(Backend("sqlite", None, None), tmp_path, [tmp_path], {variable: value})
    for command in (["serve", "--port", "1"], ["worker"], ["db", "upgrade"]):
        done = s.cli(*command)
        assert (done.returncode, done.stderr) == (
            2,
            f"vegafs: error: invalid {variable}: {message}\n",
        ), command


def test_a_root_that_does_not_exist_is_refused_at_start(tmp_path: Path) -> None:
    missing = tmp_path / "no-such-dir"
    a_file = tmp_path / "file"
    a_file.write_bytes(b"x")
    for root, why in ((missing, "does not exist"), (a_file, "is not a directory")):
        s = Stack(Backend("sqlite", None, None), tmp_path, [tmp_path, root])
        for command in (["serve", "--port", "1"], ["worker"]):
            done = s.cli(*command)
            assert (done.returncode, done.stderr) == (
                2,
                f"vegafs: error: invalid VEGAFS_ROOTS: {root} {why}\n",
            ), command


def test_a_busy_or_invalid_metrics_port_is_a_clear_error(tmp_path: Path) -> None:
    wide = {"COLUMNS": "400", "NO_COLOR": "1", "TERM": "dumb"}  # click's message on one line
    s = Stack(Backend("sqlite", None, None), tmp_path, [tmp_path], wide)
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        done = s.cli("worker", "--metrics-port", str(port))
    assert (done.returncode, done.stderr) == (
        2,
        f"vegafs: error: --metrics-port {port}: Address already in use\n",
    )
    done = s.cli("worker", "--metrics-port", "70000")
    assert done.returncode == 2
    assert "Invalid value for '--metrics-port': Input should be less than or equal to 65535" in (
        done.stderr
    )
    assert "Traceback" not in done.stderr


def test_a_key_root_outside_the_service_roots_is_refused(tmp_path: Path) -> None:
    inside_dir = tmp_path / "served"
    other = tmp_path / "other"
    inside_dir.mkdir()
    other.mkdir()
    s = Stack(Backend("sqlite", None, None), tmp_path / "data", [inside_dir])
    s.data_dir.mkdir()
    done = s.cli("keys", "create", "--name", "k", "--root", str(other))
    assert (done.returncode, done.stdout, done.stderr) == (
        2,
        "",
        f"vegafs: error: --root {other}: outside VEGAFS_ROOTS ({inside_dir})\n",
    )
    done = s.cli("keys", "create", "--name", "k", "--root", str(inside_dir / "."))
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith("vfs_")


def upgrade_at_once(vegafs_exe: Path, url: str, tmp_path: Path, n: int = 4) -> None:
    """``vegafs db upgrade`` by ``n`` processes started together: each one succeeds."""
    env = cli_env() | {"VEGAFS_DATABASE_URL": url, "VEGAFS_DATA_DIR": str(tmp_path / "data")}
    command = [str(vegafs_exe), "db", "upgrade"]
    pipe = subprocess.PIPE
    procs = [subprocess.Popen(command, env=env, stdout=pipe, stderr=pipe, text=True)
             for _ in range(n)]  # fmt: skip
    done = [(p.wait(SUBPROCESS_TIMEOUT), *p.communicate()) for p in procs]
    assert done == [(0, f"database at revision {migrate.head()}\n", "")] * n


def test_processes_upgrading_a_new_postgresql_database_at_once_all_succeed(
    empty_pg: str, vegafs_exe: Path, tmp_path: Path
) -> None:
    """They take turns (an advisory lock held until the upgrade commits): without it, two
    created the same tables and one failed."""
    upgrade_at_once(vegafs_exe, empty_pg, tmp_path)


def test_processes_upgrading_a_new_sqlite_file_at_once_all_succeed(
    vegafs_exe: Path, tmp_path: Path
) -> None:
    upgrade_at_once(vegafs_exe, f"sqlite:///{tmp_path / 'new.db'}", tmp_path)

"""Shared fixtures: the `vegafs` executable, a sample tree checked against find and du, and a
way to run code without the root's power to read everything (setpriv)."""

import json
import os
import shutil
import signal
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from stack import Backend, Stack

MIB = 1024 * 1024
SUBPROCESS_TIMEOUT = 120.0

# Under CI (`CI` set to 1/true, as CI sets it) or VEGAFS_REQUIRE_SERVICES=1 nothing may be
# skipped: a missing service or tool (PostgreSQL, Redis, strace, setpriv) fails the test, so a
# green run means every test really ran. Elsewhere such tests skip, saying what is missing.
REQUIRE_ALL = (
    os.environ.get("CI", "").lower() in ("1", "true", "yes")
    or os.environ.get("VEGAFS_REQUIRE_SERVICES") == "1"
)


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Iterator[None]:
    outcome = yield
    report = outcome.get_result()  # type: ignore[attr-defined]
    if REQUIRE_ALL and report.skipped and not hasattr(report, "wasxfail"):
        reason = report.longrepr[2] if isinstance(report.longrepr, tuple) else report.longrepr
        report.outcome = "failed"
        report.longrepr = f"skipped under CI / VEGAFS_REQUIRE_SERVICES=1: {reason}"


# Root reads everything through CAP_DAC_OVERRIDE / CAP_DAC_READ_SEARCH; drop both for the child.
_CAPS = "-dac_override,-dac_read_search"
SETPRIV = ["setpriv", f"--inh-caps={_CAPS}", f"--bounding-set={_CAPS}", "--"]


@dataclass(frozen=True)
class CliResult:
    returncode: int
    stdout: bytes
    stderr: str

    @property
    def text(self) -> str:
        """stdout as str; bytes that are not UTF-8 kept as surrogates (os.fsdecode style)."""
        return self.stdout.decode("utf-8", "surrogateescape")

    def json(self) -> dict[str, Any]:
        value = json.loads(self.stdout)
        assert isinstance(value, dict)
        return value


class Vegafs:
    """Runs the installed `vegafs` executable."""

    def __init__(self, exe: Path) -> None:
        self.exe = exe

    def run(
        self,
        *args: str,
        cwd: Path,
        prefix: list[str] | None = None,
        timeout: float = SUBPROCESS_TIMEOUT,
        env: dict[str, str] | None = None,
    ) -> CliResult:
        done = subprocess.run(
            [*(prefix or []), str(self.exe), *args],
            cwd=cwd,
            env=cli_env() | (env or {}),
            capture_output=True,
            timeout=timeout,
            check=False,
        )
        return CliResult(done.returncode, done.stdout, done.stderr.decode("utf-8", "replace"))


# A shell runs a background job with SIGINT ignored, and exec keeps it ignored in every child:
# `make test &` would then see no Ctrl-C reach the vegafs the tests interrupt. Python's own
# handler, set here, becomes the default disposition in the children.
if signal.getsignal(signal.SIGINT) is signal.SIG_IGN:
    signal.signal(signal.SIGINT, signal.default_int_handler)


def cli_env() -> dict[str, str]:
    """A wide terminal without colours, so that messages are never wrapped or styled."""
    env = dict(os.environ)
    env.update({"COLUMNS": "400", "LINES": "100", "NO_COLOR": "1", "TERM": "dumb"})
    env.pop("FORCE_COLOR", None)
    return env


@pytest.fixture(scope="session")
def vegafs_exe() -> Path:
    exe = Path(sys.executable).parent / "vegafs"
    assert exe.is_file(), f"{exe} is missing: run `maturin develop` first"
    return exe


@pytest.fixture(scope="session")
def vegafs(vegafs_exe: Path) -> Vegafs:
    return Vegafs(vegafs_exe)


@pytest.fixture(scope="session")
def unprivileged() -> list[str]:
    """Command prefix under which `chmod 000` denies access (empty when not root)."""
    if os.geteuid() != 0:
        return []
    if shutil.which("setpriv") is None:
        pytest.skip("setpriv (util-linux) is missing: cannot drop root's DAC capabilities")
    probe = subprocess.run(
        [*SETPRIV, "true"], capture_output=True, timeout=SUBPROCESS_TIMEOUT, check=False
    )
    if probe.returncode != 0:
        pytest.skip(f"setpriv cannot drop capabilities here: {probe.stderr.decode().strip()}")
    return SETPRIV


@pytest.fixture
def locked_tree(tmp_path: Path) -> Iterator[Path]:
    """tree/open/f (3 bytes), tree/open/g (5 bytes), tree/locked/ (mode 000, holds one file).
    Permissions are restored afterwards so that tmp_path can be removed."""
    root = tmp_path / "tree"
    (root / "open").mkdir(parents=True)
    (root / "open" / "f").write_bytes(b"abc")
    (root / "open" / "g").write_bytes(b"12345")
    locked = root / "locked"
    locked.mkdir()
    (locked / "hidden-away").write_bytes(b"x" * 1000)
    locked.chmod(0)
    try:
        yield root
    finally:
        locked.chmod(0o755)


def write(path: Path, size: int, mtime: int | None = None) -> Path:
    """A file of `size` bytes (parents created), with this mtime if given."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(b"x" * size)
    if mtime is not None:
        os.utime(path, (mtime, mtime))
    return path


def ops_listed(stdout: bytes | str) -> list[list[str]]:
    """`vegafs ops list`'s lines as their fields but the last (when it was created: the test
    of rename's journal checks it), newest first."""
    text = stdout.decode() if isinstance(stdout, bytes) else stdout
    return [line.split("\t")[:-1] for line in text.splitlines()]


def find_count(root: Path, kind: str) -> int:
    """`find ROOT -type KIND | wc -l`, counted without a shell (names may hold newlines)."""
    out = subprocess.run(
        ["find", str(root), "-type", kind, "-print0"],
        capture_output=True,
        check=True,
        timeout=SUBPROCESS_TIMEOUT,
    ).stdout
    return out.count(b"\0")


def du_bytes(path: Path, *flags: str) -> int:
    """The number `du -s FLAGS PATH` prints."""
    out = subprocess.run(
        ["du", "-s", *flags, str(path)],
        capture_output=True,
        check=True,
        timeout=SUBPROCESS_TIMEOUT,
    ).stdout
    return int(out.split()[0])


@dataclass(frozen=True)
class SampleTree:
    """A tree holding every kind of entry, with what find and du say about it."""

    root: Path
    sparse: Path
    files: int
    dirs: int
    symlinks: int
    other: int
    apparent_bytes: int
    disk_bytes: int


def build_sample_tree(root: Path) -> SampleTree:
    """root/
    a/one.txt (100 B), a/hard2 (hard link to a/b/c/hard1)
    a/b/two.py (2,000 B)
    a/b/c/three.bin (30,000 B), a/b/c/hard1 (4,000 B)
    empty/
    link_to_file -> a/one.txt, dangling -> does-not-exist, fifo, sparse.img (10 MiB, 1 B written)
    """
    (root / "a" / "b" / "c").mkdir(parents=True)
    (root / "empty").mkdir()
    (root / "a" / "one.txt").write_bytes(b"1" * 100)
    (root / "a" / "b" / "two.py").write_bytes(b"2" * 2000)
    (root / "a" / "b" / "c" / "three.bin").write_bytes(b"3" * 30_000)
    (root / "a" / "b" / "c" / "hard1").write_bytes(b"h" * 4000)
    os.link(root / "a" / "b" / "c" / "hard1", root / "a" / "hard2")
    (root / "link_to_file").symlink_to("a/one.txt")
    (root / "dangling").symlink_to("does-not-exist")
    os.mkfifo(root / "fifo")
    sparse = root / "sparse.img"
    with sparse.open("wb") as f:
        f.write(b"s")
        f.truncate(10 * MIB)
    return SampleTree(
        root=root,
        sparse=sparse,
        files=find_count(root, "f"),
        dirs=find_count(root, "d"),
        symlinks=find_count(root, "l"),
        other=find_count(root, "p"),
        apparent_bytes=du_bytes(root, "-b"),
        disk_bytes=du_bytes(root, "-B1"),
    )


@pytest.fixture
def sample_tree(tmp_path: Path) -> SampleTree:
    return build_sample_tree(tmp_path / "tree")


# --- the service: SQLite (embedded) and PostgreSQL + Redis ------------------------------------

PG_URL = os.environ.get("VEGAFS_TEST_DATABASE_URL")
REDIS_URL = os.environ.get("VEGAFS_TEST_REDIS_URL")


@pytest.fixture(scope="session")
def pg_schema() -> Iterator[str]:
    """A PostgreSQL database of this test session's own (so that two sessions never meet),
    migrated once, dropped at the end."""
    if not PG_URL or not REDIS_URL:
        pytest.skip("VEGAFS_TEST_DATABASE_URL / VEGAFS_TEST_REDIS_URL unset: run `make pytest`")
    from sqlalchemy import create_engine, text
    from sqlalchemy.engine import make_url

    from vegafs.db import Database, migrate
    from vegafs.db.database import normalise_url

    name = f"vegafs_t{os.getpid()}"
    admin = create_engine(normalise_url(PG_URL), isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
        conn.execute(text(f"CREATE DATABASE {name}"))
    url = make_url(PG_URL).set(database=name).render_as_string(hide_password=False)
    db = Database(url)
    migrate.upgrade(db)
    db.dispose()
    yield url
    with admin.connect() as conn:
        conn.execute(text(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
    admin.dispose()


def clean_pg(url: str) -> None:
    from sqlalchemy import text

    from vegafs.db import Database

    db = Database(url)
    with db.write() as conn:
        conn.execute(
            text(
                "TRUNCATE job_results, jobs, api_keys, write_steps, write_ops "
                "RESTART IDENTITY CASCADE"
            )
        )
    db.dispose()


@pytest.fixture(params=["sqlite", "pg"])
def backend(request: pytest.FixtureRequest) -> Backend:
    """Each service test runs twice: embedded SQLite, and PostgreSQL + Redis (emptied first)."""
    if request.param == "sqlite":
        return Backend("sqlite", None, None)
    return pg_backend(request)


def pg_backend(request: pytest.FixtureRequest) -> Backend:
    """PostgreSQL (this session's database, emptied) + Redis (this session's own database,
    flushed): the ``pg`` half of ``backend``, for fixtures that choose their backends."""
    url = request.getfixturevalue("pg_schema")
    clean_pg(url)
    import redis
    from sqlalchemy.engine import make_url

    assert REDIS_URL is not None
    # A Redis database of this session's own too (1-15), emptied before each test.
    redis_url = make_url(REDIS_URL).set(database=str(os.getpid() % 15 + 1))
    redis_text = redis_url.render_as_string(hide_password=False)
    redis.Redis.from_url(redis_text).flushdb()
    return Backend("pg", url, redis_text)


@pytest.fixture
def service_root(tmp_path: Path) -> Path:
    """The one directory the test service may touch (VEGAFS_ROOTS), with a few files."""
    root = Path(os.path.realpath(tmp_path / "root"))
    (root / "a" / "b").mkdir(parents=True)
    write(root / "a" / "one.txt", 100)
    write(root / "a" / "b" / "two.bin", 2000)
    write(root / "three.log", 30)
    return root


@pytest.fixture
def stack(backend: Backend, tmp_path: Path, service_root: Path) -> Iterator[Stack]:
    """A running service (server, plus a worker process on PostgreSQL), stopped afterwards."""
    s = Stack(backend, tmp_path / "data", [service_root])
    s.data_dir.mkdir()
    try:
        yield s.start()
    finally:
        s.stop()


def mounted_tmpfs(mount: Path, size: str) -> Iterator[Path]:
    """A tmpfs of ``size`` at ``mount`` (created; we are root) for a fixture to yield, unmounted
    after; skipped where it cannot be mounted, but not under CI."""
    mount.mkdir()
    done = subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(mount)],
                          capture_output=True, check=False)  # fmt: skip
    if done.returncode != 0:
        if REQUIRE_ALL:
            pytest.fail(f"cannot mount a tmpfs: {done.stderr.decode().strip()}")
        pytest.skip(f"cannot mount a tmpfs: {done.stderr.decode().strip()}")
    try:
        yield mount
    finally:
        subprocess.run(["umount", str(mount)], check=True)


@pytest.fixture
def other_fs(tmp_path: Path) -> Iterator[Path]:
    """A tmpfs: another file system than tmp_path's."""
    yield from mounted_tmpfs(tmp_path / "other", "64m")


@pytest.fixture
def small_disk(tmp_path: Path) -> Iterator[Path]:
    """A 1 MiB tmpfs, to fill up."""
    yield from mounted_tmpfs(tmp_path / "small", "1m")

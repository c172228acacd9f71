"""`vegafs jobs` and `vegafs analyze --submit`: the installed executable against a real service,
on SQLite and on PostgreSQL + Redis."""

import json
import re
import signal
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from conftest import PG_URL, cli_env
from stack import Backend, Stack, free_port, slow_tree, slowed, strace_missing, vegafs_exe

TIMEOUT = 60
EACCES = "Permission denied (os error 13)"


def run(
    stack: Stack | None,
    *args: str,
    key: str | None = None,
    cwd: Path | None = None,
    prefix: list[str] | None = None,
    server: str | None = None,
) -> subprocess.CompletedProcess[str]:
    """`vegafs ARGS` as a user runs it, with VEGAFS_SERVER naming the stack's server."""
    return subprocess.run(
        [*(prefix or []), str(vegafs_exe()), *args],
        env=environment(stack, key, server),
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=TIMEOUT,
        check=False,
    )


def environment(
    stack: Stack | None, key: str | None = None, server: str | None = None
) -> dict[str, str]:
    env = cli_env() | (stack.env if stack else {})
    env.pop("VEGAFS_API_KEY", None)
    env.pop("VEGAFS_SERVER", None)
    if stack is not None or server is not None:
        env["VEGAFS_SERVER"] = server or stack.url  # type: ignore[union-attr]
    if key is not None:
        env["VEGAFS_API_KEY"] = key
    return env


def ok(done: subprocess.CompletedProcess[str]) -> str:
    assert done.returncode == 0, (done.returncode, done.stdout, done.stderr)
    return done.stdout


def refused(done: subprocess.CompletedProcess[str], code: int = 2) -> str:
    """The one error line of a command that failed with ``code`` and printed nothing."""
    assert (done.returncode, done.stdout) == (code, ""), (done.returncode, done.stdout, done.stderr)
    return done.stderr


def listed(stack: Stack, *args: str) -> list[tuple[str, ...]]:
    """`vegafs jobs list ARGS` as (id, status, operation, paths) rows."""
    rows = [line.split("\t") for line in ok(run(stack, "jobs", "list", *args)).splitlines()]
    return [(r[0], r[1], r[2], r[4]) for r in rows]


def new_stack(backend: Backend, tmp_path: Path, root: Path) -> Stack:
    s = Stack(backend, tmp_path / "data", [root])
    s.data_dir.mkdir()
    return s


def test_submit_watch_show_and_results_as_ndjson_and_csv(
    backend: Backend, tmp_path: Path, service_root: Path, unprivileged: list[str]
) -> None:
    locked = [service_root / "locked0", service_root / "locked1"]
    for d in locked:
        d.mkdir()
        d.chmod(0)
    s = new_stack(backend, tmp_path, service_root)
    try:
        s.start(prefix=unprivileged)
        url = f"{s.url}/api/v1/jobs"
        # A relative path is made absolute against the current directory.
        out = ok(run(s, "jobs", "submit", "analyze", service_root.name, "--top", "2",
                     cwd=service_root.parent))  # fmt: skip
        assert out == f"job 1 queued: {url}/1\n"
        assert ok(run(s, "jobs", "watch", "1")) == "job 1 succeeded\n"

        job = json.loads(ok(run(s, "jobs", "show", "1", "--json")))
        assert (job["id"], job["status"], job["operation"]) == (1, "succeeded", "analyze")
        assert job["params"]["selection"]["roots"] == [str(service_root)]
        assert job["params"]["top"] == 2
        summary = job["summary"]
        assert (summary["files"], summary["dirs"], summary["error_count"]) == (3, 5, 2)
        assert [f["bytes"] for f in summary["largest_files"]] == [2000, 100]
        assert job["result_rows"] == 2

        shown = ok(run(s, "jobs", "show", "1")).splitlines()
        assert shown[:5] == [
            "job:       1",
            "operation: analyze",
            "status:    succeeded",
            f"url:       {url}/1",
            f"paths:     {service_root}",
        ]
        assert "attempts:  1 of 3" in shown
        assert "results:   2 rows" in shown

        rows = [{"path": str(d), "kind": "permission_denied", "error": EACCES} for d in locked]
        ndjson = ok(run(s, "jobs", "results", "1"))
        assert [json.loads(line) for line in ndjson.splitlines()] == rows
        csv_text = run(s, "jobs", "results", "1", "--format", "csv")
        assert ok(csv_text).splitlines() == [
            "path,kind,error",
            *(f"{d},permission_denied,{EACCES}" for d in locked),
        ]

        # `analyze --submit --wait` prints what the same analysis run here prints.
        args = ["analyze", str(service_root), "--json", "--now", "@1700000000", "--top", "3"]
        remote = run(s, *args, "--submit", "--wait")
        local = run(None, *args, prefix=unprivileged)
        assert (remote.returncode, local.returncode) == (1, 1), remote.stderr
        assert remote.stderr.splitlines()[0] == f"job 2 queued: {url}/2"
        assert remote.stderr.splitlines()[-1] == "vegafs: 2 entries could not be read"
        got, want = json.loads(remote.stdout), json.loads(local.stdout)
        assert got.pop("elapsed_s") >= 0
        assert want.pop("elapsed_s") >= 0
        assert got == want
        assert got["errors"] == rows
        # The same again comes from the server's cache, and says so; --fresh runs it again.
        cached = run(s, *args, "--submit", "--wait")
        assert cached.returncode == 1
        notice = re.compile(
            r"vegafs: job 3: the result is from the server's cache, computed \d+ s ago "
            r"\(--fresh runs it again\)"
        )
        assert any(notice.fullmatch(line) for line in cached.stderr.splitlines()), cached.stderr
        assert json.loads(cached.stdout)["files"] == got["files"]
        fresh = run(s, *args, "--submit", "--wait", "--fresh")
        assert fresh.returncode == 1
        assert "cache" not in fresh.stderr
    finally:
        s.stop()
        for d in locked:
            d.chmod(0o755)


def test_submit_list_cancel_retry_delete_and_refusals(
    backend: Backend, tmp_path: Path, service_root: Path
) -> None:
    s = new_stack(backend, tmp_path, service_root)
    try:
        s.start_server("--no-worker")  # jobs stay queued until a worker starts
        r, a, b = str(service_root), str(service_root / "a"), str(service_root / "a" / "b")
        # `analyze --submit` prints the job's id and URL and returns at once.
        assert ok(run(s, "analyze", r, "--submit")) == f"job 1 queued: {s.url}/api/v1/jobs/1\n"
        assert ok(run(s, "jobs", "submit", "analyze", a, "-q")) == "2\n"
        job = json.loads(ok(run(s, "jobs", "submit", "analyze", b, "--json", "--priority", "5")))
        assert (job["id"], job["status"], job["priority"]) == (3, "queued", 5)
        assert job["params"]["selection"]["roots"] == [b]

        assert ok(run(s, "jobs", "cancel", "1")) == "job 1 cancelled\n"
        assert listed(s) == [
            ("3", "queued", "analyze", b),
            ("2", "queued", "analyze", a),
            ("1", "cancelled", "analyze", r),
        ]
        assert listed(s, "--status", "cancelled") == [("1", "cancelled", "analyze", r)]
        assert listed(s, "-s", "queued", "-s", "failed", "--operation", "analyze", "-n", "1") == [
            ("3", "queued", "analyze", b)
        ]
        assert ok(run(s, "jobs", "retry", "1")) == "job 1 queued\n"
        assert ok(run(s, "jobs", "cancel", "3")) == "job 3 cancelled\n"
        # There when submitted, gone when a worker looks: the job fails.
        gone = service_root / "gone"
        gone.mkdir()
        assert ok(run(s, "jobs", "submit", "analyze", str(gone), "-q")) == "4\n"
        gone.rmdir()
        s.start_worker()
        assert ok(run(s, "jobs", "watch", "1")) == "job 1 succeeded\n"
        done = run(s, "jobs", "watch", "3")
        assert refused(done, 3) == "vegafs: error: job 3 was cancelled\n"
        assert refused(run(s, "jobs", "watch", "4"), 1) == (
            f"vegafs: error: job 4 failed: {gone}: does not exist (path-not-allowed)\n"
        )
        assert refused(run(s, "jobs", "cancel", "1")) == (
            "vegafs: error: job 1 has already ended (succeeded)\n"
        )
        assert ok(run(s, "jobs", "delete", "1")) == "job 1 deleted\n"
        for command in ("show", "watch", "results"):
            assert refused(run(s, "jobs", command, "1")) == "vegafs: error: no job 1\n", command

        # The server's refusals name the path or the field.
        outside = tmp_path / "outside"
        outside.mkdir()
        refusal = f"vegafs: error: {outside}: is outside the allowed roots\n"
        assert refused(run(s, "jobs", "submit", "analyze", str(outside))) == refusal
        assert refused(run(s, "analyze", str(outside), "--submit", "--wait")) == refusal
        assert refused(run(s, "jobs", "submit", "analyze", r, "--follow")) == (
            "vegafs: error: -L/--follow: a job cannot follow symlinks "
            "(a link could lead out of the server's roots)\n"
        )

        # A server that is no VegaFS API (a wrong path in --server) is named with the URL.
        wrong = f"{s.url}/elsewhere"
        assert refused(run(s, "jobs", "list", "--server", wrong)) == (
            f"vegafs: error: {wrong}/api/v1/jobs?limit=50: HTTP 404 Not Found "
            f"(is {wrong} a VegaFS server?)\n"
        )

        # Once a key exists, requests need one, with the scope they use.
        reader = s.create_key("reader", scopes="read")
        assert refused(run(s, "jobs", "show", "2")) == (
            "vegafs: error: an API key is required (Authorization: Bearer <key>) "
            "(set VEGAFS_API_KEY or pass --api-key)\n"
        )
        done = run(s, "jobs", "submit", "analyze", r, "--api-key", reader)
        assert refused(done) == "vegafs: error: the API key lacks the 'submit' scope\n"
        assert ok(run(s, "jobs", "list", key=reader)) == ""  # the jobs are not the reader's

        if backend.database_url:  # The database goes away: the server answers 503 (exit 4).
            with refusing_connections(backend.database_url):
                done = run(s, "jobs", "list", key=reader)
            assert refused(done, 4) == (
                f"vegafs: error: {s.url}: the server failed: the database cannot be reached; "
                "retry shortly (HTTP 503)\n"
            )
    finally:
        s.stop()


@contextmanager
def refusing_connections(url: str) -> Iterator[None]:
    """The PostgreSQL database at ``url`` closes its connections and refuses new ones."""
    from sqlalchemy import create_engine, text
    from sqlalchemy.engine import make_url

    from vegafs.db.database import normalise_url

    assert PG_URL is not None
    name = make_url(url).database
    admin = create_engine(normalise_url(PG_URL), isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as conn:
            conn.execute(text(f'ALTER DATABASE "{name}" ALLOW_CONNECTIONS false'))
            conn.execute(
                text("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = :n"),
                {"n": name},
            )
        yield
    finally:
        with admin.connect() as conn:
            conn.execute(text(f'ALTER DATABASE "{name}" ALLOW_CONNECTIONS true'))
        admin.dispose()


@pytest.fixture
def slow_stack(backend: Backend, tmp_path: Path, service_root: Path) -> Iterator[Stack]:
    """A service whose jobs on ``service_root/slow`` take ~25 s (nested dirs, slowed getdents):
    they run until cancelled."""
    why_not = strace_missing()
    if why_not:
        pytest.skip(why_not)
    dirs = slow_tree(service_root / "slow", depth=25)
    s = new_stack(backend, tmp_path, service_root)
    try:
        yield s.start(prefix=slowed(dirs, delay_ms=500))
    finally:
        s.stop()


def test_a_watch_survives_a_server_restart_and_ends_when_the_job_is_cancelled(
    slow_stack: Stack, service_root: Path
) -> None:
    s = slow_stack
    cmd = [str(vegafs_exe()), "jobs", "submit", "analyze", str(service_root / "slow"), "--wait"]
    with subprocess.Popen(
        cmd, env=environment(s), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    ) as watcher:
        try:
            assert watcher.stdout is not None
            assert watcher.stdout.readline() == f"job 1 queued: {s.url}/api/v1/jobs/1\n"
            assert watcher.stderr is not None
            # The watch has seen the job running (not only the test: no race with the cancel).
            seen = watcher.stderr.readline()
            assert seen == "job 1 running\n"
            if not s.backend.embedded:
                # The API server goes away (its worker is another process, the job runs on):
                # the watch resumes once it is back.
                server = s.procs[0]
                s.signal(server, signal.SIGKILL)
                server.wait()
                time.sleep(0.5)
                s.start_server()
            assert ok(run(s, "jobs", "cancel", "1")) == "job 1 running: cancel requested\n"
            out, err = watcher.communicate(timeout=TIMEOUT)
        finally:
            if watcher.poll() is None:
                watcher.kill()
    assert (watcher.returncode, out) == (3, ""), err
    assert err.splitlines()[-1] == "vegafs: error: job 1 was cancelled"
    assert "job 1 running" not in err.splitlines()  # said once, before the restart


def test_what_needs_no_server_and_a_server_that_cannot_be_reached(tmp_path: Path) -> None:
    server = f"http://127.0.0.1:{free_port()}"
    want = f"vegafs: error: cannot reach the server at {server}: Connection refused\n"
    assert refused(run(None, "jobs", "watch", "1", "--server", server), 4) == want
    done = run(None, "analyze", str(tmp_path), "--submit", "--server", server + "/api/v1/")
    assert refused(done, 4) == want
    done = run(None, "jobs", "submit", "analyze", str(tmp_path), server=server)  # VEGAFS_SERVER
    assert refused(done, 4) == want
    # Checked before any request: the same messages as the local command.
    done = run(None, "jobs", "submit", "analyze", str(tmp_path), "--min-size", "10q")
    assert done.returncode == 2
    assert "vegafs: error: invalid --min-size: not a size: '10q'" in done.stderr
    done = run(None, "analyze", str(tmp_path), "--wait")
    assert done.returncode == 2
    assert "--wait needs --submit" in done.stderr
    done = run(None, "jobs", "list", "--status", "sleeping")
    assert done.returncode == 2
    assert "'sleeping' is not one of 'queued', 'running'" in done.stderr
    assert refused(run(None, "jobs", "list", "--server", "ftp://example.org")) == (
        "vegafs: error: --server: not an http:// or https:// URL: 'ftp://example.org'\n"
    )

"""What a worker runs, with real `vegafs serve` and `vegafs worker` processes on both databases:
it confines every attempt to its roots narrowed by the submitting key's root and fails closed
without roots; a retry is confined again; a heartbeat the database refuses stops the operation;
a result that takes longer than a lease to write does not lose the lease."""

import contextlib
import os
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import create_engine, text, update
from sqlalchemy.engine import make_url

from conftest import clean_pg
from stack import Backend, Stack, slow_tree, slowed, strace_missing
from vegafs.db import Database
from vegafs.db import jobs as queue
from vegafs.db.database import normalise_url

FINISHED = {"succeeded", "failed", "cancelled"}


def analyze_body(root: Path) -> dict[str, Any]:
    return {"operation": "analyze", "params": {"selection": {"roots": [str(root)]}}}


@contextlib.contextmanager
def running(stack: Stack) -> Iterator[Stack]:
    stack.data_dir.mkdir(exist_ok=True)
    try:
        yield stack
    finally:
        stack.stop()


def database(stack: Stack) -> Database:
    """The stack's database, opened behind the service's back."""
    return Database(stack.backend.database_url or f"sqlite:///{stack.data_dir / 'vegafs.db'}")


def worker_with_roots(stack: Stack, roots: list[Path]) -> Stack:
    """A second view of ``stack`` (same database, data dir and port) whose processes get other
    VEGAFS_ROOTS: for a worker configured unlike the server."""
    return Stack(stack.backend, stack.data_dir, roots, dict(stack.env_extra), port=stack.port)


# --- 1. confinement at every attempt, and at a retry -------------------------------------------


def test_a_worker_without_roots_refuses_every_job(
    backend: Backend, tmp_path: Path, service_root: Path
) -> None:
    with running(Stack(backend, tmp_path / "data", [service_root])) as s:
        s.start_server("--no-worker")
        rootless = worker_with_roots(s, [])
        try:
            proc = rootless.start_worker("--id", "rootless", "-j", "1")
            rootless.wait_log(proc, "VEGAFS_ROOTS is empty: every job will fail path-not-allowed")
            with s.client() as http:
                job_id = http.post("/jobs", json=analyze_body(service_root)).json()["id"]
                done = s.wait_job(http, job_id, FINISHED)
        finally:
            rootless.stop()
    assert (done["status"], done["worker_id"], done["summary"]) == ("failed", "rootless", None)
    assert done["error"] == {
        "type": "path-not-allowed",
        "message": "the worker has no VEGAFS_ROOTS",
    }


def test_a_job_is_confined_to_its_keys_root_even_by_a_worker_with_wider_roots(
    backend: Backend, tmp_path: Path, service_root: Path
) -> None:
    key_root = service_root / "a"
    with running(Stack(backend, tmp_path / "data", [service_root])) as s:
        key = s.create_key("narrow", root=key_root)
        s.start_server("--no-worker")
        with s.client(key) as http:
            job = http.post("/jobs", json=analyze_body(key_root))
            assert job.status_code == 202, job.text
            job_id = job.json()["id"]
            # An old or tampered row: its params name a path outside the key's root, though
            # inside the worker's roots.
            db = database(s)
            try:
                with db.write() as conn:
                    conn.execute(
                        update(queue.JOB)
                        .where(queue.JOB.c.id == job_id)
                        .values(spec={"selection": {"roots": [str(service_root)]}})
                    )
                row = queue.get(db, job_id)
                assert row is not None
                assert row.key_root == str(key_root)
            finally:
                db.dispose()
            s.start_worker("--id", "wide", "-j", "1")
            done = s.wait_job(http, job_id, FINISHED)
    assert (done["status"], done["worker_id"], done["summary"]) == ("failed", "wide", None)
    assert done["error"] == {
        "type": "path-not-allowed",
        "message": f"{service_root}: is outside the allowed roots",
        "path": str(service_root),
    }


def test_a_root_that_became_a_symlink_after_submit_is_refused_not_followed(
    backend: Backend, tmp_path: Path, service_root: Path
) -> None:
    """Even a link that stays inside the roots: the job names a real directory, and the worker
    walks that directory or nothing (the core also opens it beneath the roots without
    following any symlink)."""
    target = service_root / "a"
    with running(Stack(backend, tmp_path / "data", [service_root])) as s:
        s.start_server("--no-worker")  # the job waits in the queue
        with s.client() as http:
            job_id = http.post("/jobs", json=analyze_body(target)).json()["id"]
            target.rename(service_root / "a-moved")
            target.symlink_to(service_root / "a-moved")  # still inside the roots
            s.start_worker("--id", "w", "-j", "1")
            done = s.wait_job(http, job_id, FINISHED)
    assert (done["status"], done["summary"]) == ("failed", None)
    assert done["error"] == {
        "type": "path-not-allowed",
        "message": f"{target}: is reached through a symlink now; it was not at submit",
        "path": str(target),
    }


def test_a_retry_is_refused_once_the_path_became_a_symlink_out_of_the_roots(
    backend: Backend, tmp_path: Path, service_root: Path
) -> None:
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "secret.txt").write_bytes(b"s" * 10)
    target = service_root / "a"
    with running(Stack(backend, tmp_path / "data", [service_root])) as s:
        s.start_server("--no-worker")  # no worker: the job stays queued until cancelled
        with s.client() as http:
            job_id = http.post("/jobs", json=analyze_body(target)).json()["id"]
            cancelled = http.post(f"/jobs/{job_id}/cancel")
            assert (cancelled.status_code, cancelled.json()["status"]) == (202, "cancelled")
            target.rename(service_root / "a-moved")
            target.symlink_to(outside)
            r = http.post(f"/jobs/{job_id}/retry")
            assert r.status_code == 422, r.text
            problem = r.json()
            assert (problem["type"], problem["path"]) == ("/problems/path-not-allowed", str(target))
            assert problem["detail"] == (f"{target}: is outside the allowed roots")
            assert http.get(f"/jobs/{job_id}").json()["status"] == "cancelled"  # not queued

            target.unlink()  # the path is back inside the roots: the retry goes through
            (service_root / "a-moved").rename(target)
            r = http.post(f"/jobs/{job_id}/retry")
            assert (r.status_code, r.json()["status"]) == (202, "queued")


def test_a_root_the_worker_may_not_look_at_fails_permission_denied(
    backend: Backend, tmp_path: Path, service_root: Path, unprivileged: list[str]
) -> None:
    """Not path-not-allowed: the path is inside the roots, the worker is refused by the file
    system (a directory on the way became unreadable after the submit)."""
    locked = service_root / "locked"
    inner = locked / "inner"
    inner.mkdir(parents=True)
    with running(Stack(backend, tmp_path / "data", [service_root])) as s:
        s.start_server("--no-worker")  # the job waits in the queue
        with s.client() as http:
            job_id = http.post("/jobs", json=analyze_body(inner)).json()["id"]
            locked.chmod(0)
            try:
                s.start_worker("--id", "w", "-j", "1", prefix=unprivileged)
                done = s.wait_job(http, job_id, FINISHED)
            finally:
                locked.chmod(0o755)
    assert (done["status"], done["attempts"], done["summary"]) == ("failed", 1, None)
    assert done["error"] == {
        "type": "permission-denied",
        "message": f"{inner}: permission denied (the service may not look at it)",
        "path": str(inner),
    }


# --- 3. a heartbeat refused for another reason than the database being away -------------------


def set_read_only(url: str, read_only: bool) -> None:
    """Put the database in (or out of) read-only mode, as a failover to a standby or a
    maintenance window does, and end its sessions so that every process reconnects into it."""
    name = make_url(url).database
    admin = create_engine(normalise_url(url), isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as conn:
            conn.execute(text("SET default_transaction_read_only = off"))  # this session may
            value = "on" if read_only else "off"
            conn.execute(text(f"ALTER DATABASE {name} SET default_transaction_read_only = {value}"))
            conn.execute(
                text(
                    "SELECT pg_terminate_backend(pid) FROM pg_stat_activity"
                    " WHERE datname = :name AND pid <> pg_backend_pid()"
                ),
                {"name": name},
            )
    finally:
        admin.dispose()


def test_a_heartbeat_refused_by_a_read_only_database_cancels_the_operation(
    pg_schema: str, tmp_path: Path, service_root: Path
) -> None:
    """A read-only database refuses the heartbeat's UPDATE (ReadOnlySqlTransaction): the
    connection is fine, so this is not "database unavailable". The operation must stop at once
    instead of running on unsupervised; the job is run again once the database is writable."""
    why_not = strace_missing()
    if why_not:
        pytest.skip(why_not)
    clean_pg(pg_schema)
    slow = service_root / "slow"
    dirs = slow_tree(slow, depth=10)  # about 4 s
    with running(Stack(Backend("pg", pg_schema, None), tmp_path / "data", [service_root])) as s:
        worker = s.start_worker("--id", "w", "-j", "1", prefix=slowed(dirs))
        s.start_server("--no-worker")
        with s.client() as http:
            job_id = http.post("/jobs", json=analyze_body(slow)).json()["id"]
            s.wait_job(http, job_id, {"running"})
            set_read_only(pg_schema, True)
            try:
                log = s.wait_log(worker, f"job {job_id}: heartbeat failed; operation cancelled")
                assert "ReadOnlySqlTransaction" in log
            finally:
                set_read_only(pg_schema, False)
            done = s.wait_job(http, job_id, FINISHED, timeout=60)
    assert (done["status"], done["attempts"]) == ("succeeded", 2), done
    assert done["summary"]["dirs"] == 11


# --- 5. a result that takes longer than a lease to write ----------------------------------------


def test_a_result_longer_to_write_than_a_lease_keeps_its_lease(
    pg_schema: str, tmp_path: Path, service_root: Path
) -> None:
    """200,000 rows into PostgreSQL take longer than the stack's 3 s lease: each batch written
    renews the lease, so no other worker reclaims the job and the first attempt succeeds."""
    clean_pg(pg_schema)
    big = service_root / "big"
    files = 200_000
    for d in range(200):
        sub = big / f"d{d:03d}"
        sub.mkdir(parents=True)
        for f in range(files // 200):
            os.close(os.open(sub / f"f{f:04d}", os.O_CREAT | os.O_WRONLY, 0o644))
    backend = Backend("pg", pg_schema, None)
    with running(Stack(backend, tmp_path / "data", [service_root])) as s:
        s.start_server("--no-worker")
        workers = [s.start_worker("--id", f"w{n}", "-j", "1") for n in range(2)]
        with s.client() as http:
            body = {"operation": "list", "params": {"selection": {"roots": [str(big)]}}}
            job_id = http.post("/jobs", json=body).json()["id"]
            started = time.monotonic()
            done = s.wait_job(http, job_id, FINISHED, timeout=300)
            took = time.monotonic() - started
        logs = "".join(s.log_of(w) for w in workers)
    assert (done["status"], done["attempts"], done["error"]) == ("succeeded", 1, None), done
    assert done["result_rows"] == files + 200 + 1  # the files, their directories, the root
    assert "lease" not in logs, logs
    print(f"the list job took {took:.1f} s with a 3 s lease")

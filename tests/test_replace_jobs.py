"""A replace applied as a job: journaled in the service's database, every file opened beneath the
roots, `apply` only with the `write` scope; a worker killed mid-apply leaves every file fully
old or fully new and is recovered from the journal by the next attempt, never applied blindly
twice; a cancel mid-apply rolls every file back byte for byte."""

import os
import signal
from pathlib import Path
from typing import Any

from sqlalchemy import select

from stack import Backend, Stack
from test_rename_jobs import (
    assert_applied_once,
    cancel_mid_apply,
    journal_rows,
    wait_until_applying,
)
from test_service_failures import FINISHED, SHORT_LEASE, running, sqlite_file
from vegafs.db import Database
from vegafs.db.models import WriteStep

N = 3000


def replace_body(root: Path, *, apply: bool) -> dict[str, Any]:
    params = {"selection": {"roots": [str(root)]}, "pattern": "needle", "replacement": "NEEDLE"}
    return {"operation": "replace", "params": {**params, "apply": apply}}


def old(i: int) -> bytes:
    lines = (b"line %d of file %d%s\n" % (k, i, b" needle" * (k % 3 == 0)) for k in range(40))
    return b"".join(lines)


def new(i: int) -> bytes:
    return old(i).replace(b"needle", b"NEEDLE")


def make_tree(root: Path, n: int) -> None:
    for d in range(10):
        (root / f"d{d}").mkdir(parents=True)
    for i in range(n):
        (root / f"d{i % 10}" / f"f{i:05}.txt").write_bytes(old(i))


def contents(root: Path, n: int) -> list[bytes]:
    return [(root / f"d{i % 10}" / f"f{i:05}.txt").read_bytes() for i in range(n)]


def names(root: Path) -> list[str]:
    return sorted(str(p.relative_to(root)) for p in root.rglob("*") if p.is_file())


def backups_of(stack: Stack, op_id: int) -> list[tuple[str, str]]:
    """(file, backup) of each step of the operation, read behind the service's back."""
    db = Database(stack.backend.database_url or f"sqlite:///{sqlite_file(stack)}")
    try:
        with db.read() as conn:
            rows = conn.execute(
                select(WriteStep.src, WriteStep.backup).where(WriteStep.op_id == op_id)
            )
            return [(os.fsdecode(r.src), os.fsdecode(r.backup)) for r in rows]
    finally:
        db.dispose()


def test_a_replace_applied_as_a_job_needs_the_write_scope(
    backend: Backend, tmp_path: Path, service_root: Path
) -> None:
    root = service_root / "r"
    make_tree(root, 3)
    with running(Stack(backend, tmp_path / "data", [service_root])) as s:
        s.start()
        submitter = s.create_key("submitter")
        writer = s.create_key("writer", "read,submit,write")
        with s.client(submitter) as http:
            # A plan is only read: the submit scope is enough.
            assert http.post("/jobs", json=replace_body(root, apply=False)).status_code == 202
            denied = http.post("/jobs", json=replace_body(root, apply=True))
            assert denied.status_code == 403, denied.text
            assert denied.json()["errors"] == [
                {"field": "params.apply", "message": "needs the 'write' scope"}
            ]
        assert contents(root, 3) == [old(i) for i in range(3)]
        with s.client(writer) as http:
            job_id = http.post("/jobs", json=replace_body(root, apply=True)).json()["id"]
            done = s.wait_job(http, job_id, FINISHED)
        assert done["status"] == "succeeded", done
        assert contents(root, 3) == [new(i) for i in range(3)]
        [op] = journal_rows(s)
        assert done["summary"]["applied_op"] == op["id"]
        assert (op["operation"], op["state"], op["job_id"], op["steps_done"]) == (
            "replace", "committed", job_id, 3
        )  # fmt: skip
        assert op["beneath"] == [str(service_root)]


def test_a_job_never_edits_a_file_through_a_symlink(
    backend: Backend, tmp_path: Path, service_root: Path
) -> None:
    root = service_root / "r"
    make_tree(root, 1)
    inside = root / "d0" / "f00000.txt"
    (root / "link.txt").symlink_to(inside)  # within the roots, still not followed by a job
    outside = tmp_path / "outside.txt"
    outside.write_bytes(old(7))
    (root / "out.txt").symlink_to(outside)
    with running(Stack(backend, tmp_path / "data", [service_root])) as s:
        s.start()
        with s.client() as http:
            job_id = http.post("/jobs", json=replace_body(root, apply=True)).json()["id"]
            done = s.wait_job(http, job_id, FINISHED)
    assert done["status"] == "succeeded", done
    assert done["summary"]["files_changed"] == 1  # the file itself, reached as a file
    assert inside.read_bytes() == new(0) and outside.read_bytes() == old(7)
    assert (root / "link.txt").is_symlink() and (root / "out.txt").is_symlink()


def test_a_worker_killed_mid_apply_is_recovered_from_the_journal_not_applied_twice(
    backend: Backend, tmp_path: Path, service_root: Path
) -> None:
    root = service_root / "big"
    make_tree(root, N)
    with running(Stack(backend, tmp_path / "data", [service_root], SHORT_LEASE)) as s:
        doomed = s.start_worker("--id", "doomed", "-j", "1")
        s.start_server("--no-worker")
        with s.client() as http:
            job_id = http.post("/jobs", json=replace_body(root, apply=True)).json()["id"]
            wait_until_applying(s, http, job_id, within=120)
            s.signal(doomed, signal.SIGKILL)
            doomed.wait()
            # Nothing half-written: every file is wholly old or wholly new.
            now = contents(root, N)
            assert all(c in (old(i), new(i)) for i, c in enumerate(now))
            s.start_worker("--id", "heir", "-j", "1")
            done = s.wait_job(http, job_id, FINISHED, timeout=180)
        ops = journal_rows(s)
        # Every file once, wholly new; no temporary file left.
        assert names(root) == sorted(f"d{i % 10}/f{i:05}.txt" for i in range(N))
        assert contents(root, N) == [new(i) for i in range(N)]
        assert_applied_once(ops, done, job_id)
        # The committed operation's backups hold every file's old bytes.
        backups = backups_of(s, ops[-1]["id"])
        assert len(backups) == N
        by_name = {f"d{i % 10}/f{i:05}.txt": old(i) for i in range(N)}
        for src, backup in backups:
            assert Path(backup).read_bytes() == by_name[str(Path(src).relative_to(root))]


def test_a_job_cancelled_while_applying_rolls_back_byte_for_byte(
    backend: Backend, tmp_path: Path, service_root: Path
) -> None:
    root = service_root / "big"
    make_tree(root, N)
    before = {p: (p.read_bytes(), p.stat().st_mode, p.stat().st_mtime_ns)
              for p in root.rglob("*") if p.is_file()}  # fmt: skip
    with running(Stack(backend, tmp_path / "data", [service_root])) as s:
        s.start()
        with s.client() as http:
            job_id = http.post("/jobs", json=replace_body(root, apply=True)).json()["id"]
            done = cancel_mid_apply(s, http, job_id, timeout=120, within=120)
        [op] = journal_rows(s)
        if op["state"] == "committed":  # the cancel came after the last step: nothing to undo
            assert done["status"] == "succeeded", done
            assert contents(root, N) == [new(i) for i in range(N)]
        else:
            assert (done["status"], op["state"]) == ("cancelled", "rolled_back"), done
            assert done["error"]["message"] == (
                "cancelled while applying; every change was rolled back"
            )
            after = {p: (p.read_bytes(), p.stat().st_mode, p.stat().st_mtime_ns)
                     for p in root.rglob("*") if p.is_file()}  # fmt: skip
            assert after == before

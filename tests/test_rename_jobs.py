"""A rename applied as a job: journaled in the service's database, its changes confined beneath
the roots, `apply` only with the `write` scope, and a worker killed mid-apply recovered from the
journal by the next attempt, never applied blindly twice."""

import signal
import time
from pathlib import Path
from typing import Any

from sqlalchemy import select

from stack import Backend, Stack
from test_service_failures import FINISHED, SHORT_LEASE, running, sqlite_file
from vegafs.db import Database
from vegafs.db.models import WriteOp
from vegafs.db.plain import PlainDatabase
from vegafs.journal.store import Journal


def rename_body(root: Path, *, apply: bool) -> dict[str, Any]:
    params = {"selection": {"roots": [str(root)]}, "match": r"\.a$", "to": "{stem}.b"}
    return {"operation": "rename", "params": {**params, "apply": apply}}


def journal_rows(stack: Stack) -> list[dict[str, Any]]:
    """The journal's operations, read behind the service's back, oldest first."""
    db = Database(stack.backend.database_url or f"sqlite:///{sqlite_file(stack)}")
    try:
        with db.read() as conn:
            rows = conn.execute(select(WriteOp).order_by(WriteOp.id)).mappings()
            return [dict(r) for r in rows]
    finally:
        db.dispose()


def names(root: Path) -> list[str]:
    return sorted(p.name for p in root.iterdir())


def test_a_rename_applied_as_a_job_needs_the_write_scope(
    backend: Backend, tmp_path: Path, service_root: Path
) -> None:
    root = service_root / "r"
    root.mkdir()
    for name in ["x.a", "y.a", "z.c"]:
        (root / name).write_text(name)
    with running(Stack(backend, tmp_path / "data", [service_root])) as s:
        s.start()
        submitter = s.create_key("submitter")
        writer = s.create_key("writer", "read,submit,write")
        with s.client(submitter) as http:
            # A plan is only read: the submit scope is enough.
            assert http.post("/jobs", json=rename_body(root, apply=False)).status_code == 202
            denied = http.post("/jobs", json=rename_body(root, apply=True))
            assert denied.status_code == 403, denied.text
            assert denied.json()["errors"] == [
                {"field": "params.apply", "message": "needs the 'write' scope"}
            ]
        assert names(root) == ["x.a", "y.a", "z.c"]
        with s.client(writer) as http:
            job_id = http.post("/jobs", json=rename_body(root, apply=True)).json()["id"]
            done = s.wait_job(http, job_id, FINISHED)
        assert done["status"] == "succeeded", done
        progress = done["progress"]  # the plan's length is known: its steps and an ETA
        assert (progress["steps"], progress["steps_done"], progress["eta_s"]) == (2, 2, 0.0)
        assert names(root) == ["x.b", "y.b", "z.c"]
        assert [(root / n).read_text() for n in ["x.b", "y.b"]] == ["x.a", "y.a"]
        [op] = journal_rows(s)
        assert done["summary"]["applied_op"] == op["id"]
        assert (op["operation"], op["state"], op["job_id"], op["steps_done"]) == (
            "rename", "committed", job_id, 2
        )  # fmt: skip
        assert op["beneath"] == [str(service_root)]
        # The journal's own reader (ops list, recovery) reads the same row, its time included.
        plain = PlainDatabase(s.backend.database_url or f"sqlite:///{sqlite_file(s)}")
        try:
            [record] = Journal(plain).all()
        finally:
            plain.close()
        assert (record.id, record.state, record.job_id) == (op["id"], "committed", job_id)
        assert record.created_at == op["created_at"]


N = 20_000


def applying(stack: Stack) -> bool:
    return any(op["state"] == "applying" for op in journal_rows(stack))


def wait_until_applying(stack: Stack, http: Any, job_id: int, within: float = 60) -> None:
    """Until the job's operation is in the journal, applying (the job still queued or running),
    for at most ``within`` seconds."""
    deadline = time.monotonic() + within
    while not applying(stack):
        assert time.monotonic() < deadline, stack.log_text()
        assert http.get(f"/jobs/{job_id}").json()["status"] in {"queued", "running"}
        time.sleep(0.002)


def kill_mid_apply(stack: Stack, http: Any, job_id: int, doomed: Any, timeout: float) -> Any:
    """Kills the worker ``doomed`` (SIGKILL) once the job is applying, starts the worker "heir",
    and returns the job once finished."""
    wait_until_applying(stack, http, job_id)
    stack.signal(doomed, signal.SIGKILL)
    doomed.wait()
    stack.start_worker("--id", "heir", "-j", "1")
    return stack.wait_job(http, job_id, FINISHED, timeout=timeout)


def cancel_mid_apply(
    stack: Stack, http: Any, job_id: int, timeout: float, within: float = 60
) -> Any:
    """Cancels the job once it is applying (for at most ``within`` seconds) and returns it once
    finished."""
    wait_until_applying(stack, http, job_id, within=within)
    assert http.post(f"/jobs/{job_id}/cancel").status_code == 202
    return stack.wait_job(http, job_id, FINISHED, timeout=timeout)


def assert_applied_once(ops: list[dict[str, Any]], done: dict[str, Any], job_id: int) -> None:
    """The journal of a job whose worker was killed mid-apply (``ops``, oldest first) and the
    job's end: applied once, never blindly twice."""
    assert {op["job_id"] for op in ops} == {job_id}
    if ops[0]["state"] == "committed":  # the kill came after the last batch: rolled forward
        assert len(ops) == 1
        assert done["status"] == "failed"
        assert "an earlier attempt of this job applied it" in done["error"]["message"]
    else:  # rolled back by the heir, then planned and applied again
        assert [op["state"] for op in ops] == ["rolled_back", "committed"]
        assert done["status"] == "succeeded", done
        assert (done["worker_id"], done["attempts"]) == ("heir", 2)
        assert done["summary"]["applied_op"] == ops[1]["id"]


def test_a_worker_killed_mid_apply_is_recovered_from_the_journal_not_applied_twice(
    backend: Backend, tmp_path: Path, service_root: Path
) -> None:
    root = service_root / "big"
    root.mkdir()
    for i in range(N):
        (root / f"f{i:05}.a").write_bytes(b"%d" % i)
    with running(Stack(backend, tmp_path / "data", [service_root], SHORT_LEASE)) as s:
        doomed = s.start_worker("--id", "doomed", "-j", "1")
        s.start_server("--no-worker")
        with s.client() as http:
            job_id = http.post("/jobs", json=rename_body(root, apply=True)).json()["id"]
            done = kill_mid_apply(s, http, job_id, doomed, timeout=120)
        ops = journal_rows(s)
        # Every file once, under its new name, its content unchanged; no temporary name.
        assert names(root) == [f"f{i:05}.b" for i in range(N)]
        assert all((root / f"f{i:05}.b").read_bytes() == b"%d" % i for i in range(0, N, 997))
        assert_applied_once(ops, done, job_id)


def test_a_job_cancelled_while_applying_rolls_back_and_says_so(
    backend: Backend, tmp_path: Path, service_root: Path
) -> None:
    root = service_root / "big"
    root.mkdir()
    for i in range(N):
        (root / f"f{i:05}.a").write_bytes(b"%d" % i)
    with running(Stack(backend, tmp_path / "data", [service_root])) as s:
        s.start()
        with s.client() as http:
            job_id = http.post("/jobs", json=rename_body(root, apply=True)).json()["id"]
            done = cancel_mid_apply(s, http, job_id, timeout=60)
        [op] = journal_rows(s)
        if op["state"] == "committed":  # the cancel came after the last step: nothing to undo
            assert done["status"] == "succeeded", done
            assert names(root) == [f"f{i:05}.b" for i in range(N)]
        else:
            assert (done["status"], op["state"]) == ("cancelled", "rolled_back"), done
            assert done["error"]["message"] == (
                "cancelled while applying; every change was rolled back"
            )
            assert names(root) == [f"f{i:05}.a" for i in range(N)]

"""Undo as a job: the reverse of a writing job planned from the journal and applied beneath the
job's roots, journaled like any writing apply, only with the `write` scope; an unknown
operation and one whose paths leave the key's roots refused at submit; an entry changed since
refused with its reason in the rows, the others undone; the undo of a move onto another file
system, and of a copy's overwrite, looked at and applied beneath the roots."""

import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import text

from stack import Backend, Stack
from test_rename_jobs import journal_rows, names, rename_body
from test_service_failures import FINISHED, running

WRITER = "read,submit,write"


def undo_body(op_id: int, *, apply: bool) -> dict[str, Any]:
    return {"operation": "undo", "params": {"op_id": op_id, "apply": apply}}


def rename_job(s: Stack, http: Any, root: Path) -> int:
    """Renames root's *.a to *.b as a job: the journal's id of the operation."""
    job_id = http.post("/jobs", json=rename_body(root, apply=True)).json()["id"]
    done = s.wait_job(http, job_id, FINISHED)
    assert done["status"] == "succeeded", done
    op_id: int = done["summary"]["applied_op"]
    return op_id


def files_in(root: Path, *names: str) -> Path:
    """``root``, made, with a file of each name holding its name."""
    root.mkdir()
    for name in names:
        (root / name).write_text(name)
    return root


def rows_of(http: Any, job_id: int) -> list[dict[str, Any]]:
    return [item["data"] for item in http.get(f"/jobs/{job_id}/results").json()["items"]]


def test_an_undo_job_restores_the_tree_a_rename_job_changed(
    backend: Backend, tmp_path: Path, service_root: Path
) -> None:
    root = files_in(service_root / "r", "x.a", "y.a", "z.c")
    with running(Stack(backend, tmp_path / "data", [service_root])) as s:
        s.start()
        submitter = s.create_key("submitter")
        with s.client(s.create_key("writer", WRITER)) as http:
            op_id = rename_job(s, http, root)
            assert names(root) == ["x.b", "y.b", "z.c"]
            # The plan: shown, nothing changed.
            plan_id = http.post("/jobs", json=undo_body(op_id, apply=False)).json()["id"]
            planned = s.wait_job(http, plan_id, FINISHED)
            assert planned["status"] == "succeeded", planned
            assert planned["summary"] == {
                "schema_version": 1, "undo_of": op_id, "operation": "rename", "moves": 2,
                "restores": 0, "removes": 0, "rmdirs": 0, "refused": 0, "steps": 2,
                "ok": True, "applied_op": None,
            }  # fmt: skip
            assert sorted((r["from"], r["to"], r["action"]) for r in rows_of(http, plan_id)) == [
                (str(root / "x.b"), str(root / "x.a"), "move"),
                (str(root / "y.b"), str(root / "y.a"), "move"),
            ]
            assert names(root) == ["x.b", "y.b", "z.c"]
            # Applying it needs the write scope.
            with s.client(submitter) as denied:
                refused = denied.post("/jobs", json=undo_body(op_id, apply=True))
                assert refused.status_code == 403, refused.text
            job_id = http.post("/jobs", json=undo_body(op_id, apply=True)).json()["id"]
            done = s.wait_job(http, job_id, FINISHED)
        assert done["status"] == "succeeded", done
        assert names(root) == ["x.a", "y.a", "z.c"]
        assert [(root / n).read_text() for n in ["x.a", "y.a"]] == ["x.a", "y.a"]
        ops = journal_rows(s)
        assert [(op["operation"], op["state"], op["job_id"]) for op in ops] == [
            ("rename", "undone", ops[0]["job_id"]), ("undo", "committed", job_id),
        ]  # fmt: skip
        assert done["summary"]["applied_op"] == ops[1]["id"]
        assert ops[1]["beneath"] == [str(service_root)]
        # Undone already: refused at submit, saying so.
        with s.client(s.create_key("again", WRITER)) as http:
            again = http.post("/jobs", json=undo_body(op_id, apply=True))
        assert again.status_code == 422, again.text
        assert again.json()["errors"] == [{
            "field": "params.op_id",
            "message": f"operation {op_id} is undone: only a committed operation can be undone",
        }]  # fmt: skip


def test_an_undo_job_of_an_unknown_operation_is_refused_at_submit(
    backend: Backend, tmp_path: Path, service_root: Path
) -> None:
    with running(Stack(backend, tmp_path / "data", [service_root])) as s:
        s.start()
        with s.client(s.create_key("writer", WRITER)) as http:
            for apply in (False, True):
                refused = http.post("/jobs", json=undo_body(999, apply=apply))
                assert refused.status_code == 422, refused.text
                assert refused.json()["detail"] == (
                    "invalid params.op_id: no writing operation 999"
                )
            bad = http.post("/jobs", json={"operation": "undo", "params": {"op_id": "x"}})
            assert bad.status_code == 422, bad.text
            assert bad.json()["errors"][0]["field"] == "params.op_id"
        assert journal_rows(s) == []


def test_an_undo_job_refuses_each_entry_changed_since_and_undoes_the_others(
    backend: Backend, tmp_path: Path, service_root: Path
) -> None:
    root = files_in(service_root / "r", "x.a", "y.a")
    with running(Stack(backend, tmp_path / "data", [service_root])) as s:
        s.start()
        with s.client(s.create_key("writer", WRITER)) as http:
            op_id = rename_job(s, http, root)
            (root / "y.b").unlink()  # another file under the name the rename gave y.a
            (root / "y.b").write_text("someone else's")
            job_id = http.post("/jobs", json=undo_body(op_id, apply=True)).json()["id"]
            done = s.wait_job(http, job_id, FINISHED)
            assert done["status"] == "succeeded", done
            assert (done["summary"]["moves"], done["summary"]["refused"]) == (1, 1)
            rows = sorted(rows_of(http, job_id), key=lambda r: r["from"])
        assert rows == [
            {"from": str(root / "x.b"), "to": str(root / "x.a"), "action": "move",
             "reason": None},
            {"from": str(root / "y.b"), "to": str(root / "y.a"), "action": "refused",
             "reason": "changed since the operation: another entry is there now"},
        ]  # fmt: skip
        assert names(root) == ["x.a", "y.b"]
        assert (root / "y.b").read_text() == "someone else's"
        assert [op["state"] for op in journal_rows(s)] == ["undone", "committed"]


def test_an_undo_job_with_every_entry_refused_applies_nothing(
    backend: Backend, tmp_path: Path, service_root: Path
) -> None:
    """Every entry changed since: the job succeeds with ``ok`` false and no ``applied_op``; no
    undo is journaled and the rename stays committed, to be undone later."""
    root = files_in(service_root / "r", "x.a", "y.a")
    with running(Stack(backend, tmp_path / "data", [service_root])) as s:
        s.start()
        with s.client(s.create_key("writer", WRITER)) as http:
            op_id = rename_job(s, http, root)
            for name in ["x.b", "y.b"]:  # other files under the names the rename gave
                (root / name).unlink()
                (root / name).write_text("someone else's")
            done = s.wait_job(
                http, http.post("/jobs", json=undo_body(op_id, apply=True)).json()["id"], FINISHED
            )
        assert done["status"] == "succeeded", done
        summary = done["summary"]
        assert (summary["moves"], summary["refused"], summary["steps"]) == (0, 2, 0)
        assert (summary["ok"], summary["applied_op"]) == (False, None)
        assert names(root) == ["x.b", "y.b"]
        assert [op["state"] for op in journal_rows(s)] == ["committed"]


def test_an_undo_job_of_an_operation_outside_the_keys_root_is_refused(
    backend: Backend, tmp_path: Path, service_root: Path
) -> None:
    inside, other = service_root / "mine", service_root / "theirs"
    for d in (inside, other):
        d.mkdir()
        (d / "f.a").write_text("f")
    with running(Stack(backend, tmp_path / "data", [service_root])) as s:
        s.start()
        with s.client(s.create_key("writer", WRITER)) as http:
            op_id = rename_job(s, http, other)
        narrow = s.create_key("narrow", WRITER, root=inside)
        with s.client(narrow) as http:
            refused = http.post("/jobs", json=undo_body(op_id, apply=True))
        assert refused.status_code == 422, refused.text
        assert refused.json()["type"].endswith("path-not-allowed")
        assert (
            refused.json()["detail"] == f"{other / 'f.a'}: is outside the API key's root {inside}"
        )
        assert names(other) == ["f.b"]
        assert [op["state"] for op in journal_rows(s)] == ["committed"]


def run_job(s: Stack, http: Any, body: dict[str, Any]) -> dict[str, Any]:
    job_id = http.post("/jobs", json=body).json()["id"]
    done: dict[str, Any] = s.wait_job(http, job_id, FINISHED)
    assert done["status"] == "succeeded", done
    return done


def test_an_undo_job_brings_back_a_move_onto_another_file_system(
    backend: Backend, tmp_path: Path, service_root: Path, other_fs: Path
) -> None:
    root = service_root / "r"
    root.mkdir()
    (root / "x.a").write_bytes(b"x" * 5000)
    (root / "l.a").symlink_to("x.a")
    before = {p.name: (p.lstat().st_mode, p.lstat().st_mtime_ns) for p in root.iterdir()}
    params = {"selection": {"roots": [str(root)]}, "to": "{name}", "dest": str(other_fs / "d")}
    move = {"operation": "move", "params": {**params, "apply": True}}
    with running(Stack(backend, tmp_path / "data", [service_root, other_fs])) as s:
        s.start()
        with s.client(s.create_key("writer", WRITER)) as http:
            moved = run_job(s, http, move)
            assert names(root) == []
            done = run_job(s, http, undo_body(moved["summary"]["applied_op"], apply=True))
        assert (done["summary"]["moves"], done["summary"]["rmdirs"]) == (2, 1)
        assert [op["state"] for op in journal_rows(s)] == ["undone", "committed"]
    assert names(root) == ["l.a", "x.a"]
    assert (root / "x.a").read_bytes() == b"x" * 5000
    assert (root / "l.a").readlink() == Path("x.a")
    assert {p.name: (p.lstat().st_mode, p.lstat().st_mtime_ns) for p in root.iterdir()} == before
    assert names(other_fs) == []


def test_an_undo_job_of_a_copy_with_overwrite_puts_the_old_file_back(
    backend: Backend, tmp_path: Path, service_root: Path
) -> None:
    src, dest = service_root / "src", service_root / "dest"
    src.mkdir()
    dest.mkdir()
    (src / "x").write_text("new x")
    (src / "y").write_text("new y")
    (dest / "x").write_text("old x")
    old = (dest / "x").stat()
    params = {"selection": {"roots": [str(src)]}, "dest": str(dest), "on_conflict": "overwrite"}
    copy = {"operation": "copy", "params": {**params, "apply": True}}
    with running(Stack(backend, tmp_path / "data", [service_root])) as s:
        s.start()
        with s.client(s.create_key("writer", WRITER)) as http:
            copied = run_job(s, http, copy)
            assert (dest / "x").read_text() == "new x"
            done = run_job(s, http, undo_body(copied["summary"]["applied_op"], apply=True))
            rows = sorted(rows_of(http, done["id"]), key=lambda r: (r["action"], r["from"]))
        assert [(r["action"], r["to"]) for r in rows] == [
            ("remove", str(src / "x")), ("remove", str(src / "y")), ("restore", str(dest / "x")),
        ]  # fmt: skip
    assert names(dest) == ["x"]
    now = (dest / "x").stat()
    assert ((dest / "x").read_text(), now.st_ino, now.st_mtime_ns) == (
        "old x", old.st_ino, old.st_mtime_ns
    )  # fmt: skip


# A lock that holds readers back: PostgreSQL's (a SQLite reader in WAL mode is never held).
@pytest.mark.parametrize("backend", ["pg"], indirect=True)
def test_an_undo_submit_reads_the_journal_outside_the_event_loop(
    backend: Backend, tmp_path: Path, service_root: Path
) -> None:
    """Submitting an undo reads every step of the operation (confinement): while that read
    waits on the database, the API still answers other requests."""
    from vegafs.db import Database

    root = service_root / "r"
    root.mkdir()
    (root / "x.a").write_text("x")
    assert backend.database_url is not None
    db, watcher = Database(backend.database_url), Database(backend.database_url)
    with running(Stack(backend, tmp_path / "data", [service_root])) as s:
        s.start()
        key = s.create_key("writer", WRITER)
        with s.client(key) as http:
            op_id = rename_job(s, http, root)
        with ThreadPoolExecutor(1) as pool, s.client(key, timeout=120) as submitter:
            try:
                with db.write() as conn:
                    conn.execute(text("LOCK TABLE write_steps IN ACCESS EXCLUSIVE MODE"))
                    submitted = pool.submit(
                        submitter.post, "/jobs", json=undo_body(op_id, apply=False)
                    )
                    deadline = time.monotonic() + 60
                    while True:  # until the submit waits on the lock
                        with watcher.read() as w:
                            waiting = w.execute(text(
                                "SELECT count(*) FROM pg_stat_activity WHERE wait_event_type = "
                                "'Lock' AND query LIKE '%write_steps%'"
                            )).scalar_one()  # fmt: skip
                        if waiting:
                            break
                        assert time.monotonic() < deadline, s.log_text()
                        time.sleep(0.05)
                    health = httpx.get(f"{s.url}/healthz", timeout=30)
                    assert (health.status_code, health.json()) == (200, {"status": "ok"})
            finally:
                watcher.dispose()
                db.dispose()
            done = submitted.result(timeout=120)
        assert done.status_code == 202, done.text

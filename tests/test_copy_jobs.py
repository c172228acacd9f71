"""A copy applied as a job: journaled in the service's database, every file read and written
beneath the roots, `apply` only with the `write` scope, a worker killed mid-apply recovered from
the journal by the next attempt (every file copied exactly once, no temporary file left), and a
cancel mid-apply rolled back."""

from pathlib import Path
from typing import Any

from stack import Backend, Stack
from test_rename_jobs import (
    assert_applied_once,
    cancel_mid_apply,
    journal_rows,
    kill_mid_apply,
    names,
)
from test_service_failures import FINISHED, SHORT_LEASE, running


def copy_body(src: Path, dest: Path, *, apply: bool) -> dict[str, Any]:
    params = {"selection": {"roots": [str(src)]}, "dest": str(dest)}
    return {"operation": "copy", "params": {**params, "apply": apply}}


def test_a_copy_applied_as_a_job_needs_the_write_scope(
    backend: Backend, tmp_path: Path, service_root: Path
) -> None:
    src, dest = service_root / "src", service_root / "dest"
    (src / "sub").mkdir(parents=True)
    (dest / "sub").mkdir(parents=True)
    for name in ["x", "y", "sub/z"]:
        (src / name).write_text(name)
    with running(Stack(backend, tmp_path / "data", [service_root])) as s:
        s.start()
        submitter = s.create_key("submitter")
        writer = s.create_key("writer", "read,submit,write")
        with s.client(submitter) as http:
            assert http.post("/jobs", json=copy_body(src, dest, apply=False)).status_code == 202
            denied = http.post("/jobs", json=copy_body(src, dest, apply=True))
            assert denied.status_code == 403, denied.text
            assert denied.json()["errors"] == [
                {"field": "params.apply", "message": "needs the 'write' scope"}
            ]
        assert names(dest) == ["sub"]
        with s.client(writer) as http:
            job_id = http.post("/jobs", json=copy_body(src, dest, apply=True)).json()["id"]
            done = s.wait_job(http, job_id, FINISHED)
            assert done["status"] == "succeeded", done
            # Missing target directories: made beneath the roots (mkdir steps).
            body = copy_body(src, service_root / "new" / "deep", apply=True)
            made = s.wait_job(http, http.post("/jobs", json=body).json()["id"], FINISHED)
        assert names(dest) == ["sub", "x", "y"]
        assert [(dest / n).read_text() for n in ["x", "y", "sub/z"]] == ["x", "y", "sub/z"]
        op, op2 = journal_rows(s)
        assert done["summary"]["applied_op"] == op["id"]
        assert (op["operation"], op["state"], op["job_id"], op["steps_done"]) == (
            "copy", "committed", job_id, 3
        )  # fmt: skip
        assert op["beneath"] == [str(service_root)]
        assert made["status"] == "succeeded", made
        assert made["summary"]["applied_op"] == op2["id"]
        deep = service_root / "new" / "deep"
        assert [(deep / n).read_text() for n in ["x", "y", "sub/z"]] == ["x", "y", "sub/z"]
        assert (op2["state"], op2["steps_done"]) == ("committed", 6)  # 3 directories, 3 copies


N = 20_000


def make_tree(service_root: Path) -> tuple[Path, Path]:
    src, dest = service_root / "src", service_root / "dest"
    src.mkdir()
    dest.mkdir()
    for i in range(N):
        (src / f"f{i:05}").write_bytes(b"%d" % i)
    return src, dest


def test_a_worker_killed_mid_copy_is_recovered_and_every_file_is_copied_once(
    backend: Backend, tmp_path: Path, service_root: Path
) -> None:
    src, dest = make_tree(service_root)
    with running(Stack(backend, tmp_path / "data", [service_root], SHORT_LEASE)) as s:
        doomed = s.start_worker("--id", "doomed", "-j", "1")
        s.start_server("--no-worker")
        with s.client() as http:
            job_id = http.post("/jobs", json=copy_body(src, dest, apply=True)).json()["id"]
            done = kill_mid_apply(s, http, job_id, doomed, timeout=180)
        ops = journal_rows(s)
        # Every file once, its content the source's; no temporary file; the sources untouched.
        assert names(dest) == [f"f{i:05}" for i in range(N)]
        assert names(src) == names(dest)
        assert all((dest / f"f{i:05}").read_bytes() == b"%d" % i for i in range(0, N, 97))
        assert_applied_once(ops, done, job_id)


def test_a_copy_job_cancelled_while_applying_rolls_back_and_says_so(
    backend: Backend, tmp_path: Path, service_root: Path
) -> None:
    src, dest = make_tree(service_root)
    with running(Stack(backend, tmp_path / "data", [service_root])) as s:
        s.start()
        with s.client() as http:
            job_id = http.post("/jobs", json=copy_body(src, dest, apply=True)).json()["id"]
            done = cancel_mid_apply(s, http, job_id, timeout=120)
        [op] = journal_rows(s)
        if op["state"] == "committed":  # the cancel came after the last step: nothing to undo
            assert done["status"] == "succeeded", done
            assert names(dest) == names(src)
        else:
            assert (done["status"], op["state"]) == ("cancelled", "rolled_back"), done
            assert done["error"]["message"] == (
                "cancelled while applying; every change was rolled back"
            )
            assert names(dest) == []
        assert len(names(src)) == N


def test_a_copy_job_with_overwrite_keeps_the_replaced_file_aside(
    backend: Backend, tmp_path: Path, service_root: Path
) -> None:
    src, dest = service_root / "src", service_root / "dest"
    src.mkdir()
    dest.mkdir()
    (src / "x").write_text("new x")
    (dest / "x").write_text("old x")
    body = copy_body(src, dest, apply=True)
    body["params"]["on_conflict"] = "overwrite"
    with running(Stack(backend, tmp_path / "data", [service_root])) as s:
        s.start()
        with s.client() as http:
            job_id = http.post("/jobs", json=body).json()["id"]
            done = s.wait_job(http, job_id, FINISHED)
        assert done["status"] == "succeeded", done
        [op] = journal_rows(s)
        assert (op["state"], op["steps_done"], op["beneath"]) == (
            "committed", 2, [str(service_root)]  # the old x set aside, then the copy
        )  # fmt: skip
    assert (dest / "x").read_text() == "new x"
    [aside] = [p for p in dest.iterdir() if p.name != "x"]
    assert aside.name.startswith(".vegafs-") and aside.name.endswith("-old-1"), aside
    assert aside.read_text() == "old x"

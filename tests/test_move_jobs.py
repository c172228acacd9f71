"""A move applied as a job: journaled in the service's database, its directories made and its
entries moved beneath the roots (a symlinked directory in the way is not followed), `apply`
only with the `write` scope, a worker killed mid-apply recovered from the journal by the next
attempt, a cancel rolling everything back."""

import os
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


def move_body(root: Path, to: str, *, apply: bool, **extra: Any) -> dict[str, Any]:
    params = {"selection": {"roots": [str(root)]}, "match": r"\.a$", "to": to, **extra}
    return {"operation": "move", "params": {**params, "apply": apply}}


def layout(root: Path) -> dict[str, list[str]]:
    """Each directory below `root` (by its path relative to it, "" for `root`) and its names."""
    out = {"": names(root)}
    for d in sorted(p for p in root.rglob("*") if p.is_dir() and not p.is_symlink()):
        out[str(d.relative_to(root))] = names(d)
    return out


def test_a_move_applied_as_a_job_needs_the_write_scope(
    backend: Backend, tmp_path: Path, service_root: Path
) -> None:
    root = service_root / "r"
    root.mkdir()
    for name in ["x.a", "y.a", "z.c"]:
        (root / name).write_text(name)
    body = move_body(root, "{stem}/deep/{name}", apply=True)
    with running(Stack(backend, tmp_path / "data", [service_root])) as s:
        s.start()
        submitter = s.create_key("submitter")
        writer = s.create_key("writer", "read,submit,write")
        with s.client(submitter) as http:
            plan = move_body(root, "{stem}/deep/{name}", apply=False)
            assert http.post("/jobs", json=plan).status_code == 202
            denied = http.post("/jobs", json=body)
            assert denied.status_code == 403, denied.text
            assert denied.json()["errors"] == [
                {"field": "params.apply", "message": "needs the 'write' scope"}
            ]
        assert names(root) == ["x.a", "y.a", "z.c"]
        with s.client(writer) as http:
            job_id = http.post("/jobs", json=body).json()["id"]
            done = s.wait_job(http, job_id, FINISHED)
        assert done["status"] == "succeeded", done
        assert layout(root) == {"": ["x", "y", "z.c"], "x": ["deep"], "x/deep": ["x.a"],
                                "y": ["deep"], "y/deep": ["y.a"]}  # fmt: skip
        assert (root / "x/deep/x.a").read_text() == "x.a"
        [op] = journal_rows(s)
        assert done["summary"]["applied_op"] == op["id"]
        assert (op["operation"], op["state"], op["job_id"], op["steps_done"]) == (
            "move", "committed", job_id, 6  # four directories made, two files moved
        )  # fmt: skip
        assert op["beneath"] == [str(service_root)]


def test_a_move_job_never_leaves_the_roots(
    backend: Backend, tmp_path: Path, service_root: Path
) -> None:
    root = service_root / "r"
    root.mkdir()
    (root / "x.a").write_text("x")
    outside = tmp_path / "outside"
    outside.mkdir()
    (root / "link").symlink_to(outside)
    writer_scopes = "read,submit,write"
    with running(Stack(backend, tmp_path / "data", [service_root])) as s:
        s.start()
        with s.client(s.create_key("writer", writer_scopes)) as http:
            # --dest outside the roots, as written or through a symlink: refused at submit.
            # A --dest that does not exist yet: its nearest existing directory is named.
            for dest, named in [(outside, outside), (root / "link", root / "link"),
                                (root / "link" / "new", root / "link")]:  # fmt: skip
                refused = http.post("/jobs", json=move_body(root, "{name}", apply=True,
                                                            dest=str(dest)))  # fmt: skip
                assert refused.status_code == 422, refused.text
                assert refused.json()["detail"] == f"{named}: is outside the allowed roots"
            # A template through a symlinked directory: the job opens no directory through it.
            for to in ["link/{name}", "link/new/{name}"]:
                job_id = http.post("/jobs", json=move_body(root, to, apply=True)).json()["id"]
                done = s.wait_job(http, job_id, FINISHED)
                assert done["status"] == "failed", done
                assert (
                    "is reached through a symlink (not followed in a job)"
                    in (done["error"]["message"])
                ), done
        assert names(outside) == []
        assert names(root) == ["link", "x.a"]
        assert [op["state"] for op in journal_rows(s)] == ["rolled_back", "rolled_back"]


N = 20_000


def big_tree(root: Path) -> None:
    """N files, to be moved into N / 100 new directories."""
    root.mkdir()
    for i in range(N):
        (root / f"f{i:05}.a").write_bytes(b"%d" % i)


def big_body(root: Path) -> dict[str, Any]:
    """Each file into the directory its name's first three digits give (made by the move)."""
    body = move_body(root, "g{1}/{name}", apply=True)
    body["params"]["match"] = r"^f(\d\d\d)\d\d\.a$"
    return body


def moved() -> dict[str, list[str]]:
    want = {"": [f"g{d:03}" for d in range(N // 100)]}
    for d in range(N // 100):
        want[f"g{d:03}"] = [f"f{d:03}{i:02}.a" for i in range(100)]
    return want


def test_a_worker_killed_mid_move_is_recovered_from_the_journal(
    backend: Backend, tmp_path: Path, service_root: Path
) -> None:
    root = service_root / "big"
    big_tree(root)
    with running(Stack(backend, tmp_path / "data", [service_root], SHORT_LEASE)) as s:
        doomed = s.start_worker("--id", "doomed", "-j", "1")
        s.start_server("--no-worker")
        with s.client() as http:
            job_id = http.post("/jobs", json=big_body(root)).json()["id"]
            done = kill_mid_apply(s, http, job_id, doomed, timeout=180)
        ops = journal_rows(s)
        # Every file once, under its new path, its content unchanged; no temporary name, no
        # directory left over.
        assert layout(root) == moved()
        assert all((root / f"g{i // 100:03}" / f"f{i:05}.a").read_bytes() == b"%d" % i
                   for i in range(0, N, 997))  # fmt: skip
        assert_applied_once(ops, done, job_id)
        assert ops[-1]["steps_done"] == N + N // 100


def test_a_move_job_cancelled_while_applying_rolls_everything_back(
    backend: Backend, tmp_path: Path, service_root: Path
) -> None:
    root = service_root / "big"
    big_tree(root)
    with running(Stack(backend, tmp_path / "data", [service_root])) as s:
        s.start()
        with s.client() as http:
            job_id = http.post("/jobs", json=big_body(root)).json()["id"]
            done = cancel_mid_apply(s, http, job_id, timeout=120)
        [op] = journal_rows(s)
        if op["state"] == "committed":  # the cancel came after the last step: nothing to undo
            assert done["status"] == "succeeded", done
            assert layout(root) == moved()
        else:
            assert (done["status"], op["state"]) == ("cancelled", "rolled_back"), done
            assert done["error"]["message"] == (
                "cancelled while applying; every change was rolled back"
            )
            # The files back in place, the directories the move made removed.
            assert layout(root) == {"": [f"f{i:05}.a" for i in range(N)]}


def test_a_move_job_onto_another_file_system_copies_then_removes_the_sources(
    backend: Backend, tmp_path: Path, service_root: Path, other_fs: Path
) -> None:
    root = service_root / "r"
    root.mkdir()
    content = {"x.a": b"x" * 70_000, "y.a": b"", "z.c": b"stays"}
    for name, data in content.items():
        (root / name).write_bytes(data)
    (root / "x.a").chmod(0o640)
    os.utime(root / "x.a", ns=(1_600_000_000_000_000_000, 1_600_000_000_123_456_789))
    (root / "l.a").symlink_to("x.a")
    dest = other_fs / "d"
    body = move_body(root, "{stem}/{name}", apply=True, dest=str(dest))
    with running(Stack(backend, tmp_path / "data", [service_root, other_fs])) as s:
        s.start()
        with s.client() as http:
            job_id = http.post("/jobs", json=body).json()["id"]
            done = s.wait_job(http, job_id, FINISHED)
        assert done["status"] == "succeeded", done
        assert done["summary"]["across"] == 3
        [op] = journal_rows(s)
        assert (op["operation"], op["state"], op["job_id"]) == ("move", "committed", job_id)
    # Each entry once, at its target only, with the same bytes, mode and mtime; no temporary name.
    assert names(root) == ["z.c"]
    assert layout(other_fs) == {"": ["d"], "d": ["l", "x", "y"], "d/l": ["l.a"],
                                "d/x": ["x.a"], "d/y": ["y.a"]}  # fmt: skip
    moved_x = (dest / "x" / "x.a").stat()
    assert (dest / "x" / "x.a").read_bytes() == content["x.a"]
    assert (moved_x.st_mode & 0o7777, moved_x.st_mtime_ns) == (0o640, 1_600_000_000_123_456_789)
    assert (dest / "y" / "y.a").read_bytes() == b""
    assert (dest / "l" / "l.a").readlink() == Path("x.a")


ACROSS_N = 4000


def test_a_worker_killed_mid_move_onto_another_file_system_is_recovered(
    backend: Backend, tmp_path: Path, service_root: Path, other_fs: Path
) -> None:
    root = service_root / "big"
    root.mkdir()
    for i in range(ACROSS_N):
        (root / f"f{i:05}.a").write_bytes(b"%d" % i)
    body = move_body(root, "g{1}/{name}", apply=True, dest=str(other_fs))
    body["params"]["match"] = r"^f(\d\d\d)\d\d\.a$"
    with running(Stack(backend, tmp_path / "data", [service_root, other_fs], SHORT_LEASE)) as s:
        doomed = s.start_worker("--id", "doomed", "-j", "1")
        s.start_server("--no-worker")
        with s.client() as http:
            job_id = http.post("/jobs", json=body).json()["id"]
            done = kill_mid_apply(s, http, job_id, doomed, timeout=180)
        ops = journal_rows(s)
    # Every file once, at its target, its content unchanged; no source, no temporary name left.
    assert names(root) == []
    want = {"": [f"g{d:03}" for d in range(ACROSS_N // 100)]}
    for d in range(ACROSS_N // 100):
        want[f"g{d:03}"] = [f"f{d:03}{i:02}.a" for i in range(100)]
    assert layout(other_fs) == want
    assert all((other_fs / f"g{i // 100:03}" / f"f{i:05}.a").read_bytes() == b"%d" % i
               for i in range(ACROSS_N))  # fmt: skip
    assert_applied_once(ops, done, job_id)
    # The directories made, then each file's two steps: its copy, and its source removed.
    assert ops[-1]["steps_done"] == ACROSS_N // 100 + 2 * ACROSS_N


def test_a_move_job_onto_another_file_system_never_leaves_the_roots(
    backend: Backend, tmp_path: Path, service_root: Path, other_fs: Path
) -> None:
    root = service_root / "r"
    root.mkdir()
    (root / "x.a").write_text("x")
    outside = tmp_path / "outside"
    outside.mkdir()
    (other_fs / "away").symlink_to(outside)
    with running(Stack(backend, tmp_path / "data", [service_root, other_fs])) as s:
        s.start()
        with s.client() as http:
            # --dest through a symlink on the other file system: refused at submit.
            for dest in [other_fs / "away", other_fs / "away" / "new"]:
                refused = http.post("/jobs", json=move_body(root, "{name}", apply=True,
                                                            dest=str(dest)))  # fmt: skip
                assert refused.status_code == 422, refused.text
                assert (
                    refused.json()["detail"] == f"{other_fs / 'away'}: is outside the allowed roots"
                )
            # A template through it: the job opens no directory through the link.
            for to in ["away/{name}", "away/new/{name}"]:
                body = move_body(root, to, apply=True, dest=str(other_fs))
                job_id = http.post("/jobs", json=body).json()["id"]
                done = s.wait_job(http, job_id, FINISHED)
                assert done["status"] == "failed", done
                assert (
                    "is reached through a symlink (not followed in a job)"
                    in (done["error"]["message"])
                ), done
        assert [op["state"] for op in journal_rows(s)] == ["rolled_back", "rolled_back"]
    assert names(outside) == []
    assert names(root) == ["x.a"]
    assert (root / "x.a").read_text() == "x"
    assert names(other_fs) == ["away"]

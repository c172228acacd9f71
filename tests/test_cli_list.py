"""`vegafs list`: the first operation made from a declaration alone, rows streamed."""

import json
import os
from pathlib import Path

from conftest import Vegafs, write
from stack import Stack
from test_cli_jobs import ok, run


def tree(root: Path) -> Path:
    write(root / "a.txt", 10)
    write(root / "sub" / "b.py", 300)
    raw = os.fsencode(root / "sub") + b"/caf\xe9.txt"
    fd = os.open(raw, os.O_WRONLY | os.O_CREAT, 0o644)
    os.write(fd, b"12345")
    os.close(fd)
    (root / "link").symlink_to("a.txt")
    return root


def test_text_is_a_line_per_entry_and_json_a_row_per_entry(vegafs: Vegafs, tmp_path: Path) -> None:
    tree(tmp_path / "tree")
    out = vegafs.run("list", "tree", cwd=tmp_path)
    assert (out.returncode, out.stderr) == (0, "")
    assert sorted(out.stdout.decode().splitlines()) == [
        "tree",
        "tree/a.txt",
        "tree/link",
        "tree/sub",
        "tree/sub/b.py",
        "tree/sub/caf\\xe9.txt",  # shown as the report shows it, never raw to a terminal
    ]
    out = vegafs.run("list", "tree", "--json", "-t", "f", cwd=tmp_path)
    assert out.returncode == 0, out.stderr
    rows = sorted((json.loads(line) for line in out.stdout.splitlines()), key=lambda r: r["path"])
    assert [(os.fsencode(r["path"]), r["type"], r["size"]) for r in rows] == [
        (b"tree/a.txt", "file", 10),
        (b"tree/sub/b.py", "file", 300),
        (b"tree/sub/caf\xe9.txt", "file", 5),
    ]
    mtime = int((tmp_path / "tree" / "a.txt").stat().st_mtime)
    assert rows[0]["mtime"] == mtime


def test_unreadable_entries_are_listed_on_stderr_and_exit_1(
    vegafs: Vegafs, locked_tree: Path, unprivileged: list[str]
) -> None:
    out = vegafs.run("list", "tree", cwd=locked_tree.parent, prefix=unprivileged)
    assert out.returncode == 1
    assert sorted(out.stdout.decode().splitlines()) == [
        "tree",
        "tree/locked",
        "tree/open",
        "tree/open/f",
        "tree/open/g",
    ]
    assert out.stderr.splitlines() == [
        "vegafs: tree/locked: Permission denied (os error 13)",
        "vegafs: 1 entry could not be read",
    ]


def test_submit_wait_prints_what_a_local_run_prints(stack: Stack, service_root: Path) -> None:
    local = ok(run(None, "list", str(service_root), "--json"))
    remote = run(stack, "list", str(service_root), "--json", "--submit", "--wait")
    assert remote.returncode == 0, remote.stderr
    assert sorted(remote.stdout.splitlines()) == sorted(local.splitlines())
    assert len(local.splitlines()) == 6  # the root, a, a/b, and three files
    assert remote.stderr.startswith("job 1 queued: ")

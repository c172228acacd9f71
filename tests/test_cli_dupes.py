"""`vegafs dupes`: groups of equal files on real trees, from the CLI, Python and the job API."""

import json
import os
import re
from pathlib import Path
from typing import Any

import pytest

from conftest import Vegafs
from stack import Stack, strace_missing
from test_cli_jobs import ok, run
from test_cli_quick import run as run_cli
from test_walk_handles import NAME, deep_chain
from vegafs.engine import CancelToken, DupeGroup, DupesSummary, Progress, find_dupes
from vegafs.errors import Cancelled

KIB = 1024


def pattern(size: int, seed: int) -> bytes:
    """``size`` bytes that differ from every other seed's."""
    return bytes((i * 31 + seed) % 251 for i in range(size))


def put(path: Path, content: bytes) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(content)
    return path


def tree(root: Path) -> Path:
    """tree/
    a/big1, b/big2                 100 KiB alike
    a/mid1, b/mid2, b/mid3         80 KiB alike; b/mid-link a hard link to b/mid2;
    a/edge1, b/edge2               80 KiB with mid's first and last 4 KiB, apart in the middle
                                   (files up to 64 KiB are hashed whole at the edges stage)
    a/s1, b/s2, caf\\xe9           10 B alike
    a/t1, a/t2                     10 B, other content each
    e1, e2                         empty
    fifo; link -> a/big1
    """
    big, mid, small = pattern(100 * KIB, 1), pattern(80 * KIB, 2), pattern(10, 3)
    put(root / "a" / "big1", big)
    put(root / "b" / "big2", big)
    for p in ("a/mid1", "b/mid2", "b/mid3"):
        put(root / p, mid)
    os.link(root / "b" / "mid2", root / "b" / "mid-link")
    for i, p in enumerate(("a/edge1", "b/edge2")):
        edge = bytearray(mid)
        edge[40 * KIB] = i
        put(root / p, bytes(edge))
    put(root / "a" / "s1", small)
    put(root / "b" / "s2", small)
    put(Path(os.fsdecode(os.fsencode(root) + b"/caf\xe9")), small)
    put(root / "a" / "t1", pattern(10, 4))
    put(root / "a" / "t2", pattern(10, 5))
    put(root / "e1", b"")
    put(root / "e2", b"")
    os.mkfifo(root / "fifo")
    (root / "link").symlink_to("a/big1")
    return root


def rows_of(out: bytes) -> list[dict[str, Any]]:
    rows = [json.loads(line) for line in out.splitlines()]
    for row in rows:
        DupeGroup.model_validate(row)
    return rows


def test_text_is_a_paragraph_per_group_and_json_a_row_per_group(
    vegafs: Vegafs, tmp_path: Path
) -> None:
    tree(tmp_path / "tree")
    out = vegafs.run("dupes", "tree", cwd=tmp_path)
    assert (out.returncode, out.stderr) == (0, "")
    text = out.text
    paragraphs = text.split("\n\n")
    assert [p.splitlines()[1:] for p in paragraphs[:-1]] == [
        ["tree/a/mid1", "tree/b/mid-link", "tree/b/mid2", "tree/b/mid3"],
        ["tree/a/big1", "tree/b/big2"],
        ["tree/a/s1", "tree/b/s2", "tree/caf\\xe9"],  # shown escaped, never raw
    ]
    heads = [p.splitlines()[0].rsplit(", ", 1)[0] for p in paragraphs[:-1]]
    assert heads == [
        "80.0 KiB x 3 = 160.0 KiB wasted",
        "100.0 KiB x 2 = 100.0 KiB wasted",
        "10 B x 3 = 20 B wasted",
    ]
    assert paragraphs[-1] == "3 groups, 8 files, 260.0 KiB reclaimable\n"

    out = vegafs.run("dupes", "tree", "--json", cwd=tmp_path)
    assert (out.returncode, out.stderr) == (0, "")
    rows = rows_of(out.stdout)
    assert [(r["size"], r["count"], r["wasted_bytes"]) for r in rows] == [
        (80 * KIB, 3, 160 * KIB),
        (100 * KIB, 2, 100 * KIB),
        (10, 3, 20),
    ]
    assert [os.fsencode(p) for p in rows[2]["paths"]] == [
        b"tree/a/s1",
        b"tree/b/s2",
        b"tree/caf\xe9",
    ]
    hashes = [r["hash"] for r in rows]
    assert len(set(hashes)) == 3
    assert all(len(h) == 64 and int(h, 16) >= 0 for h in hashes)
    for line, row in zip(text.split("\n\n")[:-1], rows, strict=True):
        assert line.splitlines()[0].endswith(f", {row['hash']}")


def test_the_python_function_gives_rows_and_the_summary_of_each_stage(tmp_path: Path) -> None:
    root = tree(tmp_path / "tree")
    with find_dupes(root, batch_size=1) as stream:
        rows = [row for batch in stream for row in batch]
        summary = DupesSummary.model_validate(stream.summary())
    assert [r["count"] for r in rows] == [3, 2, 3]
    assert summary.roots == [str(root)]
    # Regular files of 1 byte or more: 2 big, 4 mid (one a link), 2 edge, 3 small, 2 other.
    assert (summary.files, summary.hard_links) == (13, 1)
    assert summary.bytes == 2 * 100 * KIB + 6 * 80 * KIB + 5 * 10
    # Sizes shared: 100 KiB (2 inodes), 80 KiB (5), 10 B (5).
    s = summary.by_size
    assert (s.groups, s.files, s.bytes) == (3, 12, 2 * 100 * KIB + 5 * 80 * KIB + 5 * 10)
    # The ends keep mid and edge together; 10-byte files are read whole: t1 and t2 drop out.
    e = summary.by_edges
    assert (e.groups, e.files, e.bytes) == (3, 10, 2 * 100 * KIB + 5 * 80 * KIB + 3 * 10)
    c = summary.by_content
    assert (c.groups, c.files, c.bytes) == (3, 8, 2 * 100 * KIB + 3 * 80 * KIB + 3 * 10)
    assert (summary.duplicate_groups, summary.duplicate_files) == (3, 8)
    assert summary.reclaimable_bytes == 100 * KIB + 160 * KIB + 20
    assert summary.hashed_bytes == 5 * 10 + 7 * 8 * KIB + 2 * 100 * KIB + 5 * 80 * KIB
    assert (summary.error_count, summary.errors) == (0, [])


def test_min_size_zero_reports_empty_files_and_a_larger_one_skips_smaller_files(
    vegafs: Vegafs, tmp_path: Path
) -> None:
    tree(tmp_path / "tree")
    out = vegafs.run("dupes", "tree", "--json", "--min-size", "0", cwd=tmp_path)
    assert out.returncode == 0, out.stderr
    rows = rows_of(out.stdout)
    assert rows[-1] == {
        "hash": "af1349b9f5f9a1a6a0404dea36dcc9499bcb25c9adc112b7cc9a93cae41f3262",  # b3sum
        "size": 0,
        "count": 2,
        "wasted_bytes": 0,
        "paths": ["tree/e1", "tree/e2"],
    }
    out = vegafs.run("dupes", "tree", "--json", "--min-size", "1k", cwd=tmp_path)
    assert out.returncode == 0, out.stderr
    assert [r["size"] for r in rows_of(out.stdout)] == [80 * KIB, 100 * KIB]


def test_a_fifo_is_never_opened_and_symlinks_are_followed_only_with_follow(
    vegafs: Vegafs, tmp_path: Path
) -> None:
    if (missing := strace_missing()) is not None:
        pytest.skip(missing)
    tree(tmp_path / "tree")
    log = tmp_path / "strace.log"
    prefix = ["strace", "-f", "-qq", "-e", "trace=open,openat,openat2", "-o", str(log)]
    out = vegafs.run("dupes", "tree", "--json", cwd=tmp_path, prefix=prefix)
    assert out.returncode == 0, out.stderr
    opened = log.read_text(errors="replace")
    # A directory below the root's handle, refusing symlinks; a file by its name from it.
    assert re.search(r'openat2\(\d+, "a", \{flags=[^}]*O_PATH[^}]*RESOLVE_NO_SYMLINKS', opened)
    assert re.search(r'openat\(\d+, "big1", O_RDONLY\|O_NOCTTY\|O_NONBLOCK[^)]*O_NOFOLLOW', opened)
    assert "fifo" not in opened
    assert rows_of(out.stdout)[1]["paths"] == ["tree/a/big1", "tree/b/big2"]
    out = vegafs.run("dupes", "tree", "--json", "-L", cwd=tmp_path)
    assert out.returncode == 0, out.stderr
    assert rows_of(out.stdout)[1]["paths"] == [
        "tree/a/big1",
        "tree/b/big2",
        "tree/link",  # one more path to big1's inode: listed, not one more copy
    ]


def test_duplicates_below_a_chain_deeper_than_path_max_are_found(
    vegafs: Vegafs, tmp_path: Path
) -> None:
    bottom = deep_chain(tmp_path / "tree", 200)  # a 3-byte "abc" sibling every 50 levels
    assert len(os.fsencode(bottom)) > 4096
    put(tmp_path / "tree" / "top.txt", b"bottom!")
    out = vegafs.run("dupes", "tree", "--json", cwd=tmp_path)
    assert (out.returncode, out.stderr) == (0, "")
    rows = rows_of(out.stdout)
    assert [(r["size"], r["count"], r["wasted_bytes"]) for r in rows] == [(3, 4, 9), (7, 2, 7)]
    # Byte-wise sorted: "ddd..." < "sibling": the deepest first.
    assert rows[0]["paths"] == [f"tree/{NAME * n}sibling" for n in (150, 100, 50, 0)]
    assert rows[1]["paths"] == [f"tree/{NAME * 200}bottom.txt", "tree/top.txt"]


def test_unreadable_entries_are_errors_and_exit_1(
    vegafs: Vegafs, locked_tree: Path, unprivileged: list[str]
) -> None:
    """tree/open/f ("abc"), g; plus open/f2 ("abc") and open/secret ("abc", mode 000): the
    secret cannot be compared; open/alone (mode 000, a size of its own) is never opened."""
    put(locked_tree / "open" / "f2", b"abc")
    secret = put(locked_tree / "open" / "secret", b"abc")
    alone = put(locked_tree / "open" / "alone", b"a size of its own")
    secret.chmod(0)
    alone.chmod(0)
    out = vegafs.run("dupes", "tree", "--json", cwd=locked_tree.parent, prefix=unprivileged)
    assert out.returncode == 1
    assert [r["paths"] for r in rows_of(out.stdout)] == [["tree/open/f", "tree/open/f2"]]
    assert out.stderr.splitlines() == [
        "vegafs: tree/locked: Permission denied (os error 13)",
        "vegafs: tree/open/secret: Permission denied (os error 13)",
        "vegafs: 2 entries could not be read",
    ]


def test_bad_usage_exits_2(vegafs: Vegafs, tmp_path: Path) -> None:
    out = vegafs.run("dupes", "missing", cwd=tmp_path)
    assert out.returncode == 2
    assert "missing" in out.stderr
    out = vegafs.run("dupes", ".", "--min-size", "lots", cwd=tmp_path)
    assert out.returncode == 2
    assert "invalid --min-size: not a size: 'lots'" in out.stderr
    out = vegafs.run("dupes", "--json", cwd=tmp_path)
    assert out.returncode == 2
    assert "missing PATH" in out.stderr


def test_a_job_gives_the_groups_as_result_rows_and_the_summary(
    stack: Stack, service_root: Path
) -> None:
    tree(service_root / "tree")
    local = ok(run(None, "dupes", str(service_root), "--json"))
    remote = run(stack, "dupes", str(service_root), "--json", "--submit", "--wait")
    assert remote.returncode == 0, remote.stderr
    assert remote.stdout == local
    assert len(local.splitlines()) == 3
    with stack.client() as http:
        body = {"operation": "dupes", "params": {"selection": {"roots": [str(service_root)]}}}
        r = http.post("/jobs", json={**body, "fresh": True})
        assert r.status_code == 202, r.text
        job = stack.wait_job(http, r.json()["id"], {"succeeded", "failed"})
        assert job["status"] == "succeeded", job
        assert job["result_rows"] == 3
        summary = job["summary"]
        assert (summary["duplicate_groups"], summary["duplicate_files"]) == (3, 8)
        assert summary["reclaimable_bytes"] == 100 * KIB + 160 * KIB + 20
        first = http.get(f"/jobs/{job['id']}/results", params={"limit": 2}).json()
        rest = http.get(
            f"/jobs/{job['id']}/results", params={"limit": 2, "cursor": first["next_cursor"]}
        ).json()
        assert rest["next_cursor"] is None
        rows = [item["data"] for item in first["items"] + rest["items"]]
        assert rows == [json.loads(line) for line in local.splitlines()]


QUICK_AND_FULL = [
    ["dupes", "tree"],
    ["dupes", "tree", "--json"],
    ["dupes", "tree", "--json", "--min-size", "0", "-g", "*1", "-g", "*2", "--max-errors", "0"],
    ["dupes", "tree/a", "tree/b", "--no-hidden", "-L"],
    ["dupes", "missing", "--json"],
]


@pytest.mark.parametrize("args", QUICK_AND_FULL)
def test_the_quick_path_prints_what_the_full_command_prints(
    vegafs_exe: Path, tmp_path: Path, args: list[str]
) -> None:
    tree(tmp_path / "tree")
    quick = run_cli(vegafs_exe, args, tmp_path, quick=True)
    full = run_cli(vegafs_exe, args, tmp_path, quick=False)
    assert (quick[3], full[3]) == (False, True)  # typer and pydantic: only in the full command
    assert quick[:3] == full[:3]
    assert quick[0] == (2 if "missing" in args else 0)


def test_the_quick_path_reports_unreadable_entries_alike(
    vegafs_exe: Path, locked_tree: Path, unprivileged: list[str]
) -> None:
    put(locked_tree / "open" / "f2", b"abc")
    put(locked_tree / "open" / "secret", b"abc").chmod(0)
    quick = run_cli(
        vegafs_exe, ["dupes", "tree"], locked_tree.parent, quick=True, prefix=unprivileged
    )
    full = run_cli(
        vegafs_exe, ["dupes", "tree"], locked_tree.parent, quick=False, prefix=unprivileged
    )
    assert quick[:3] == full[:3]
    assert quick[0] == 1
    head, paths, totals = quick[1].split("\n", 1)[0], quick[1].splitlines()[1:3], quick[1][-36:]
    assert head.startswith("3 B x 2 = 3 B wasted, ")
    assert paths == ["tree/open/f", "tree/open/f2"]
    assert totals == "\n1 groups, 2 files, 3 B reclaimable\n"


def test_progress_counts_entries_and_hashed_bytes_and_a_cancelled_call_raises(
    tmp_path: Path,
) -> None:
    root = tree(tmp_path / "tree")
    progress = Progress()
    with find_dupes(root, progress=progress) as stream:
        for _ in stream:
            pass
        summary = DupesSummary.model_validate(stream.summary())
    entries, dirs, size, errors = progress.snapshot()
    # The root, a and b, 15 regular files, the FIFO and the symlink; bytes: those hashed.
    assert (entries, dirs, size, errors) == (20, 3, summary.hashed_bytes, 0)
    cancel = CancelToken()
    cancel.cancel()
    with pytest.raises(Cancelled), find_dupes(root, cancel=cancel) as stream:
        for _ in stream:
            pass

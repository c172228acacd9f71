"""The quick path (vegafs.cli.quick): a local `analyze --json`, `list`, `hash`, `dupes`,
`search` or `replace` (`--apply` too) runs without typer, pydantic or SQLAlchemy, and prints
what the full command prints, errors and exit codes included; an applied replace leaves the
tree and the journal the full command leaves."""

import json
import os
import re
import sqlite3
import subprocess
import sys
from contextlib import closing
from pathlib import Path

import pytest

from conftest import SUBPROCESS_TIMEOUT, cli_env, write

NOW = "@1700000000"
HEAVY = re.compile(r"\| +(pydantic|typer|click|rich|sqlalchemy)\b", re.MULTILINE)


def run(exe: Path, args: list[str], cwd: Path, *, quick: bool, prefix: list[str] | None = None,
        env: dict[str, str] | None = None) -> tuple[int, str, str, bool]:  # fmt: skip
    """(exit code, stdout, stderr, whether typer, pydantic or SQLAlchemy was imported)."""
    env = cli_env() | (env or {}) | {"VEGAFS_QUICK": "1" if quick else "0",
                                     "PYTHONPROFILEIMPORTTIME": "1"}  # fmt: skip
    done = subprocess.run(
        [*(prefix or []), str(exe), *args],
        cwd=cwd,
        env=env,
        capture_output=True,
        timeout=SUBPROCESS_TIMEOUT,
        check=False,
    )
    err = done.stderr.decode("utf-8", "replace")
    heavy = HEAVY.search(err) is not None
    err = "".join(line for line in err.splitlines(True) if not line.startswith("import time:"))
    out = done.stdout.decode("utf-8", "surrogateescape")
    return done.returncode, out, err, heavy


def comparable(args: list[str], out: str) -> str:
    """The output without what differs between two runs: analyze's elapsed time (JSON and
    report), the order of rows (the walk is parallel)."""
    if args[0] in ("list", "hash", "search"):
        return "\n".join(sorted(out.splitlines()))
    out = re.sub(r"\btime(\s+)[0-9.]+ s\b", r"time\1N s", out)  # the text report's line
    return re.sub(r'"elapsed_s":[0-9.e-]+', '"elapsed_s":0', out)


@pytest.fixture
def tree(tmp_path: Path) -> Path:
    root = tmp_path / "tree"
    write(root / "a.txt", 100, mtime=1_690_000_000)
    write(root / "b.log", 5000, mtime=1_699_000_000)
    write(root / "sub" / "c.py", 2048, mtime=1_600_000_000)
    write(root / "sub" / "deep" / "d.bin", 10, mtime=1_699_999_000)
    write(root / ".hidden" / "e.txt", 7, mtime=1_699_999_999)
    fd = os.open(os.fsencode(root / "sub") + b"/caf\xe9.txt", os.O_WRONLY | os.O_CREAT, 0o644)
    os.write(fd, b"12345")
    os.close(fd)
    (root / "link").symlink_to("a.txt")
    (root / "empty").mkdir()
    (root / "b\x1b.bin").write_bytes(b"x\0x")  # replace refuses it: binary, a name escaped
    return root


QUICK = [
    ["analyze", "tree", "--json", "--now", NOW],
    ["analyze", "tree", "--json", "--now", NOW, "--top", "2", "--max-errors", "0", "-t", "f,d",
     "--min-size", "0.01k", "--no-hidden", "-g", "*.txt", "-g", "*.py", "-E", "deep",
     "--newer", "3000d", "--older", "2023-11-14", "--max-depth", "3", "-x", "--regex", "[a-c]"],
    ["analyze", "--now=" + NOW, "--top=1", "tree/sub", "--json", "--", "tree/b.log"],
    ["analyze", "tree/./sub/", "--json", "--now", NOW, "--hidden", "--no-hidden", "--hidden"],
    ["analyze", "tree", "--json", "--now", NOW, "-g", "["],  # a bad glob: exit 2 naming -g
    ["analyze", "tree", "--json", "--now", NOW, "--older", "2020-01-01", "--newer", "2021-01-01"],
    ["analyze", "missing", "--json", "--now", NOW],  # exit 2 naming the path
    ["list", "tree"],
    ["list", "tree", "--json", "-t", "f", "--max-depth", "1"],
    ["list", "tree", "--no-hidden", "-E", "sub"],
    ["list", "missing"],
    ["hash", "tree"],
    ["hash", "tree", "--algo", "sha256", "-t", "f", "--max-errors", "5"],
    ["hash", "--algo=xxh3", "tree/sub", "--json"],
    ["search", "x", "tree"],
    ["search", "-c", "xxxxx", "tree", "--max-count", "1"],
    ["search", "-e", "12", "-e", "nothing", "tree", "--json"],
    ["search", "-F", "-i", "X", "tree/sub", "-l", "-t", "f"],
    ["search", "--files-without-match", "1", "tree"],
    ["search", "nothing", "tree"],  # exit 1
    ["search", "(", "tree"],  # exit 2: the pattern
    ["search", "x", "missing"],  # exit 2: the path
    ["search", "-o", "-w", "12345", "tree", "-C", "1"],
    ["replace", "2(3)", "[$1]", "tree", "--no-hidden"],  # the diff of a name not UTF-8
    ["replace", "-F", "-w", "12345", "five", "tree/sub", "-t", "f"],
    ["replace", "x{3}", "y", "tree", "--max-depth", "1", "-g", "*.txt"],
    ["replace", "x", "y", "tree", "--max-depth", "1"],  # refused between diffs, in order
    ["replace", "--pattern", "45", "y", "tree"],  # y is the REPLACEMENT, tree the PATH
    ["replace", "--replacement", "y", "45", "tree"],  # 45 is the PATTERN
    ["replace", "nothing", "y", "tree"],
    ["replace", "(", "y", "tree"],  # exit 2: the pattern
    ["replace", "x", "y", "missing"],  # exit 2: the path
]  # fmt: skip

FULL = [
    ["analyze", "tree", "--now", NOW],  # the text report
    ["analyze", "tree", "--csv", "--now", NOW],
    ["analyze", "tree", "--json", "--now", NOW, "--top", "-1"],
    ["analyze", "tree", "--json", "--now", NOW, "--max-depth", str(2**64)],
    ["analyze", "tree", "--json", "--now", NOW, "--min-size", "10x"],
    ["analyze", "tree", "--json", "--now", NOW, "--type", "bogus"],
    ["analyze", "tree", "--json", "--now", "yesterday"],
    ["analyze", "tree", "--json", "-xL", "--now", NOW],
    ["analyze", "tree", "--json=1", "--now", NOW],
    ["analyze", "tree", "--json", "--now", NOW, "--wait"],
    ["analyze", "--json", "--now", NOW],  # no PATH
    ["analyze", "tree", "--json", "--now", NOW, "--bogus"],
    ["analyze", "--help"],
    ["list", "tree", "--max-errors", "-3"],
    ["list", "tree", "-h"],
    ["hash", "tree", "--algo", "md5"],
    ["hash", "tree", "--manifest", "nowhere/sums"],
    ["search", "-c", "-l", "x", "tree"],  # options that do not go together
    ["search", "x"],  # no PATH
    ["search", "x", "tree", "-C", "-1"],
    ["replace", "x", "tree"],  # no PATH
    ["replace", "45", "y", "tree", "--json"],
    ["replace", "45", "y", "tree", "--max-errors", "-1"],
]


@pytest.mark.parametrize(("args", "quick"), [(a, True) for a in QUICK] + [(a, False) for a in FULL])
def test_quick_prints_what_the_full_command_prints(
    vegafs_exe: Path, tree: Path, args: list[str], quick: bool
) -> None:
    code, out, err, heavy = run(vegafs_exe, args, tree.parent, quick=True)
    assert heavy is not quick, "the quick path ran" if heavy is False else "it fell back"
    full_code, full_out, full_err, full_heavy = run(vegafs_exe, args, tree.parent, quick=False)
    assert full_heavy
    assert (code, comparable(args, out), err) == (full_code, comparable(args, full_out), full_err)


def test_the_quick_cases_say_something(vegafs_exe: Path, tree: Path) -> None:
    """The comparison above is of real outputs: a few of them, exactly."""
    code, out, err, _ = run(vegafs_exe, QUICK[0], tree.parent, quick=True)
    assert (code, err) == (0, "")
    result = json.loads(out)
    assert (result["files"], result["dirs"], result["symlinks"]) == (7, 5, 1)
    assert result["file_bytes"] == 100 + 5000 + 2048 + 10 + 7 + 5 + 3
    assert result["now"] == 1_700_000_000
    code, out, err, _ = run(vegafs_exe, QUICK[1], tree.parent, quick=True)
    assert (code, err) == (0, "")
    result = json.loads(out)
    # *.txt or *.py, not hidden, at least 10 bytes, not below "deep", mtime in range, [a-c]:
    assert [f["path"] for f in result["largest_files"]] == ["tree/sub/c.py", "tree/a.txt"]
    code, out, err, _ = run(vegafs_exe, QUICK[4], tree.parent, quick=True)
    assert (code, out) == (2, "")
    assert err.startswith("vegafs: error: invalid -g/--include: ")
    code, out, err, _ = run(vegafs_exe, QUICK[6], tree.parent, quick=True)
    assert (code, out, err) == (2, "", "vegafs: error: missing: No such file or directory\n")
    code, out, err, _ = run(vegafs_exe, QUICK[7], tree.parent, quick=True)
    assert (code, err) == (0, "")
    assert "tree/sub/caf\\xe9.txt" in out.splitlines()
    code, out, err, _ = run(vegafs_exe, ["replace", "2(3)", "[$1]", "tree"], tree.parent,
                            quick=True)  # fmt: skip
    assert code == 0
    assert out.encode("utf-8", "surrogateescape") == (
        b"--- a/tree/sub/caf\xe9.txt\n+++ b/tree/sub/caf\xe9.txt\n"
        b"@@ -1 +1 @@\n-12345\n\\ No newline at end of file\n"
        b"+1[3]45\n\\ No newline at end of file\n"
    )
    assert err == (
        "vegafs: plan: 7 files scanned, 1 to change (1 replacements); nothing was changed.\n"
    )
    # The full command: a refused file's line (its name escaped) between the diffs, in order.
    code, out, err, _ = run(vegafs_exe, ["replace", "x", "y", "tree", "--max-depth", "1"],
                            tree.parent, quick=False)  # fmt: skip
    assert code == 0
    heads = [line for line in out.splitlines() if line.startswith("--- ") or "refused" in line]
    assert heads == ["--- a/tree/a.txt", "tree/b\\x1b.bin: refused, binary file",
                     "--- a/tree/b.log"]  # fmt: skip


@pytest.mark.parametrize("args", [["analyze", "tree", "--json"], ["list", "tree"]])
def test_unreadable_entries_are_reported_alike(
    vegafs_exe: Path, locked_tree: Path, unprivileged: list[str], args: list[str]
) -> None:
    args = [*args, "--now", NOW] if args[0] == "analyze" else args
    quick = run(vegafs_exe, args, locked_tree.parent, quick=True, prefix=unprivileged)
    full = run(vegafs_exe, args, locked_tree.parent, quick=False, prefix=unprivileged)
    assert quick[0] == full[0] == 1
    assert quick[2] == full[2]
    assert "vegafs: 1 entry could not be read" in quick[2]
    assert comparable(args, quick[1]) == comparable(args, full[1])
    assert (quick[3], full[3]) == (False, True)


def test_the_quick_table_is_what_the_commands_say() -> None:
    done = subprocess.run(
        [sys.executable, "-m", "vegafs.cli.quick_table", "--check"],
        capture_output=True,
        text=True,
        timeout=SUBPROCESS_TIMEOUT,
        check=False,
    )
    assert (done.returncode, done.stderr) == (0, "")


def test_an_applied_replace_leaves_what_the_full_command_leaves(
    vegafs_exe: Path, tmp_path: Path
) -> None:
    """`replace --apply` on the quick path and as the full command, each on its own copy of a
    tree with its own journal: the same output, the same tree after (contents and modes), and
    a journal from which `vegafs undo` restores the tree as it was."""
    results = {}
    for quick in (True, False):
        base = tmp_path / ("quick" if quick else "full")
        root = base / "t"
        (root / "sub").mkdir(parents=True)
        (root / "a.txt").write_text("colour one\nplain\n")
        (root / "sub" / "b.txt").write_text("no colour here? colour!\n")
        (root / "sub" / "c.txt").write_text("nothing\n")
        (root / "bin.dat").write_bytes(b"\x00colour")
        (root / "a.txt").chmod(0o640)
        before = tree_state(root)
        env = {"VEGAFS_DATA_DIR": str(base / "data")}
        # A first, empty operation: the database made and migrated (with Alembic), as after a
        # user's first writing command.
        first = run(vegafs_exe, ["replace", "x", "y", "t/sub/c.txt", "--apply"], base,
                    quick=quick, env=env)  # fmt: skip
        assert first[0] == 0, first
        args = ["replace", "colour", "color", "t", "--apply", "--newer", "2020-01-02 03:04:05.5"]
        code, out, err, heavy = run(vegafs_exe, args, base, quick=quick, env=env)
        assert heavy is not quick
        (db,) = (base / "data").glob("*.db")
        with closing(sqlite3.connect(db)) as c:
            (params,) = c.execute("SELECT params FROM write_ops WHERE id = 1").fetchone()
        results[quick] = (code, out, err, tree_state(root), json.loads(params))
        undo = run(vegafs_exe, ["undo", "1", "--apply"], base, quick=False, env=env)
        assert undo[0] == 0, undo
        assert tree_state(root) == before
    assert results[True] == results[False]
    code, out, err, after, params = results[True]
    # Recorded as the params model records them: a time as ISO 8601 text, not seconds.
    assert params["selection"]["newer_than"].startswith("2020-01-0")
    assert params["selection"]["newer_than"].endswith(":04:05.500000Z")
    assert (code, err) == (0, "vegafs: plan: 4 files scanned, 2 to change (3 replacements), "
                              "1 refused (left as they are); applied as operation 1 (vegafs "
                              "ops show 1; vegafs undo 1).\n")  # fmt: skip
    assert "+color one\n" in out and "t/bin.dat: refused, binary file\n" in out
    assert after["a.txt"] == (b"color one\nplain\n", 0o100640)
    assert after["sub/b.txt"][0] == b"no color here? color!\n"


def tree_state(root: Path) -> dict[str, tuple[bytes, int]]:
    """Each file below `root`, by its path there: its content and mode."""
    return {
        str(p.relative_to(root)): (p.read_bytes(), p.stat().st_mode)
        for p in sorted(root.rglob("*"))
        if p.is_file()
    }

"""The quick path (vegafs.cli.quick): a local `analyze --json`, `list`, `hash`, `dupes` or
`search` runs without typer, pydantic or SQLAlchemy, and prints what the full command prints,
errors and exit codes included."""

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from conftest import SUBPROCESS_TIMEOUT, cli_env, write

NOW = "@1700000000"
HEAVY = re.compile(r"\| +(pydantic|typer|click|rich|sqlalchemy)\b", re.MULTILINE)


def run(exe: Path, args: list[str], cwd: Path, *, quick: bool, prefix: list[str] | None = None
        ) -> tuple[int, str, str, bool]:  # fmt: skip
    """(exit code, stdout, stderr, whether typer, pydantic or SQLAlchemy was imported)."""
    env = cli_env() | {"VEGAFS_QUICK": "1" if quick else "0", "PYTHONPROFILEIMPORTTIME": "1"}
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
    assert (result["files"], result["dirs"], result["symlinks"]) == (6, 5, 1)
    assert result["file_bytes"] == 100 + 5000 + 2048 + 10 + 7 + 5
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

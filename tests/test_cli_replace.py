"""`vegafs replace` (planning): the unified diff of each file to change, capture groups, fixed
strings, binary files refused; nothing on disk changed; the same plan as a job."""

import json
from pathlib import Path

import pytest

from conftest import Vegafs
from stack import Stack
from test_cli_jobs import ok, refused, run


def snapshot(root: Path) -> list[tuple[str, bytes, int]]:
    """Every path below `root` with its content and mtime, sorted."""
    return sorted(
        (str(p), b"/" if p.is_dir() else p.read_bytes(), p.lstat().st_mtime_ns)
        for p in root.rglob("*")
    )


@pytest.fixture
def docs(tmp_path: Path) -> Path:
    root = tmp_path / "docs"
    (root / "sub").mkdir(parents=True)
    (root / "a.txt").write_text("".join(f"line {i}\n" for i in range(1, 21)))
    (root / "sub" / "b.md").write_text("Hello ann@home and bob@work.\nnothing\n")
    (root / "plain.txt").write_text("no match here\n")
    (root / "blob.bin").write_bytes(b"\x00\nline 2\n")
    return root


def plan(vegafs: Vegafs, root: Path, *args: str) -> tuple[int, str, str]:
    before = snapshot(root)
    out = vegafs.run("replace", *args, root.name, cwd=root.parent)
    assert snapshot(root) == before  # a plan never changes the tree
    return out.returncode, out.text, out.stderr


def test_the_plan_is_a_unified_diff_per_file(vegafs: Vegafs, docs: Path) -> None:
    code, out, err = plan(vegafs, docs, r"^line (2|15)$", "LINE $1")
    assert code == 0, err
    assert out == (
        "--- a/docs/a.txt\n"
        "+++ b/docs/a.txt\n"
        "@@ -1,5 +1,5 @@\n"
        " line 1\n"
        "-line 2\n"
        "+LINE 2\n"
        " line 3\n"
        " line 4\n"
        " line 5\n"
        "@@ -12,7 +12,7 @@\n"
        " line 12\n"
        " line 13\n"
        " line 14\n"
        "-line 15\n"
        "+LINE 15\n"
        " line 16\n"
        " line 17\n"
        " line 18\n"
        "docs/blob.bin: refused, binary file\n"
    )
    assert err == (
        "vegafs: plan: 4 files scanned, 1 to change (2 replacements), 1 refused (left as they "
        "are); nothing was changed.\n"
    )


def test_the_diff_is_what_diff_u_writes(vegafs: Vegafs, docs: Path, tmp_path: Path) -> None:
    """Against GNU diff -u on the same change (its headers aside)."""
    import shutil
    import subprocess

    if shutil.which("diff") is None:
        pytest.skip("diff (diffutils) is missing")
    text = "".join(f"{i % 7} x{i}\n" for i in range(40)) + "end x"
    (docs / "sub" / "c.txt").write_text(text)
    code, out, _ = plan(vegafs, docs, r"x(\d*[05])\b", "y$1", "--include", "c.txt")
    assert code == 0
    (tmp_path / "new").write_text(
        "".join(f"{i % 7} {'y' if i % 5 == 0 else 'x'}{i}\n" for i in range(40)) + "end x"
    )
    expected = subprocess.run(["diff", "-u", str(docs / "sub" / "c.txt"), str(tmp_path / "new")],
                              capture_output=True, text=True, check=False).stdout  # fmt: skip
    body = expected.split("\n", 2)[2]
    assert out == f"--- a/docs/sub/c.txt\n+++ b/docs/sub/c.txt\n{body}"


def test_captures_and_named_groups(vegafs: Vegafs, docs: Path) -> None:
    code, out, _ = plan(vegafs, docs, r"(?P<user>\w+)@(\w+)", "${user} at $2 ($$)")
    assert code == 0
    assert out == (
        "--- a/docs/sub/b.md\n"
        "+++ b/docs/sub/b.md\n"
        "@@ -1,2 +1,2 @@\n"
        "-Hello ann@home and bob@work.\n"
        "+Hello ann at home ($) and bob at work ($).\n"
        " nothing\n"
    )


def test_fixed_strings_ignore_case_and_words(vegafs: Vegafs, tmp_path: Path) -> None:
    root = tmp_path / "t"
    root.mkdir()
    (root / "f").write_text("a.b A.B axb a.bc\n")
    code, out, _ = plan(vegafs, root, "-F", "a.b", "[$1]")  # both literal
    assert out.splitlines()[-1] == "+[$1] A.B axb [$1]c"
    code, out, _ = plan(vegafs, root, "-F", "-i", "-w", "a.b", "X")
    assert code == 0
    assert out.splitlines()[-1] == "+X X axb a.bc"


def test_json_rows(vegafs: Vegafs, docs: Path) -> None:
    out = vegafs.run("replace", "home", "house", "docs", "--json", cwd=docs.parent)
    assert out.returncode == 0, out.stderr
    rows = [json.loads(line) for line in out.stdout.splitlines()]
    assert rows == [{
        "path": "docs/sub/b.md", "action": "replace", "replacements": 1, "reason": None,
        "diff": "--- a/docs/sub/b.md\n+++ b/docs/sub/b.md\n@@ -1,2 +1,2 @@\n"
                "-Hello ann@home and bob@work.\n+Hello ann@house and bob@work.\n nothing\n",
    }]  # fmt: skip
    out = vegafs.run("replace", "line", "L", "docs", "--json", cwd=docs.parent)
    refusal = [json.loads(line) for line in out.stdout.splitlines()][-1]
    assert refusal == {"path": "docs/blob.bin", "action": "refused", "replacements": 0,
                       "reason": "binary file", "diff": ""}  # fmt: skip


def test_bytes_that_are_not_utf8_are_kept(vegafs: Vegafs, tmp_path: Path) -> None:
    root = tmp_path / "t"
    root.mkdir()
    (root / "latin1").write_bytes(b"caf\xe9 au lait\n")
    code, out, _ = plan(vegafs, root, "lait", "miel")
    assert code == 0
    assert out.encode("utf-8", "surrogateescape").splitlines()[-2:] == [
        b"-caf\xe9 au lait",
        b"+caf\xe9 au miel",
    ]


def test_bad_usage(vegafs: Vegafs, docs: Path) -> None:
    out = vegafs.run("replace", "(", "x", "docs", cwd=docs.parent)
    assert out.returncode == 2 and "regex parse error" in out.stderr, out.stderr
    out = vegafs.run("replace", r"\w{1000}{100}", "x", "docs", cwd=docs.parent)
    assert out.returncode == 2 and "size limit" in out.stderr, out.stderr
    out = vegafs.run("replace", "x", cwd=docs.parent)
    assert out.returncode == 2
    assert "missing REPLACEMENT" in out.stderr


def test_no_match_changes_nothing(vegafs: Vegafs, docs: Path) -> None:
    code, out, err = plan(vegafs, docs, "nowhere", "x")
    assert (code, out) == (0, "")
    assert err == (
        "vegafs: plan: 4 files scanned, 0 to change (0 replacements); nothing was changed.\n"
    )


def test_a_replace_plan_as_a_job(stack: Stack, service_root: Path) -> None:
    root = service_root / "t"
    root.mkdir()
    (root / "f").write_text("one two\n")
    args = ["replace", "two", "2", str(root)]
    local = ok(run(None, *args, "--json"))
    remote = run(stack, *args, "--json", "--submit", "--wait")
    assert remote.returncode == 0, remote.stderr
    assert remote.stdout.splitlines() == local.splitlines()
    assert json.loads(local)["diff"].endswith("-one two\n+one 2\n")
    assert "regex parse error" in refused(run(stack, "replace", "(", "x", str(root), "--submit"))
    assert [p.name for p in root.iterdir()] == ["f"] and (root / "f").read_text() == "one two\n"
    applied = run(stack, *args, "--apply", "--submit", "--wait")
    assert applied.returncode == 0, applied.stderr
    assert [p.name for p in root.iterdir()] == ["f"] and (root / "f").read_text() == "one 2\n"

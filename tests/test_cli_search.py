"""`vegafs search`: ripgrep's searcher in the core, on real trees; rg itself as the reference
for the per-file counts; the same operation as a job on SQLite and PostgreSQL."""

import json
import os
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest

from conftest import Vegafs, write
from stack import Stack
from test_cli_jobs import ok, run
from test_walk_handles import NAME, deep_chain
from vegafs import engine
from vegafs.engine import SearchOptions, SearchSummary
from vegafs.errors import Cancelled, PatternError


def text_tree(root: Path) -> Path:
    """Text files, a hard link, a binary file, a UTF-16 file with a BOM, a name that is not
    UTF-8, a FIFO and a symlink (neither is read)."""
    (root / "sub").mkdir(parents=True)
    (root / "a.txt").write_bytes(b"alpha one\nbeta two\nalpha three\ngamma\n")
    (root / "sub" / "b.txt").write_bytes(b"no match here\nALPHA upper\n")
    os.link(root / "a.txt", root / "sub" / "a-link.txt")
    (root / "data.bin").write_bytes(b"alpha\0binary alpha\n")
    (root / "utf16.txt").write_bytes("alpha in utf-16\n".encode("utf-16"))  # with its BOM
    fd = os.open(os.fsencode(root / "sub") + b"/caf\xe9.txt", os.O_WRONLY | os.O_CREAT, 0o644)
    os.write(fd, b"alpha latin-1 name\n")
    os.close(fd)
    os.mkfifo(root / "fifo")
    (root / "link.txt").symlink_to("a.txt")
    return root


def lines(out: bytes) -> list[str]:
    return sorted(out.decode("utf-8", "surrogateescape").splitlines())


def test_matching_lines_of_every_regular_file_with_their_paths_and_numbers(
    vegafs: Vegafs, tmp_path: Path
) -> None:
    text_tree(tmp_path / "tree")
    out = vegafs.run("search", "alpha", "tree", cwd=tmp_path, timeout=60)  # the FIFO: no hang
    assert (out.returncode, out.stderr) == (0, "")
    assert lines(out.stdout) == [
        "tree/a.txt:1:alpha one",
        "tree/a.txt:3:alpha three",
        "tree/sub/a-link.txt:1:alpha one",  # a hard link is a file of its own, as in rg
        "tree/sub/a-link.txt:3:alpha three",
        "tree/sub/caf\\xe9.txt:1:alpha latin-1 name",  # shown as list and analyze show it
        "tree/utf16.txt:1:alpha in utf-16",  # decoded from UTF-16 (its BOM)
    ]  # data.bin: a NUL in its first block, skipped; link.txt: a symlink, not followed


def test_exit_codes_are_rgs(vegafs: Vegafs, tmp_path: Path) -> None:
    text_tree(tmp_path / "tree")
    none = vegafs.run("search", "no such words", "tree", cwd=tmp_path)
    assert (none.returncode, none.stdout, none.stderr) == (1, b"", "")
    bad = vegafs.run("search", "(unclosed", "tree", cwd=tmp_path)
    assert (bad.returncode, bad.stdout) == (2, b"")
    assert bad.stderr.startswith("vegafs: error: invalid pattern: regex parse error:")
    assert "unclosed group" in bad.stderr
    missing = vegafs.run("search", "x", "no-such-dir", cwd=tmp_path)
    assert missing.returncode == 2
    assert missing.stderr == "vegafs: error: no-such-dir: No such file or directory\n"
    usage = vegafs.run("search", cwd=tmp_path)
    assert usage.returncode == 2


def test_a_regex_over_the_nesting_or_size_limit_fails_at_once_with_exit_2(
    vegafs: Vegafs, tmp_path: Path
) -> None:
    text_tree(tmp_path / "tree")
    deep = vegafs.run("search", "(" * 300 + "a" + ")" * 300, "tree", cwd=tmp_path)
    assert (deep.returncode, deep.stdout) == (2, b"")
    assert "exceed" in deep.stderr and "nest" in deep.stderr, deep.stderr
    big = vegafs.run("search", r"\w{1000}{1000}", "tree", cwd=tmp_path)
    assert (big.returncode, big.stdout) == (2, b"")
    assert "size limit" in big.stderr, big.stderr


def test_pattern_flags(vegafs: Vegafs, tmp_path: Path) -> None:
    root = tmp_path / "t"
    root.mkdir()
    (root / "f").write_bytes(b"a.c\nabc\nABC\nxabcx\nab\nc\nfoo\n")

    def search(*args: str) -> list[str]:
        out = vegafs.run("search", *args, "t", cwd=tmp_path)
        assert out.returncode in (0, 1), out.stderr
        return out.stdout.decode().splitlines()

    assert search("a.c") == ["t/f:1:a.c", "t/f:2:abc", "t/f:4:xabcx"]
    assert search("-F", "a.c") == ["t/f:1:a.c"]
    assert search("-i", "abc") == ["t/f:2:abc", "t/f:3:ABC", "t/f:4:xabcx"]
    assert search("-S", "abc") == ["t/f:2:abc", "t/f:3:ABC", "t/f:4:xabcx"]
    assert search("-S", "ABC") == ["t/f:3:ABC"]
    assert search("-w", "abc") == ["t/f:2:abc"]
    assert search("-x", "ab") == ["t/f:5:ab"]
    assert search("-U", r"ab\nc") == ["t/f:5:ab", "t/f:6:c"]
    assert search("-e", "foo", "-e", "^c$") == ["t/f:6:c", "t/f:7:foo"]
    assert search("-m", "1", "abc") == ["t/f:2:abc"]
    assert search("-o", "b.") == ["t/f:2:bc", "t/f:4:bc"]
    assert search("-C", "1", "foo") == ["t/f-6-c", "t/f:7:foo"]
    assert search("-A", "1", "-B", "0", "^ab$") == ["t/f:5:ab", "t/f-6-c"]
    assert search("-B", "1", "-e", "^c$", "-e", "^abc$") == [
        "t/f-1-a.c",
        "t/f:2:abc",
        "--",
        "t/f-5-ab",
        "t/f:6:c",
    ]


def test_count_and_file_lists(vegafs: Vegafs, tmp_path: Path) -> None:
    text_tree(tmp_path / "tree")
    count = vegafs.run("search", "-c", "alpha", "tree", cwd=tmp_path)
    assert count.returncode == 0
    assert lines(count.stdout) == [
        "tree/a.txt:2",
        "tree/sub/a-link.txt:2",
        "tree/sub/caf\\xe9.txt:1",
        "tree/utf16.txt:1",
    ]
    with_matches = vegafs.run("search", "-l", "-i", "ALPHA", "tree", cwd=tmp_path)
    assert lines(with_matches.stdout) == [
        "tree/a.txt",
        "tree/sub/a-link.txt",
        "tree/sub/b.txt",
        "tree/sub/caf\\xe9.txt",
        "tree/utf16.txt",
    ]
    without = vegafs.run("search", "--files-without-match", "alpha", "tree", cwd=tmp_path)
    assert without.returncode == 0
    assert lines(without.stdout) == ["tree/data.bin", "tree/sub/b.txt"]
    both = vegafs.run("search", "-c", "-l", "alpha", "tree", cwd=tmp_path)
    assert both.returncode == 2
    assert both.stderr == (
        "vegafs: error: invalid options: Value error, choose one of count, files_with_matches "
        "and files_without_match\n"
    )


def test_json_rows_carry_offsets_submatches_and_context(vegafs: Vegafs, tmp_path: Path) -> None:
    text_tree(tmp_path / "tree")
    out = vegafs.run("search", "--json", "-A", "1", "t(wo|hree)", "tree/a.txt", cwd=tmp_path)
    assert out.returncode == 0, out.stderr
    rows = [json.loads(line) for line in out.stdout.splitlines()]
    assert rows == [
        {
            "type": "match",
            "path": "tree/a.txt",
            "line_number": 2,
            "byte_offset": 10,
            "line": "beta two",
            "submatches": [[5, 8]],
        },
        {
            "type": "match",
            "path": "tree/a.txt",
            "line_number": 3,
            "byte_offset": 19,
            "line": "alpha three",
            "submatches": [[6, 11]],
        },
        {
            "type": "context",
            "path": "tree/a.txt",
            "line_number": 4,
            "byte_offset": 31,
            "line": "gamma",
            "submatches": [],
        },
    ]


def test_binary_files_are_skipped_and_counted_unless_binary(tmp_path: Path) -> None:
    root = text_tree(tmp_path / "tree")
    options = SearchOptions(patterns=["binary"])
    with engine.search(root, options) as stream:
        rows = [row for batch in stream for row in batch]
        summary = SearchSummary.model_validate(stream.summary())
    assert rows == []
    assert (summary.files_searched, summary.binary_files, summary.matched_lines) == (6, 1, 0)
    assert (summary.files_matched, summary.files_without_match, summary.error_count) == (0, 6, 0)
    with engine.search(root, options.model_copy(update={"binary": True})) as stream:
        rows = [row for batch in stream for row in batch]
        summary = SearchSummary.model_validate(stream.summary())
    assert [(r["path"], r["line_number"], r["line"]) for r in rows] == [
        (str(root / "data.bin"), 2, "binary alpha")  # the NUL ends a line, as in rg --binary
    ]
    assert (summary.binary_files, summary.matched_lines, summary.files_matched) == (1, 1, 1)


def test_a_bad_pattern_or_a_cancelled_token_raises(tmp_path: Path) -> None:
    root = text_tree(tmp_path / "tree")
    with pytest.raises(PatternError, match="unclosed group"):
        engine.search(root, "(x")
    cancel = engine.CancelToken()
    cancel.cancel()
    with pytest.raises(Cancelled), engine.search(root, "alpha", cancel=cancel) as stream:
        list(stream)


RG = shutil.which("rg")


@pytest.mark.skipif(RG is None, reason="rg (Debian package ripgrep) is not installed")
def test_counts_are_exactly_rgs(vegafs: Vegafs, tmp_path: Path) -> None:
    root = text_tree(tmp_path / "tree")
    # rg prints a name that is not UTF-8 raw; the rest must be byte for byte the same.
    os.unlink(os.fsencode(root / "sub") + b"/caf\xe9.txt")  # noqa: PTH108 (a bytes name)
    for i in range(40):
        write(root / f"d{i % 4}" / f"f{i}.txt", 0)
        (root / f"d{i % 4}" / f"f{i}.txt").write_bytes(
            b"alpha beta\n" * i + b"x\0alpha\n" * (i % 3)
        )
    assert RG is not None
    for ours, theirs in (
        (["-c", "alpha"], ["--no-ignore", "--hidden", "-c", "alpha"]),  # binary files: quit
        (["-c", "--binary", "alpha"], ["-uuu", "-c", "alpha"]),  # -uuu implies --binary
        (["-c", "--binary", "-i", "-w", "ALPHA|beta"], ["-uuu", "-c", "-i", "-w", "ALPHA|beta"]),
    ):
        mine = vegafs.run("search", *ours, "tree", cwd=tmp_path)
        rg = subprocess.run([RG, *theirs, "tree"], cwd=tmp_path, capture_output=True, check=False)
        assert mine.returncode == rg.returncode == 0, (mine.stderr, rg.stderr)
        assert sorted(mine.stdout.splitlines()) == sorted(rg.stdout.splitlines()), theirs
        assert len(mine.stdout.splitlines()) > 10


def test_unreadable_directories_and_files_exit_2_after_printing_what_was_found(
    vegafs: Vegafs, locked_tree: Path, unprivileged: list[str]
) -> None:
    secret = locked_tree / "open" / "secret"
    secret.write_bytes(b"abc\n")
    secret.chmod(0)
    out = vegafs.run("search", "abc|123", "tree", cwd=locked_tree.parent, prefix=unprivileged)
    assert out.returncode == 2
    assert lines(out.stdout) == ["tree/open/f:1:abc", "tree/open/g:1:12345"]
    assert sorted(out.stderr.splitlines()) == [
        "vegafs: tree/locked: Permission denied (os error 13)",
        "vegafs: tree/open/secret: Permission denied (os error 13)",
    ]


def test_a_file_below_a_chain_deeper_than_path_max_is_searched(
    vegafs: Vegafs, tmp_path: Path
) -> None:
    bottom = deep_chain(tmp_path / "tree", 200)
    assert len(os.fsencode(bottom)) > 4096
    out = vegafs.run("search", "bottom", "tree", cwd=tmp_path)
    assert (out.returncode, out.stderr) == (0, "")
    assert out.stdout.decode() == f"tree/{NAME * 200}bottom.txt:1:bottom!\n"
    count = vegafs.run("search", "-c", "abc", "tree", cwd=tmp_path)
    assert len(count.stdout.splitlines()) == 4  # the sibling every 50 levels


def test_with_e_every_argument_is_a_path(vegafs: Vegafs, tmp_path: Path) -> None:
    text_tree(tmp_path / "tree")
    out = vegafs.run("search", "-e", "gamma", "tree/a.txt", "tree/sub", cwd=tmp_path)
    assert out.stdout.decode().splitlines() == ["tree/a.txt:4:gamma", "tree/sub/a-link.txt:4:gamma"]
    out = vegafs.run("search", "-c", "-e", "gamma", "tree/sub", cwd=tmp_path)
    assert out.stdout.decode() == "tree/sub/a-link.txt:1\n"


def test_a_search_job_pages_its_rows_and_counts_in_its_summary(
    stack: Stack, service_root: Path
) -> None:
    (service_root / "a" / "notes.txt").write_bytes(b"todo: one\nnothing\ntodo: two\n")
    (service_root / "todo.md").write_bytes(b"# todo\n")
    body: dict[str, Any] = {
        "operation": "search",
        "params": {"selection": {"roots": [str(service_root)]}, "patterns": ["todo"]},
    }
    with stack.client() as http:
        r = http.post("/jobs", json=body)
        assert r.status_code == 202, r.text
        job = r.json()
        done = stack.wait_job(http, job["id"], {"succeeded", "failed"})
        assert done["status"] == "succeeded", done
        summary = done["summary"]
        assert (summary["files_searched"], summary["files_matched"]) == (5, 2)
        assert (summary["matched_lines"], summary["error_count"]) == (3, 0)
        assert done["result_rows"] == 3
        first = http.get(f"/jobs/{job['id']}/results", params={"limit": 2}).json()
        rest = http.get(
            f"/jobs/{job['id']}/results", params={"limit": 2, "cursor": first["next_cursor"]}
        ).json()
        assert rest["next_cursor"] is None
        rows = sorted(
            (r["data"] for r in first["items"] + rest["items"]),
            key=lambda r: (r["path"], r["line_number"]),
        )
        notes = str(service_root / "a" / "notes.txt")
        assert rows == [
            {"type": "match", "path": notes, "line_number": 1, "byte_offset": 0,
             "line": "todo: one", "submatches": [[0, 4]]},
            {"type": "match", "path": notes, "line_number": 3, "byte_offset": 18,
             "line": "todo: two", "submatches": [[0, 4]]},
            {"type": "match", "path": str(service_root / "todo.md"), "line_number": 1,
             "byte_offset": 0, "line": "# todo", "submatches": [[2, 6]]},
        ]  # fmt: skip
        bad = http.post("/jobs", json={**body, "params": {**body["params"], "patterns": ["(x"]}})
        assert bad.status_code == 422
        assert bad.json()["errors"][0]["field"] == "params.patterns"

    local = ok(run(None, "search", "-c", "todo", str(service_root)))
    remote = run(stack, "search", "-c", "todo", str(service_root), "--submit", "--wait")
    assert remote.returncode == 0, remote.stderr
    assert sorted(remote.stdout.splitlines()) == sorted(local.splitlines())
    assert len(local.splitlines()) == 2
    submitted = run(stack, "jobs", "submit", "search", "todo", str(service_root), "--wait")
    assert submitted.returncode == 0, submitted.stderr

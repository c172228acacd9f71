"""The plugin's function on real files, compared with wc; no VegaFS run needed (VegaFS's own
tests run it as a command and as a job)."""

import os
import subprocess
from pathlib import Path

import pytest
from vegafs_textstats import TextStats, count, textstats

from vegafs.plugins import File, FileError


def as_file(path: Path, kind: str = "file") -> File:
    st = path.lstat()
    return File(os.fsdecode(path), kind, st.st_size, int(st.st_mtime))


def wc(path: Path) -> tuple[int, int, int, int]:
    """(lines, words, chars, bytes) as wc counts them in a UTF-8 locale."""
    out = subprocess.run(
        ["wc", "-l", "-w", "-m", "-c", str(path)],
        env={**os.environ, "LC_ALL": "C.UTF-8"},
        capture_output=True,
        check=True,
        timeout=30,
    ).stdout.split()
    lines, words, chars, size = (int(x) for x in out[:4])
    return lines, words, chars, size


@pytest.mark.parametrize(
    "content",
    [
        b"",
        b"one line without newline",
        b"two\nlines\n",
        b"  spaced \t out\n\n\nwords  \n",
        "caf\u00e9 na\u00efve \u65e5\u672c\u8a9e\n".encode(),
    ],
)
def test_counts_are_what_wc_counts(tmp_path: Path, content: bytes) -> None:
    path = tmp_path / "t.txt"
    path.write_bytes(content)
    counts = count(str(path))
    assert counts is not None
    assert (counts["lines"], counts["words"], counts["chars"], counts["bytes"]) == wc(path)


def test_a_word_across_the_read_boundary_counts_once(tmp_path: Path) -> None:
    path = tmp_path / "big.txt"
    # 1 MiB reads: a word straddles the first boundary, a space starts the third read.
    path.write_bytes(b"a" * (1 << 20) + b"bc def\n" + b"x" * ((1 << 20) - 7) + b" tail\n")
    assert count(str(path)) == {
        "lines": 2,
        "words": 4,
        "chars": (2 << 20) + 6,
        "bytes": (2 << 20) + 6,
    }
    assert wc(path)[:2] == (2, 4)


def test_binary_files_get_no_row_and_text_files_one(tmp_path: Path) -> None:
    (tmp_path / "bin").write_bytes(b"ELF\0\1\2" + b"x" * 100)
    (tmp_path / "late-nul.txt").write_bytes(b"y" * 9000 + b"\0")  # NUL after the first 8,000
    (tmp_path / "a.txt").write_bytes(b"hello world\n")
    files = [as_file(tmp_path / n) for n in ("bin", "late-nul.txt", "a.txt")]
    rows = list(textstats(files))
    assert rows == [
        {"path": str(tmp_path / "late-nul.txt"), "lines": 0, "words": 1, "chars": 9001,
         "bytes": 9001},
        {"path": str(tmp_path / "a.txt"), "lines": 1, "words": 2, "chars": 12, "bytes": 12},
    ]  # fmt: skip
    for row in rows:
        assert isinstance(row, dict)
        TextStats.model_validate(row)


def test_a_file_that_is_gone_is_a_file_error_and_the_batch_goes_on(tmp_path: Path) -> None:
    (tmp_path / "a.txt").write_bytes(b"x\n")
    gone = File(str(tmp_path / "gone.txt"), "file", 3, 0)
    rows = list(textstats([gone, as_file(tmp_path / "a.txt")]))
    assert rows == [
        FileError(str(tmp_path / "gone.txt"), "No such file or directory"),
        {"path": str(tmp_path / "a.txt"), "lines": 1, "words": 1, "chars": 2, "bytes": 2},
    ]


def test_symlinks_and_other_types_are_skipped(tmp_path: Path) -> None:
    (tmp_path / "a.txt").write_bytes(b"x\n")
    (tmp_path / "link").symlink_to("a.txt")
    os.mkfifo(tmp_path / "fifo")
    files = [as_file(tmp_path / "link", "symlink"), as_file(tmp_path / "fifo", "other")]
    assert list(textstats(files)) == []
    # Given as a file all the same, a symlink is not followed and a FIFO not read.
    with pytest.raises(OSError, match="Too many levels of symbolic links"):
        count(str(tmp_path / "link"))
    assert count(str(tmp_path / "fifo")) is None


def test_a_name_that_is_not_utf8_is_opened(tmp_path: Path) -> None:
    path = os.fsdecode(os.fsencode(tmp_path) + b"/caf\xe9.txt")  # as VegaFS passes it
    Path(path).write_bytes(b"one two\n")
    rows = list(textstats([File(path, "file", 8, 0)]))
    assert rows == [{"path": path, "lines": 1, "words": 2, "chars": 8, "bytes": 8}]

"""vegafs.engine.list_entries: rows streamed in batches from the core, on real trees."""

import os
import stat
import time
from pathlib import Path
from typing import Any

import pytest

from conftest import write
from vegafs import _native
from vegafs.engine import (
    CancelToken,
    EntryRow,
    ListSummary,
    RowStream,
    Selection,
    list_entries,
)
from vegafs.errors import Cancelled

BIG_DIRS = 20
BIG_FILES_EACH = 1_000
BIG_ENTRIES = 1 + BIG_DIRS + BIG_DIRS * BIG_FILES_EACH  # root, directories, files
# "Promptly", generously: a debug build on a shared, loaded machine.
DEADLINE_S = 20.0


def odd_name() -> str:
    """A name that is not UTF-8, as Python spells it (surrogate escape)."""
    return os.fsdecode(b"caf\xe9.txt")


@pytest.fixture
def small_tree(tmp_path: Path) -> Path:
    """a/ (1.txt 100 B, b/ (2.rs 2000 B, 2-again.rs: hard link)), empty/, link -> a/1.txt,
    caf\\xe9.txt (7 B)."""
    root = tmp_path / "tree"
    write(root / "a" / "1.txt", 100, mtime=1_600_000_000)
    write(root / "a" / "b" / "2.rs", 2000)
    os.link(root / "a" / "b" / "2.rs", root / "a" / "b" / "2-again.rs")
    (root / "empty").mkdir()
    (root / "link").symlink_to("a/1.txt")
    write(root / odd_name(), 7)
    return root


@pytest.fixture(scope="module")
def big_tree(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("big")
    for d in range(BIG_DIRS):
        directory = root / f"d{d:02}"
        directory.mkdir()
        for f in range(BIG_FILES_EACH):
            (directory / f"f{f:04}").touch()
    return root


def lstat_row(path: Path) -> dict[str, Any]:
    st = path.lstat()
    kind = (
        "file"
        if stat.S_ISREG(st.st_mode)
        else "dir"
        if stat.S_ISDIR(st.st_mode)
        else "symlink"
        if stat.S_ISLNK(st.st_mode)
        else "other"
    )
    return {"path": str(path), "type": kind, "size": st.st_size, "mtime": st.st_mtime_ns // 10**9}


def read_all(stream: RowStream) -> list[list[dict[str, Any]]]:
    return list(stream)


def test_rows_and_summary_are_exact(small_tree: Path) -> None:
    stream = list_entries(small_tree)
    rows = [row for batch in read_all(stream) for row in batch]
    for row in rows:
        EntryRow.model_validate(row)
    paths = [
        small_tree,
        small_tree / "a",
        small_tree / "a" / "1.txt",
        small_tree / "a" / "b",
        small_tree / "a" / "b" / "2.rs",
        small_tree / "a" / "b" / "2-again.rs",
        small_tree / "empty",
        small_tree / "link",
        small_tree / odd_name(),
    ]
    by_path = sorted(rows, key=lambda r: os.fsencode(r["path"]))
    assert by_path == sorted((lstat_row(p) for p in paths), key=lambda r: os.fsencode(r["path"]))
    assert {r["path"]: r["mtime"] for r in rows}[str(small_tree / "a" / "1.txt")] == 1_600_000_000
    summary = ListSummary.model_validate(stream.summary())
    assert summary.model_dump(exclude={"elapsed_s"}) == {
        "schema_version": 1,
        "roots": [str(small_tree)],
        "entries": 9,
        "files": 4,
        "dirs": 4,
        "symlinks": 1,
        "other": 0,
        "file_bytes": 100 + 2000 + 2000 + 7,
        "error_count": 0,
        "errors": [],
    }
    assert summary.elapsed_s >= 0
    assert next(stream, None) is None, "an ended stream stays ended"


def test_a_selection_filters_the_rows(small_tree: Path) -> None:
    stream = list_entries(Selection(roots=[small_tree], types=frozenset({"file"}), hidden=True))
    rows = [row for batch in stream for row in batch]
    assert sorted(r["path"] for r in rows) == sorted(
        str(p)
        for p in [
            small_tree / "a" / "1.txt",
            small_tree / "a" / "b" / "2.rs",
            small_tree / "a" / "b" / "2-again.rs",
            small_tree / odd_name(),
        ]
    )
    summary = stream.summary()
    assert (summary.entries, summary.files, summary.dirs) == (4, 4, 0)


def test_native_results_are_typed_objects(small_tree: Path) -> None:
    stream = list_entries(small_tree)
    read_all(stream)
    summary = stream.summary()
    assert type(summary).__name__ == "ListSummary"
    assert (summary.roots, summary.entries, summary.errors) == ([str(small_tree)], 9, [])
    selection = Selection(roots=[small_tree]).to_native()
    raw = _native.analyze(selection, top=1, max_errors=0, now=0)
    assert type(raw).__name__ == "Analysis"
    assert (raw.files, raw.dirs, raw.symlinks, raw.repeated_links) == (4, 4, 1, 1)
    assert (raw.file_bytes, raw.largest_files[0][1]) == (100 + 2000 + 7, 2000)
    assert (raw.unlisted_extensions, raw.errors) == ((0, 0), [])


def test_batches_hold_at_most_batch_size_rows(small_tree: Path) -> None:
    batches = read_all(list_entries(small_tree, batch_size=2))
    assert all(1 <= len(b) <= 2 for b in batches), [len(b) for b in batches]
    assert sum(len(b) for b in batches) == 9


def test_missing_root_raises_file_not_found_naming_it(tmp_path: Path) -> None:
    missing = tmp_path / "missing"
    stream = list_entries([missing])
    with pytest.raises(FileNotFoundError) as caught:
        next(stream)
    assert caught.value.filename == str(missing)
    with pytest.raises(FileNotFoundError):
        stream.summary()
    assert next(stream, None) is None


def test_summary_before_the_end_is_an_error(small_tree: Path) -> None:
    with list_entries(small_tree, batch_size=1) as stream:
        next(stream)
        with pytest.raises(RuntimeError, match="not finished"):
            stream.summary()


def test_bad_arguments_are_refused(small_tree: Path) -> None:
    with pytest.raises(ValueError, match="batch_size"):
        list_entries(small_tree, batch_size=0)
    with pytest.raises(ValueError, match="max_errors"):
        list_entries(small_tree, max_errors=-1)


def test_cancel_mid_stream_raises_cancelled(big_tree: Path) -> None:
    token = CancelToken()
    stream = list_entries(big_tree, batch_size=100, cancel=token)
    assert len(next(stream)) == 100
    token.cancel()
    started = time.monotonic()
    with pytest.raises(Cancelled):
        for _ in stream:
            pass
    assert time.monotonic() - started < DEADLINE_S
    with pytest.raises(Cancelled):
        stream.summary()


def test_closing_early_returns_promptly_and_leaves_the_token_alone(big_tree: Path) -> None:
    token = CancelToken()
    stream = list_entries(big_tree, batch_size=16, cancel=token)
    assert len(next(stream)) == 16
    started = time.monotonic()
    stream.close()
    assert time.monotonic() - started < DEADLINE_S
    assert next(stream, None) is None
    with pytest.raises(RuntimeError, match="closed"):
        stream.summary()
    assert not token.cancelled, "closing a stream does not cancel the caller's token"
    stream.close()  # closing twice is harmless


def test_leaving_a_with_block_or_dropping_the_stream_stops_the_walk(big_tree: Path) -> None:
    started = time.monotonic()
    with list_entries(big_tree, batch_size=16) as stream:
        for batch in stream:
            assert len(batch) == 16
            break
    dropped = list_entries(big_tree, batch_size=16)
    next(dropped)
    del dropped
    assert time.monotonic() - started < DEADLINE_S


def test_a_slow_consumer_gets_every_row(big_tree: Path) -> None:
    stream = list_entries(big_tree, batch_size=64)
    count = 0
    paths: set[str] = set()
    for i, batch in enumerate(stream):
        assert len(batch) <= 64
        count += len(batch)
        paths.update(r["path"] for r in batch)
        if i % 4 == 0:
            time.sleep(0.002)
    assert count == len(paths) == BIG_ENTRIES
    summary = ListSummary.model_validate(stream.summary())
    assert (summary.entries, summary.files, summary.dirs) == (
        BIG_ENTRIES,
        BIG_DIRS * BIG_FILES_EACH,
        BIG_DIRS + 1,
    )
    assert summary.file_bytes == 0

"""vegafs.analyze and vegafs.Selection on real trees, checked against find, du and the spec."""

import json
import os
import subprocess
import sys
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pydantic
import pytest

from conftest import MIB, SUBPROCESS_TIMEOUT, SampleTree, du_bytes, find_count, write
from vegafs import (
    AnalyzeResult,
    Cancelled,
    CancelToken,
    Progress,
    Selection,
    SelectionError,
    analyze,
)
from vegafs.engine.analysis import AgeBucket, ExtensionRow, KindRow, OwnerRow, PathSize, SizeBucket

NOW = 1_700_000_000  # 2023-11-14T22:13:20Z
DAY = 86_400


def without_elapsed(result: AnalyzeResult) -> dict[str, Any]:
    dumped = result.model_dump()
    del dumped["elapsed_s"]
    return dumped


def first_listed_not_smallest(directory: Path, make: Callable[[Path], object]) -> None:
    """Adds entries (``make(path)``, names after every existing one) until the directory's
    listing order (getdents: what the walker sees) does not start with its smallest name, so
    that 'first seen' and 'smallest path' differ on any file system (ext4 orders by name hash,
    tmpfs lists newest first...)."""
    for i in range(200):
        names = [p.name for p in directory.iterdir()]
        if names[0] != min(names):
            return
        make(directory / f"zz{i:03d}")
    pytest.skip("this file system lists names in sorted order")


# --- counts against find and du ----------------------------------------------------------


def test_counts_match_find_and_du_on_a_tree_with_every_kind_of_entry(
    sample_tree: SampleTree,
) -> None:
    r = analyze(sample_tree.root)
    assert (r.files, r.dirs, r.symlinks, r.other) == (6, 5, 2, 1)
    assert r.files == sample_tree.files
    assert r.dirs == sample_tree.dirs
    assert r.symlinks == sample_tree.symlinks
    assert r.other == sample_tree.other
    assert r.apparent_bytes == sample_tree.apparent_bytes
    assert r.disk_bytes == sample_tree.disk_bytes
    assert r.repeated_links == 1
    # Regular files, the hard-linked inode counted once.
    assert r.file_bytes == 100 + 2000 + 30_000 + 4000 + 10 * MIB
    assert r.error_count == 0
    assert r.errors == []
    assert r.roots == [str(sample_tree.root)]


def test_sparse_file_is_largest_by_apparent_size_but_small_on_disk(
    sample_tree: SampleTree,
) -> None:
    r = analyze(sample_tree.root, top=3)
    assert r.largest_files == [
        PathSize(path=str(sample_tree.sparse), bytes=10 * MIB),
        PathSize(path=str(sample_tree.root / "a" / "b" / "c" / "three.bin"), bytes=30_000),
        # hard1 and hard2 are one inode: listed once, under whichever name was seen first.
        PathSize(path=r.largest_files[2].path, bytes=4000),
    ]
    assert r.largest_files[2].path in {
        str(sample_tree.root / "a" / "b" / "c" / "hard1"),
        str(sample_tree.root / "a" / "hard2"),
    }
    assert r.apparent_bytes > 10 * MIB
    assert r.disk_bytes < MIB  # the 10 MiB hole takes no blocks
    assert r.disk_bytes == sample_tree.disk_bytes


def test_hard_links_are_each_an_entry_but_their_bytes_count_once(tmp_path: Path) -> None:
    write(tmp_path / "f", 1000)
    os.link(tmp_path / "f", tmp_path / "g")
    os.link(tmp_path / "f", tmp_path / "h")
    r = analyze(tmp_path)
    assert r.files == 3
    assert r.repeated_links == 2
    assert r.file_bytes == 1000
    assert r.size_histogram == [SizeBucket(min_bytes=512, max_bytes=1024, files=3, bytes=1000)]
    assert r.by_extension == [ExtensionRow(extension="", kind="other", files=3, bytes=1000)]


def test_a_file_given_as_root_is_one_entry(tmp_path: Path) -> None:
    f = write(tmp_path / "only.csv", 77)
    r = analyze(f)
    assert (r.files, r.dirs, r.symlinks, r.other) == (1, 0, 0, 0)
    assert r.apparent_bytes == 77
    assert r.largest_files == [PathSize(path=str(f), bytes=77)]
    assert r.largest_dirs == []


def test_roots_may_be_given_as_str_path_or_list(tmp_path: Path) -> None:
    write(tmp_path / "a" / "x", 5)
    write(tmp_path / "b" / "y", 6)
    assert analyze(str(tmp_path / "a")).files == 1
    assert analyze(tmp_path / "b").file_bytes == 6
    both = analyze([tmp_path / "a", str(tmp_path / "b")])
    assert (both.files, both.dirs, both.file_bytes) == (2, 2, 11)
    assert both.roots == [str(tmp_path / "a"), str(tmp_path / "b")]


def test_progress_counts_every_entry_listed_and_every_directory_walked(
    sample_tree: SampleTree,
) -> None:
    progress = Progress()
    r = analyze(sample_tree.root, progress=progress)
    entries, dirs, size, errors = progress.snapshot()
    assert entries == r.files + r.dirs + r.symlinks + r.other  # the root included
    assert size == r.apparent_bytes
    assert dirs == r.dirs
    assert errors == 0


# --- tables ---------------------------------------------------------------------------------


@pytest.fixture
def kinds_tree(tmp_path: Path) -> Path:
    write(tmp_path / "a.py", 10)
    write(tmp_path / "b.PY", 20)
    write(tmp_path / "c.tar.gz", 300)
    write(tmp_path / ".bashrc", 4)
    write(tmp_path / "README", 5)
    write(tmp_path / "empty.dat", 0)
    return tmp_path


def test_extensions_are_lower_cased_last_suffixes_most_bytes_first(kinds_tree: Path) -> None:
    r = analyze(kinds_tree)
    assert r.by_extension == [
        ExtensionRow(extension="gz", kind="archive", files=1, bytes=300),
        ExtensionRow(extension="py", kind="code", files=2, bytes=30),
        ExtensionRow(extension="", kind="other", files=2, bytes=9),
        ExtensionRow(extension="dat", kind="data", files=1, bytes=0),
    ]
    assert sum(row.bytes for row in r.by_extension) == r.file_bytes == 339


def test_kinds_list_every_kind_in_fixed_order_with_zero_rows(kinds_tree: Path) -> None:
    r = analyze(kinds_tree)
    counts = {"code": (2, 30), "archive": (1, 300), "data": (1, 0), "other": (2, 9)}
    assert r.by_kind == [
        KindRow(kind=k, files=counts.get(k, (0, 0))[0], bytes=counts.get(k, (0, 0))[1])
        for k in (
            "text", "code", "image", "audio", "video", "archive", "document", "data", "binary",
            "other",
        )
    ]  # fmt: skip
    assert sum(row.bytes for row in r.by_kind) == r.file_bytes


def test_size_histogram_has_power_of_two_buckets_and_counts_every_file(kinds_tree: Path) -> None:
    r = analyze(kinds_tree)
    assert r.size_histogram == [
        SizeBucket(min_bytes=0, max_bytes=1, files=1, bytes=0),
        SizeBucket(min_bytes=4, max_bytes=8, files=2, bytes=9),
        SizeBucket(min_bytes=8, max_bytes=16, files=1, bytes=10),
        SizeBucket(min_bytes=16, max_bytes=32, files=1, bytes=20),
        SizeBucket(min_bytes=256, max_bytes=512, files=1, bytes=300),
    ]
    assert sum(b.files for b in r.size_histogram) == r.files == 6


def test_owners_table_names_the_user(kinds_tree: Path) -> None:
    import pwd

    r = analyze(kinds_tree)
    uid = os.getuid()
    assert r.by_owner == [
        OwnerRow(uid=uid, user=pwd.getpwuid(uid).pw_name, files=6, bytes=339),
    ]


def test_age_histogram_buckets_by_mtime_against_a_pinned_now(tmp_path: Path) -> None:
    write(tmp_path / "hour", 1, NOW - 3600)
    write(tmp_path / "almost-day", 2, NOW - DAY + 1)
    write(tmp_path / "future", 4, NOW + 10 * DAY)  # dated in the future: less than a day old
    write(tmp_path / "day", 8, NOW - DAY)  # exactly a day: the next bucket
    write(tmp_path / "days", 16, NOW - 3 * DAY)
    write(tmp_path / "weeks", 32, NOW - 20 * DAY)
    write(tmp_path / "months", 64, NOW - 100 * DAY)
    write(tmp_path / "years", 128, NOW - 400 * DAY)
    write(tmp_path / "epoch", 256, 0)
    r = analyze(tmp_path, now=NOW)
    assert r.now == NOW
    assert r.age_histogram == [
        AgeBucket(bucket="<1d", max_age_s=DAY, files=3, bytes=7),
        AgeBucket(bucket="<1w", max_age_s=7 * DAY, files=2, bytes=24),
        AgeBucket(bucket="<1mo", max_age_s=30 * DAY, files=1, bytes=32),
        AgeBucket(bucket="<1y", max_age_s=365 * DAY, files=1, bytes=64),
        AgeBucket(bucket="older", max_age_s=None, files=2, bytes=384),
    ]


def test_now_may_be_a_datetime(tmp_path: Path) -> None:
    write(tmp_path / "f", 3, NOW - 2 * DAY)
    r = analyze(tmp_path, now=datetime.fromtimestamp(NOW, UTC))
    assert r.now == NOW
    assert [(b.bucket, b.files) for b in r.age_histogram if b.files] == [("<1w", 1)]


@pytest.fixture
def sized_dirs(tmp_path: Path) -> Path:
    root = tmp_path / "root"
    write(root / "big" / "f", 50_000)
    write(root / "big" / "sub" / "g", 20_000)
    write(root / "mid" / "f", 30_000)
    write(root / "small" / "f", 10)
    write(root / "top-level", 45_000)
    return root


def test_largest_files_keeps_the_top_n_biggest_first(sized_dirs: Path) -> None:
    r = analyze(sized_dirs, top=2)
    assert r.largest_files == [
        PathSize(path=str(sized_dirs / "big" / "f"), bytes=50_000),
        PathSize(path=str(sized_dirs / "top-level"), bytes=45_000),
    ]


def test_largest_dirs_are_recursive_apparent_sizes_like_du_and_leave_the_root_out(
    sized_dirs: Path,
) -> None:
    r = analyze(sized_dirs, top=2)
    big, mid = sized_dirs / "big", sized_dirs / "mid"
    assert r.largest_dirs == [
        PathSize(path=str(big), bytes=du_bytes(big, "-b")),
        PathSize(path=str(mid), bytes=du_bytes(mid, "-b")),
    ]
    # Its own st_size, its file, its subdirectory (own size + file).
    assert r.largest_dirs[0].bytes == (
        big.stat().st_size + 50_000 + (big / "sub").stat().st_size + 20_000
    )
    everything = analyze(sized_dirs, top=100)
    assert str(sized_dirs) not in {d.path for d in everything.largest_dirs}
    assert {d.path: d.bytes for d in everything.largest_dirs} == {
        str(d): du_bytes(d, "-b") for d in (big, big / "sub", mid, sized_dirs / "small")
    }


def test_top_zero_lists_nothing(sized_dirs: Path) -> None:
    r = analyze(sized_dirs, top=0)
    assert (r.largest_files, r.largest_dirs) == ([], [])
    assert r.files == 5


def test_negative_top_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="top and max_errors must be >= 0"):
        analyze(tmp_path, top=-1)


def test_largest_files_ties_at_the_cut_keep_the_smallest_paths(tmp_path: Path) -> None:
    for i in range(39, -1, -1):
        write(tmp_path / f"f{i:02d}", 100)
    first_listed_not_smallest(tmp_path, lambda p: write(p, 100))
    r = analyze(tmp_path, top=2)
    assert r.largest_files == [
        PathSize(path=str(tmp_path / "f00"), bytes=100),
        PathSize(path=str(tmp_path / "f01"), bytes=100),
    ]


# --- merge ----------------------------------------------------------------------------------


@pytest.fixture
def two_trees(tmp_path: Path) -> tuple[Path, Path]:
    a, b = tmp_path / "A", tmp_path / "B"
    write(a / "x.py", 1200, NOW - 3600)
    write(a / "d" / "y.txt", 340, NOW - 10 * DAY)
    write(a / "d" / "e" / "z.bin", 56_789, NOW - 400 * DAY)
    write(a / "noext", 3)
    (a / "emptydir").mkdir()
    (a / "ln").symlink_to("x.py")
    write(b / "p.py", 7777, NOW - 2 * DAY)
    write(b / "q" / "r.tar.gz", 123_456, NOW - 40 * DAY)
    write(b / "q" / "s.txt", 0, NOW)
    os.mkfifo(b / "pipe")
    return a, b


def test_merge_of_disjoint_trees_equals_one_analysis_of_both(two_trees: tuple[Path, Path]) -> None:
    a, b = two_trees
    merged = analyze(a, now=NOW, top=3).merge(analyze(b, now=NOW, top=3))
    together = analyze(Selection(roots=[a, b]), now=NOW, top=3)
    assert together.files == 7
    assert without_elapsed(merged) == without_elapsed(together)


def test_merging_analyses_with_different_now_is_refused(two_trees: tuple[Path, Path]) -> None:
    a, b = two_trees
    with pytest.raises(ValueError, match=f"different now: {NOW}, {NOW + 1}"):
        analyze(a, now=NOW).merge(analyze(b, now=NOW + 1))


def test_merge_orders_errors_like_one_analysis_of_both(tmp_path: Path) -> None:
    a, b = tmp_path / "A", tmp_path / "B"
    (a / "a").mkdir(parents=True)
    (a / "a-b").symlink_to(".")  # a loop: A/a-b -> A
    (a / "a" / "b").symlink_to("..")  # a loop: A/a/b -> A
    write(b / "f", 1)
    merged = analyze(Selection(roots=[a], follow_symlinks=True), now=NOW).merge(
        analyze(Selection(roots=[b], follow_symlinks=True), now=NOW)
    )
    together = analyze(Selection(roots=[a, b], follow_symlinks=True), now=NOW)
    assert together.error_count == merged.error_count == 2
    assert merged.errors == together.errors


# --- Selection filters ----------------------------------------------------------------------


@pytest.fixture
def filter_tree(tmp_path: Path) -> Path:
    """9 files, 4 dirs (root, src, build, .cache), 1 symlink; mtimes: src/* an hour before NOW,
    everything else 30 days before."""
    root = tmp_path / "root"
    old, recent = NOW - 30 * DAY, NOW - 3600
    write(root / ".gitignore", 0, old).write_text("build/\n*.json\n")
    os.utime(root / ".gitignore", (old, old))
    write(root / "top.py", 11, old)
    write(root / "notes.txt", 22, old)
    write(root / "src" / "main.py", 333, recent)
    write(root / "src" / "util.py", 44, recent)
    write(root / "src" / "data.json", 5, recent)
    write(root / "build" / "out.py", 66, old)
    write(root / ".hidden.py", 7, old)
    write(root / ".cache" / "c.py", 8, old)
    (root / "link").symlink_to("top.py")
    os.utime(root / "link", (old, old), follow_symlinks=False)
    return root


ALL_FILE_BYTES = 14 + 11 + 22 + 333 + 44 + 5 + 66 + 7 + 8


def counts(r: AnalyzeResult) -> tuple[int, int, int, int, int]:
    return r.files, r.dirs, r.symlinks, r.other, r.file_bytes


def test_filter_tree_without_filters(filter_tree: Path) -> None:
    r = analyze(filter_tree)
    assert counts(r) == (9, 4, 1, 0, ALL_FILE_BYTES)
    assert r.files == find_count(filter_tree, "f")
    assert r.dirs == find_count(filter_tree, "d")


def test_include_name_glob_matches_names_at_any_depth_and_dirs_are_still_walked(
    filter_tree: Path,
) -> None:
    r = analyze(Selection(roots=[filter_tree], include=["*.py"]))
    assert counts(r) == (6, 4, 0, 0, 11 + 333 + 44 + 66 + 7 + 8)


def test_include_glob_with_slash_matches_the_path_below_the_root(filter_tree: Path) -> None:
    r = analyze(Selection(roots=[filter_tree], include=["src/*.py"]))
    assert counts(r) == (2, 4, 0, 0, 333 + 44)
    assert [p.path for p in r.largest_files] == [
        str(filter_tree / "src" / "main.py"),
        str(filter_tree / "src" / "util.py"),
    ]


def test_several_include_globs_match_any(filter_tree: Path) -> None:
    r = analyze(Selection(roots=[filter_tree], include=["src/*.py", "notes.txt", "link"]))
    assert counts(r) == (3, 4, 1, 0, 333 + 44 + 22)


def test_exclude_prunes_a_directory_and_its_contents(filter_tree: Path) -> None:
    r = analyze(Selection(roots=[filter_tree], exclude=["build"]))
    assert counts(r) == (8, 3, 1, 0, ALL_FILE_BYTES - 66)
    assert str(filter_tree / "build") not in {d.path for d in r.largest_dirs}


def test_exclude_glob_removes_matching_files(filter_tree: Path) -> None:
    r = analyze(Selection(roots=[filter_tree], exclude=["*.py"]))
    assert counts(r) == (3, 4, 1, 0, 14 + 22 + 5)


def test_path_regex_is_searched_in_the_whole_path(filter_tree: Path) -> None:
    r = analyze(Selection(roots=[filter_tree], path_regex=r"/src/[^/]*\.py$"))
    assert counts(r) == (2, 4, 0, 0, 333 + 44)


def test_path_regex_is_searched_not_anchored(filter_tree: Path) -> None:
    r = analyze(Selection(roots=[filter_tree], path_regex="ai"))
    assert [p.path for p in r.largest_files] == [str(filter_tree / "src" / "main.py")]
    assert counts(r) == (1, 4, 0, 0, 333)


def test_types_file_reports_only_regular_files(filter_tree: Path) -> None:
    r = analyze(Selection(roots=[filter_tree], types={"file"}))
    assert counts(r) == (9, 0, 0, 0, ALL_FILE_BYTES)
    assert r.apparent_bytes == ALL_FILE_BYTES


def test_types_symlink_reports_only_symlinks(filter_tree: Path) -> None:
    r = analyze(Selection(roots=[filter_tree], types={"symlink"}))
    assert counts(r) == (0, 0, 1, 0, 0)
    assert r.apparent_bytes == len("top.py")


def test_size_bounds_are_inclusive(filter_tree: Path) -> None:
    r = analyze(Selection(roots=[filter_tree], min_size=22, max_size=333))
    assert counts(r) == (4, 4, 0, 0, 22 + 333 + 44 + 66)


def test_newer_than_keeps_mtimes_at_or_after_the_bound(filter_tree: Path) -> None:
    sel = Selection(roots=[filter_tree], newer_than=datetime.fromtimestamp(NOW - 3600, UTC))
    r = analyze(sel)
    assert counts(r) == (3, 4, 0, 0, 333 + 44 + 5)


def test_older_than_keeps_mtimes_before_the_bound(filter_tree: Path) -> None:
    sel = Selection(roots=[filter_tree], older_than=datetime.fromtimestamp(NOW - 3600, UTC))
    r = analyze(sel)
    assert counts(r) == (6, 4, 1, 0, 14 + 11 + 22 + 66 + 7 + 8)


def test_hidden_false_skips_dot_files_and_dot_directories(filter_tree: Path) -> None:
    r = analyze(Selection(roots=[filter_tree], hidden=False))
    assert counts(r) == (6, 3, 1, 0, 11 + 22 + 333 + 44 + 5 + 66)


def test_max_depth_one_visits_only_the_roots_direct_entries(filter_tree: Path) -> None:
    r = analyze(Selection(roots=[filter_tree], max_depth=1))
    # .gitignore, top.py, notes.txt, .hidden.py; src, build, .cache counted but not walked.
    assert counts(r) == (4, 4, 1, 0, 14 + 11 + 22 + 7)


def test_max_depth_zero_visits_only_the_roots(filter_tree: Path) -> None:
    r = analyze(Selection(roots=[filter_tree], max_depth=0))
    assert counts(r) == (0, 1, 0, 0, 0)


def test_ignore_files_are_off_by_default(filter_tree: Path) -> None:
    assert analyze(Selection(roots=[filter_tree])).files == 9


def test_ignore_files_honours_gitignore(filter_tree: Path) -> None:
    r = analyze(Selection(roots=[filter_tree], ignore_files=True))
    # build/ and *.json are ignored; the .gitignore itself is counted.
    assert counts(r) == (7, 3, 1, 0, ALL_FILE_BYTES - 66 - 5)


def test_a_deeper_ignore_file_reincludes_with_bang(filter_tree: Path) -> None:
    (filter_tree / "src" / ".ignore").write_text("!data.json\nutil.py\n")
    r = analyze(Selection(roots=[filter_tree], ignore_files=True))
    # src/.ignore is a new file; data.json comes back, util.py goes.
    assert counts(r) == (8, 3, 1, 0, ALL_FILE_BYTES - 66 - 44 + len("!data.json\nutil.py\n"))


def test_follow_symlinks_reports_a_loop_once_and_walks_nothing_twice(tmp_path: Path) -> None:
    root = tmp_path / "root"
    write(root / "a" / "f", 5)
    write(root / "b" / "g", 7)
    (root / "a" / "link").symlink_to("..")
    r = analyze(Selection(roots=[root], follow_symlinks=True))
    assert counts(r) == (2, 3, 0, 0, 12)
    assert r.error_count == 1
    assert [(e.path, e.kind) for e in r.errors] == [(str(root / "a" / "link"), "loop")]


def test_follow_symlinks_walks_a_directory_reached_twice_only_once(tmp_path: Path) -> None:
    root = tmp_path / "root"
    write(root / "real" / "f", 5)
    write(root / "real" / "deeper" / "g", 7)
    (root / "alias").symlink_to("real")
    r = analyze(Selection(roots=[root], follow_symlinks=True))
    # alias is a directory entry (counted) but what it leads to is walked once.
    assert counts(r) == (2, 4, 0, 0, 5 + 7)
    assert r.error_count == 0


def test_follow_symlinks_reports_a_link_to_a_file_as_a_file(tmp_path: Path) -> None:
    write(tmp_path / "outside" / "f.txt", 5)
    (tmp_path / "root").mkdir()
    (tmp_path / "root" / "link").symlink_to("../outside/f.txt")
    r = analyze(Selection(roots=[tmp_path / "root"], follow_symlinks=True))
    assert counts(r) == (1, 1, 0, 0, 5)
    assert r.by_extension == [ExtensionRow(extension="", kind="other", files=1, bytes=5)]


def test_follow_symlinks_counts_a_file_reached_twice_twice_as_documented(tmp_path: Path) -> None:
    """docs/cli.md: a file reached through a symlink and by its own path counts twice unless
    it has more than one hard link (only multiply-linked inodes are remembered)."""
    write(tmp_path / "f", 5)
    (tmp_path / "alias").symlink_to("f")
    r = analyze(Selection(roots=[tmp_path], follow_symlinks=True))
    assert counts(r) == (2, 1, 0, 0, 10)
    assert r.repeated_links == 0
    os.link(tmp_path / "f", tmp_path / "g")  # now st_nlink == 2: counted once
    r = analyze(Selection(roots=[tmp_path], follow_symlinks=True))
    assert counts(r) == (3, 1, 0, 0, 5)
    assert r.repeated_links == 2


def test_follow_symlinks_keeps_a_dangling_link_a_symlink(tmp_path: Path) -> None:
    (tmp_path / "dangling").symlink_to("nowhere")
    r = analyze(Selection(roots=[tmp_path], follow_symlinks=True))
    assert counts(r) == (0, 1, 1, 0, 0)


def test_without_follow_a_symlink_to_a_directory_is_not_walked(tmp_path: Path) -> None:
    write(tmp_path / "real" / "f", 5)
    (tmp_path / "alias").symlink_to("real")
    r = analyze(tmp_path)
    assert counts(r) == (1, 2, 1, 0, 5)


# --- bad input ------------------------------------------------------------------------------


def test_missing_root_raises_file_not_found_naming_it(tmp_path: Path) -> None:
    missing = tmp_path / "missing"
    with pytest.raises(FileNotFoundError) as info:
        analyze(missing)
    assert info.value.filename == str(missing)
    assert info.value.errno == 2


def test_bad_glob_raises_selection_error_naming_include(tmp_path: Path) -> None:
    with pytest.raises(SelectionError) as info:
        analyze(Selection(roots=[tmp_path], include=["a["]))
    assert info.value.field == "include"
    assert str(info.value).startswith('invalid include: "a["')
    assert isinstance(info.value, ValueError)


def test_bad_exclude_glob_names_exclude(tmp_path: Path) -> None:
    with pytest.raises(SelectionError) as info:
        analyze(Selection(roots=[tmp_path], exclude=["{a"]))
    assert info.value.field == "exclude"


def test_bad_regex_raises_selection_error_naming_path_regex(tmp_path: Path) -> None:
    with pytest.raises(SelectionError) as info:
        analyze(Selection(roots=[tmp_path], path_regex="(unclosed"))
    assert info.value.field == "path_regex"


def test_min_size_above_max_size_raises_selection_error(tmp_path: Path) -> None:
    with pytest.raises(SelectionError, match="10 is larger than max_size 9") as info:
        analyze(Selection(roots=[tmp_path], min_size=10, max_size=9))
    assert info.value.field == "min_size"


def test_empty_time_range_raises_selection_error(tmp_path: Path) -> None:
    t = datetime.fromtimestamp(NOW, UTC)
    with pytest.raises(SelectionError) as info:
        analyze(Selection(roots=[tmp_path], newer_than=t, older_than=t))
    assert info.value.field == "newer_than"


def test_size_beyond_u64_is_refused_as_a_selection_error(tmp_path: Path) -> None:
    with pytest.raises((SelectionError, pydantic.ValidationError), match="min_size"):
        analyze(Selection(roots=[tmp_path], min_size=2**64))


def test_selection_refuses_unknown_fields_no_roots_and_negative_sizes(tmp_path: Path) -> None:
    with pytest.raises(pydantic.ValidationError, match="extra_forbidden"):
        Selection.model_validate({"roots": [tmp_path], "colour": "blue"})
    with pytest.raises(pydantic.ValidationError, match="roots"):
        Selection(roots=[])
    with pytest.raises(pydantic.ValidationError, match="min_size"):
        Selection(roots=[tmp_path], min_size=-1)


# --- names, threads, permissions, cancel ----------------------------------------------------


def test_non_utf8_name_is_counted_and_round_trips_to_its_bytes(tmp_path: Path) -> None:
    raw = os.fsencode(tmp_path) + b"/caf\xe9.txt"
    fd = os.open(raw, os.O_WRONLY | os.O_CREAT, 0o644)
    os.write(fd, b"c" * 5000)
    os.close(fd)
    write(tmp_path / "small.txt", 10)
    r = analyze(tmp_path)
    assert r.files == 2
    assert r.file_bytes == 5010
    assert r.by_extension == [ExtensionRow(extension="txt", kind="text", files=2, bytes=5010)]
    assert os.fsencode(r.largest_files[0].path) == raw
    assert r.largest_files[0].bytes == 5000


def test_non_utf8_extensions_stay_distinct_rows(tmp_path: Path) -> None:
    for name in (b"a.\xe9", b"b.\xe8"):
        fd = os.open(os.fsencode(tmp_path) + b"/" + name, os.O_WRONLY | os.O_CREAT, 0o644)
        os.write(fd, b"abc")
        os.close(fd)
    r = analyze(tmp_path)
    keys = [row.extension for row in r.by_extension]
    assert sum(row.files for row in r.by_extension) == 2
    assert len(keys) == len(set(keys)) == 2


def test_two_threads_analyze_two_trees_at_once_exactly(tmp_path: Path) -> None:
    one, two = tmp_path / "one", tmp_path / "two"
    for i in range(300):
        write(one / f"f{i:03d}.txt", 100)
    for d in range(40):
        for i in range(3):
            write(two / f"d{d:02d}" / f"g{i}.bin", 7)
    with ThreadPoolExecutor(max_workers=2) as pool:
        jobs = [pool.submit(analyze, root) for root in (one, two, one, two)]
        results = [j.result(timeout=SUBPROCESS_TIMEOUT) for j in jobs]
    for r in results[0::2]:
        assert counts(r) == (300, 1, 0, 0, 30_000)
    for r in results[1::2]:
        assert counts(r) == (120, 41, 0, 0, 840)


def test_unreadable_directory_is_one_permission_denied_error_and_the_rest_is_counted(
    locked_tree: Path, unprivileged: list[str]
) -> None:
    script = (
        "import sys; from vegafs import analyze; "
        "sys.stdout.write(analyze(sys.argv[1]).model_dump_json())"
    )
    done = subprocess.run(
        [*unprivileged, sys.executable, "-c", script, str(locked_tree)],
        capture_output=True,
        timeout=SUBPROCESS_TIMEOUT,
        check=False,
    )
    assert done.returncode == 0, done.stderr.decode()
    r = AnalyzeResult.model_validate(json.loads(done.stdout))
    assert r.error_count == 1
    assert len(r.errors) == 1
    assert r.errors[0].kind == "permission_denied"
    assert r.errors[0].path == str(locked_tree / "locked")
    assert "Permission denied" in r.errors[0].error
    # open/f, open/g; the locked dir is an entry (its parent lists it), its file is not seen.
    assert counts(r) == (2, 3, 0, 0, 8)


def test_error_list_is_capped_by_max_errors_and_all_errors_are_counted(tmp_path: Path) -> None:
    for i in range(5):
        (tmp_path / f"l{i}").symlink_to(".")
    r = analyze(Selection(roots=[tmp_path], follow_symlinks=True), max_errors=2)
    assert r.error_count == 5
    assert len(r.errors) == 2
    assert {e.kind for e in r.errors} == {"loop"}
    r0 = analyze(Selection(roots=[tmp_path], follow_symlinks=True), max_errors=0)
    assert (r0.error_count, r0.errors) == (5, [])


def test_capped_error_list_keeps_the_first_errors_by_path(tmp_path: Path) -> None:
    for i in range(19, -1, -1):
        (tmp_path / f"l{i:02d}").symlink_to(".")
    first_listed_not_smallest(tmp_path, lambda p: p.symlink_to("."))
    r = analyze(Selection(roots=[tmp_path], follow_symlinks=True), max_errors=1)
    assert r.error_count == len(list(tmp_path.iterdir()))
    assert [e.path for e in r.errors] == [str(tmp_path / "l00")]


def test_cancelled_token_raises_cancelled(sample_tree: SampleTree) -> None:
    token = CancelToken()
    token.cancel()
    assert token.cancelled
    with pytest.raises(Cancelled):
        analyze(sample_tree.root, cancel=token)


def test_an_unused_token_does_not_cancel(sample_tree: SampleTree) -> None:
    token = CancelToken()
    r = analyze(sample_tree.root, cancel=token)
    assert r.files == sample_tree.files
    assert not token.cancelled


def test_extensions_past_the_table_size_are_counted_unlisted_in_merge_too(
    tmp_path: Path,
) -> None:
    from vegafs.engine.analysis import MAX_EXTENSIONS

    half = MAX_EXTENSIONS // 2 + 1000
    for side, offset in (("a", 0), ("b", half)):
        (tmp_path / side).mkdir()
        for i in range(half):
            (tmp_path / side / f"f.x{offset + i:06}").write_bytes(b"ab")
    merged = analyze(tmp_path / "a", now=0).merge(analyze(tmp_path / "b", now=0))
    both = analyze([tmp_path / "a", tmp_path / "b"], now=0)
    for r in (merged, both):
        assert len(r.by_extension) == MAX_EXTENSIONS
        assert (r.unlisted_extensions.files, r.unlisted_extensions.bytes) == (2000, 4000)
        assert sum(e.files for e in r.by_extension) + 2000 == r.files == 2 * half
        assert [k.files for k in r.by_kind if k.kind == "other"] == [2 * half]
    # Equal bytes everywhere: the merge keeps the smallest extensions.
    assert merged.by_extension[-1].extension == f"x{MAX_EXTENSIONS - 1:06}"


def test_one_file_system_does_not_walk_into_other_mounts() -> None:
    # /dev/pts is its own file system (devpts) under /dev wherever a terminal can be opened.
    pts = Path("/dev/pts")
    if not (pts / "ptmx").exists() or Path("/dev").stat().st_dev == pts.stat().st_dev:
        pytest.skip("/dev/pts is not a separate file system here")
    below_pts = Selection(roots=[Path("/dev")], path_regex="^/dev/pts/", max_depth=2)
    walked = analyze(below_pts)
    assert walked.other >= 1  # /dev/pts/ptmx at least
    kept_out = analyze(below_pts.model_copy(update={"one_file_system": True}))
    assert (kept_out.files, kept_out.symlinks, kept_out.other) == (0, 0, 0)

"""The walker opens everything relative to its parent's handle: depth past PATH_MAX, roots
opened beneath the service's roots, ignore files never read through a symlink."""

import os
from pathlib import Path

import pytest

from conftest import Vegafs, du_bytes, find_count
from vegafs import Selection, analyze
from vegafs.errors import PathNotAllowed

NAME = "d" * 29 + "/"  # 30 bytes a level, with the slash


def deep_chain(root: Path, levels: int) -> Path:
    """root/ddd.../ddd.../... ``levels`` deep, with a 7-byte file at the bottom and a 3-byte
    sibling file every 50 levels; made relative to directory handles (the path is too long
    for the kernel to take whole). Returns the bottom directory's path."""
    root.mkdir()
    fd = os.open(root, os.O_DIRECTORY)
    try:
        for level in range(levels):
            if level % 50 == 0:
                sibling = os.open("sibling", os.O_WRONLY | os.O_CREAT, 0o644, dir_fd=fd)
                os.write(sibling, b"abc")
                os.close(sibling)
            os.mkdir(NAME[:-1], dir_fd=fd)
            child = os.open(NAME[:-1], os.O_DIRECTORY, dir_fd=fd)
            os.close(fd)
            fd = child
        bottom = os.open("bottom.txt", os.O_WRONLY | os.O_CREAT, 0o644, dir_fd=fd)
        os.write(bottom, b"bottom!")
        os.close(bottom)
    finally:
        os.close(fd)
    return root / (NAME * levels)


def test_a_chain_deeper_than_path_max_is_counted_exactly_like_find_and_du(
    vegafs: Vegafs, tmp_path: Path
) -> None:
    bottom = deep_chain(tmp_path / "tree", 200)
    assert len(os.fsencode(bottom)) > 4096
    out = vegafs.run("analyze", "tree", "--json", "--top", "1", cwd=tmp_path)
    assert out.returncode == 0, out.stderr
    data = out.json()
    assert (data["files"], data["dirs"], data["error_count"]) == (5, 201, 0)
    assert data["files"] == find_count(tmp_path / "tree", "f")
    assert data["dirs"] == find_count(tmp_path / "tree", "d")
    assert data["file_bytes"] == 7 + 4 * 3
    assert data["apparent_bytes"] == du_bytes(tmp_path / "tree", "-b")
    assert data["largest_files"] == [{"path": f"tree/{NAME * 200}bottom.txt", "bytes": 7}]


def test_roots_are_opened_beneath_the_allowed_roots_never_through_a_symlink(
    tmp_path: Path,
) -> None:
    allowed = tmp_path / "allowed"
    (allowed / "real").mkdir(parents=True)
    (allowed / "real" / "f").write_bytes(b"12345")
    (allowed / "link").symlink_to("real")
    outside = tmp_path / "outside"
    outside.mkdir()

    inside = analyze(Selection(roots=[allowed / "real"]), beneath=[allowed])
    assert (inside.files, inside.file_bytes) == (1, 5)
    for root, reason in (
        (allowed / "link", "symlink"),
        (allowed / "link" / "f", "symlink"),
        (outside, "outside"),
    ):
        with pytest.raises(PathNotAllowed) as info:
            analyze(Selection(roots=[root]), beneath=[allowed])
        assert info.value.path == str(root)
        assert reason in info.value.reason
    # Without `beneath` (the command line), a root that is a symlink is followed, like find -H.
    assert analyze(Selection(roots=[allowed / "link"])).files == 1


def test_a_bad_ignore_line_is_reported_by_its_line_number_and_a_linked_one_is_not_read(
    vegafs: Vegafs, tmp_path: Path
) -> None:
    root = tmp_path / "tree"
    root.mkdir()
    (root / ".gitignore").write_text("*.log\n# comment\n[z-a]secret-text\n")
    (root / "a.log").write_bytes(b"1")
    (root / "b.txt").write_bytes(b"22")
    (root / "sub").mkdir()
    (tmp_path / "rules").write_text("*.txt\n")
    (root / "sub" / ".ignore").symlink_to(tmp_path / "rules")
    (root / "sub" / "c.txt").write_bytes(b"333")
    out = vegafs.run("analyze", "tree", "--json", "--ignore-files", "--no-hidden", cwd=tmp_path)
    assert out.returncode == 1, out.stderr
    data = out.json()
    assert (data["files"], data["file_bytes"]) == (2, 5)  # b.txt and sub/c.txt
    [error] = data["errors"]
    assert error["path"] == "tree/.gitignore"
    assert "line 3" in error["error"]
    assert "secret-text" not in error["error"]

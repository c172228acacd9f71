"""`vegafs move --apply`: directories made, entries moved, journaled, all of it or none; undo
moves everything back and removes the directories it made; a kill -9 at any point is recovered
by `vegafs recover`, twice harmlessly; permission denied rolls everything back; overwrite sets
the file in the way aside; a move to another file system copies, then removes the source."""

import os
import random
import signal
import stat
import subprocess
import time
from pathlib import Path

import pytest

from conftest import SUBPROCESS_TIMEOUT, Vegafs, cli_env, ops_listed
from test_rename_apply import journal_at, start_and_wait_for_apply
from vegafs import _native
from vegafs.errors import ApplyError
from vegafs.journal.runner import apply
from vegafs.journal.store import Step


def tree(root: Path) -> dict[str, tuple[str, bytes, int, int]]:
    """Every path below `root`: kind, content, mode, and for files the mtime in ns."""
    out = {}
    for p in sorted(root.rglob("*")):
        st = p.lstat()
        if stat.S_ISDIR(st.st_mode):
            out[str(p.relative_to(root))] = ("dir", b"", st.st_mode, 0)
        else:
            out[str(p.relative_to(root))] = ("file", p.read_bytes(), st.st_mode, st.st_mtime_ns)
    return out


def year(y: int) -> int:
    return int(time.mktime((y, 6, 15, 12, 0, 0, 0, 0, -1)))


def test_apply_then_undo_restores_the_exact_tree(vegafs: Vegafs, tmp_path: Path) -> None:
    root = tmp_path / "r"
    (root / "sub" / "deeper").mkdir(parents=True)
    (root / "empty").mkdir()
    files = [("a.txt", 0o600, 2020), ("b.sh", 0o755, 2021), ("sub/c.txt", 0o640, 2020),
             ("sub/deeper/e", 0o644, 2021)]  # fmt: skip
    for name, mode, y in files:
        (root / name).write_text(name)
        (root / name).chmod(mode)
        os.utime(root / name, (year(y), year(y)))
    for d, y in [("sub/deeper", 2021), ("sub", 2020), ("empty", 2019)]:
        os.utime(root / d, (year(y), year(y)))
    before = tree(root)
    env = {"VEGAFS_DATA_DIR": str(tmp_path / "data")}
    out = vegafs.run("move", "r", "--to", "by-year/{mtime:%Y}/{name}", "--apply", cwd=tmp_path,
                     env=env)  # fmt: skip
    assert out.returncode == 0, out.stderr
    assert out.stderr.endswith("applied as operation 1 (vegafs ops show 1).\n"), out.stderr
    after = tree(root)
    assert sorted(after) == [
        "by-year", "by-year/2019", "by-year/2019/empty", "by-year/2020", "by-year/2020/a.txt",
        "by-year/2020/c.txt", "by-year/2020/sub", "by-year/2021", "by-year/2021/b.sh",
        "by-year/2021/deeper", "by-year/2021/e",
    ]  # fmt: skip
    for name, *_ in files:  # contents, modes and mtimes travel with the entries
        moved = next(k for k in after if k.endswith("/" + Path(name).name))
        assert after[moved][1:] == before[name][1:]
    listed = vegafs.run("ops", "list", cwd=tmp_path, env=env).stdout.decode()
    assert ops_listed(listed) == [["1", "committed", "move", "11/11"]]  # 4 dirs made, 7 moved
    preview = vegafs.run("undo", "1", cwd=tmp_path, env=env)
    assert preview.returncode == 0, preview.stderr
    assert f"rmdir {root}/by-year (if empty)" in preview.stdout.decode().splitlines()
    assert tree(root) == after
    done = vegafs.run("undo", "1", "--apply", cwd=tmp_path, env=env)
    assert done.returncode == 0, done.stderr
    restored = tree(root)
    # Directories' mtimes change as entries leave them; everything else is back.
    assert restored == before


def test_undo_refuses_what_changed_and_keeps_a_directory_with_new_files(
    vegafs: Vegafs, tmp_path: Path
) -> None:
    root = tmp_path / "r"
    root.mkdir()
    for name in ["a", "b"]:
        (root / name).write_text(name)
    env = {"VEGAFS_DATA_DIR": str(tmp_path / "data")}
    out = vegafs.run("move", "r", "--to", "{name}-dir/{name}", "--apply", cwd=tmp_path, env=env)
    assert out.returncode == 0, out.stderr
    (root / "a-dir" / "a").unlink()  # someone deletes a, and adds a file next to b
    (root / "b-dir" / "new").write_text("new")
    done = vegafs.run("undo", "1", "--apply", cwd=tmp_path, env=env)
    assert done.returncode == 1
    lines = done.stdout.decode().splitlines()
    assert f"{root}/a-dir/a -> {root}/a: refused, changed since the operation: not there any " \
        "more" in lines  # fmt: skip
    assert "1 to move back, 1 refused" in done.stderr
    # b went back; b-dir keeps the new file; a-dir, empty, is gone.
    assert sorted(p.name for p in root.iterdir()) == ["b", "b-dir"]
    assert [p.name for p in (root / "b-dir").iterdir()] == ["new"]


def test_permission_denied_rolls_everything_back(
    vegafs: Vegafs, tmp_path: Path, unprivileged: list[str]
) -> None:
    """Without CAP_DAC_OVERRIDE, a directory the process may not write into: the error names
    the path, and the directory made and the entry moved before it are rolled back."""
    root = tmp_path / "r"
    root.mkdir()
    for name in ["a", "b"]:
        (root / name).write_text(name)
    out_dir = tmp_path / "out"
    (out_dir / "b").mkdir(parents=True)
    (out_dir / "b").chmod(0o555)
    before = tree(tmp_path / "r"), tree(out_dir)
    data = tmp_path / "data"
    data.mkdir()
    env = {"VEGAFS_DATA_DIR": str(data)}
    done = vegafs.run("move", "r", "--to", "{name}/{name}", "--dest", "out", "--apply",
                      cwd=tmp_path, env=env, prefix=unprivileged)  # fmt: skip
    err = done.stderr
    assert done.returncode == 1, err
    assert f"{root}/b -> {out_dir}/b/b: Permission denied" in err, err
    assert (tree(tmp_path / "r"), tree(out_dir)) == before  # out/a made, a moved: both undone
    listed = vegafs.run("ops", "list", cwd=tmp_path, env=env).stdout.decode()
    assert listed.split("\t")[1:3] == ["rolled_back", "move"]


N = 3000
GROUPS = 30


def flat_tree(root: Path) -> dict[str, bytes]:
    root.mkdir()
    for i in range(N):
        (root / f"g{i % GROUPS:02}-f{i:04}").write_bytes(b"%d" % i)
    return files_of(root)


def files_of(root: Path) -> dict[str, bytes]:
    return {str(p.relative_to(root)): p.read_bytes() for p in root.rglob("*") if p.is_file()}


def sorted_names(flat: dict[str, bytes]) -> dict[str, bytes]:
    return {f"{name[:3]}/sub/{name}": data for name, data in flat.items()}


def test_kill_9_at_random_points_then_recover(vegafs: Vegafs, tmp_path: Path) -> None:
    """20 kills at random points of the apply of a 3,000-file move into 60 new directories:
    after `vegafs recover` every file is there exactly once, all under the old names (and no
    directory left: the ones made are removed) or all under the new ones, contents unchanged,
    no temporary name; a second recover changes nothing."""
    root = tmp_path / "t"
    flat = flat_tree(root)
    env = cli_env() | {"VEGAFS_DATA_DIR": str(tmp_path / "data")}
    db = tmp_path / "data" / "vegafs.db"
    args = [str(vegafs.exe), "move", str(root), "-m", r"^(g\d\d)-", "--to", "{1}/sub/{name}",
            "--apply"]  # fmt: skip

    def run(*a: str) -> "subprocess.CompletedProcess[bytes]":
        return subprocess.run([str(vegafs.exe), *a], env=env, capture_output=True,
                              timeout=SUBPROCESS_TIMEOUT, check=False)  # fmt: skip

    def undo_last() -> None:
        ops = [line.split("\t") for line in run("ops", "list").stdout.decode().splitlines()]
        op = next(o[0] for o in ops if o[1:3] == ["committed", "move"])
        undone = run("undo", op, "--apply")
        assert undone.returncode == 0, undone.stderr
        assert files_of(root) == flat and all(p.is_file() for p in root.iterdir())

    child = start_and_wait_for_apply(args, env, db)
    started = time.monotonic()
    assert child.wait(timeout=SUBPROCESS_TIMEOUT) == 0
    apply_s = time.monotonic() - started
    assert files_of(root) == sorted_names(flat)
    undo_last()
    rng = random.Random(11)
    seen = {"old": 0, "new": 0, "recovered": 0}
    window = 1.2 * apply_s  # kills land in [0, window) after the journal is written
    for point in range(20):
        child = start_and_wait_for_apply(args, env, db)
        time.sleep(rng.uniform(0, window))
        child.send_signal(signal.SIGKILL)
        child.wait(timeout=SUBPROCESS_TIMEOUT)
        done = run("recover")
        assert done.returncode == 0, done.stderr
        recovered = done.stdout.count(b"operation ")
        seen["recovered"] += recovered
        if not recovered:  # the kill came after the end (a busy machine): aim earlier
            window *= 0.7
        state = files_of(root)
        assert not [n for n in state if ".vegafs-" in n]
        if state == flat:
            seen["old"] += 1
            # The directories the move made are gone with it.
            assert all(p.is_file() for p in root.iterdir()), f"kill {point}: a directory left"
        else:
            assert state == sorted_names(flat), f"kill {point}: a half-applied tree"
            seen["new"] += 1
        again = run("recover")
        assert again.stderr == b"vegafs: nothing to recover\n"
        assert files_of(root) == state
        if state != flat:
            undo_last()
    print(f"kills: {seen}")  # shown with pytest -s
    assert seen["old"] and seen["recovered"] >= 5, seen


def test_something_in_the_way_of_a_directory_rolls_back(tmp_path: Path) -> None:
    """A file appeared where the plan makes a directory: the mkdir step fails with "File
    exists", the directory made before it and the entry moved are rolled back, the file
    stays."""
    journal = journal_at(tmp_path / "journal.db")
    root = tmp_path / "r"
    root.mkdir()
    (root / "a").write_text("a")
    (root / "later").write_text("appeared meanwhile")
    made, later = str(root / "made"), str(root / "later")
    (ident,) = _native.identities([str(root / "a")])
    assert ident is not None
    steps = [Step(made, made, 0, 0, 0, kind="mkdir"), Step(later, later, 0, 0, 0, kind="mkdir"),
             Step(str(root / "a"), str(root / "later" / "a"), *ident)]  # fmt: skip
    with pytest.raises(ApplyError) as caught:
        apply(journal, "move", {}, steps)
    assert caught.value.rolled_back
    assert str(caught.value) == f"{later}: File exists (os error 17)"
    assert sorted(p.name for p in root.iterdir()) == ["a", "later"]
    assert (root / "later").read_text() == "appeared meanwhile"
    assert [(op.state, op.steps_done) for op in journal.all()] == [("rolled_back", 0)]


def test_a_failed_move_onto_a_file_system_that_cannot_sync_directories_rolls_back(
    vegafs: Vegafs, tmp_path: Path
) -> None:
    """--dest under /proc: its mkdir fails, and the rollback's fsync of /proc says EINVAL (a
    file system with nothing to sync). That error used to escape the rollback: the operation
    stayed `applying` and every later recovery, so every writing command, failed on it. Now the
    move is rolled back, the journal is clear, and the next command runs."""
    root = tmp_path / "r"
    (root / "d").mkdir(parents=True)
    (root / "a.txt").write_text("a")
    (root / "d" / "b.txt").write_text("b")
    before = tree(root)
    env = {"VEGAFS_DATA_DIR": str(tmp_path / "data")}
    dest = f"/proc/vegafs-test-{os.getpid()}"
    out = vegafs.run("move", "r", "-t", "file", "--to", "{name}", "--dest", dest, "--apply",
                     cwd=tmp_path, env=env)  # fmt: skip
    assert out.returncode == 1, out.stderr
    assert out.stderr == (
        f"vegafs: error: not applied: {dest}: No such file or directory (os error 2); every "
        "change was rolled back\n"
    )
    assert tree(root) == before
    listed = vegafs.run("ops", "list", cwd=tmp_path, env=env)
    # A mkdir, then each file copied and its source removed (across file systems).
    assert ops_listed(listed.stdout) == [["1", "rolled_back", "move", "0/5"]]
    recovered = vegafs.run("recover", cwd=tmp_path, env=env)
    assert (recovered.returncode, recovered.stderr) == (0, "vegafs: nothing to recover\n")
    renamed = vegafs.run("rename", "r", "-m", "^a", "--to", "A.txt", "--apply", cwd=tmp_path,
                         env=env)  # fmt: skip
    assert renamed.returncode == 0, renamed.stderr
    assert (root / "A.txt").read_text() == "a"


def test_overwrite_replaces_then_undo_and_forget(vegafs: Vegafs, tmp_path: Path) -> None:
    """--on-conflict overwrite: an existing file in the way is moved aside (a step of its own),
    undo puts both back, and `ops forget` deletes what was set aside."""
    root = tmp_path / "r"
    (root / "in").mkdir(parents=True)
    (root / "out").mkdir()
    (root / "in" / "a.txt").write_text("new a")
    (root / "in" / "b.txt").write_text("new b")
    (root / "out" / "a.txt").write_text("old a")
    (root / "out" / "keep").mkdir()
    before = tree(root)
    env = {"VEGAFS_DATA_DIR": str(tmp_path / "data")}
    args = ["move", "r/in", "--to", "{name}", "--dest", "r/out", "--on-conflict", "overwrite"]
    out = vegafs.run(*args, "--apply", cwd=tmp_path, env=env)
    assert out.returncode == 0, out.stderr
    aside = [p.name for p in (root / "out").iterdir() if p.name.startswith(".vegafs-")]
    assert len(aside) == 1 and aside[0].endswith("-old-1"), aside
    assert (root / "out" / "a.txt").read_text() == "new a"
    assert (root / "out" / aside[0]).read_text() == "old a"
    assert sorted(p.name for p in (root / "in").iterdir()) == []
    done = vegafs.run("undo", "1", "--apply", cwd=tmp_path, env=env)
    assert done.returncode == 0, done.stderr
    assert {k: v for k, v in tree(root).items() if v[0] == "file"} == {
        k: v for k, v in before.items() if v[0] == "file"
    }
    # Again, then forget: the old a.txt set aside is deleted, nothing else.
    out = vegafs.run(*args, "--apply", cwd=tmp_path, env=env)
    assert out.returncode == 0, out.stderr
    forgot = vegafs.run("ops", "forget", "3", cwd=tmp_path, env=env)
    assert forgot.returncode == 0, forgot.stderr
    assert sorted(p.name for p in (root / "out").iterdir()) == ["a.txt", "b.txt", "keep"]
    # A directory in the way is never overwritten: the plan is refused.
    (root / "in" / "keep").write_text("a file onto a directory")
    refused = vegafs.run(*args, "-m", "^keep$", cwd=tmp_path, env=env)
    assert refused.returncode == 1
    assert b"refused, the target exists" in refused.stdout


def files_kept(root: Path) -> dict[str, tuple[bytes, int, int]]:
    """Each file (or symlink: its text) below `root`: content, mode and mtime in ns."""
    out = {}
    for p in sorted(root.rglob("*")):
        st = p.lstat()
        if stat.S_ISREG(st.st_mode):
            out[str(p.relative_to(root))] = (p.read_bytes(), st.st_mode, st.st_mtime_ns)
        elif stat.S_ISLNK(st.st_mode):
            out[str(p.relative_to(root))] = (os.fsencode(p.readlink()), 0, st.st_mtime_ns)
    return out


def test_a_move_across_file_systems_then_undo(
    vegafs: Vegafs, tmp_path: Path, other_fs: Path
) -> None:
    """Files and a symlink to another file system: copied (contents, modes, mtimes kept), then
    their sources removed; a directory is refused with its reason; undo brings them back."""
    root = tmp_path / "r"
    (root / "sub").mkdir(parents=True)
    for name, mode, y in [("a.txt", 0o600, 2020), ("sub/b.bin", 0o755, 2021)]:
        (root / name).write_bytes(name.encode() * 1000)
        (root / name).chmod(mode)
        os.utime(root / name, (year(y), year(y)))
    (root / "link").symlink_to("a.txt")
    before = files_kept(root)
    env = {"VEGAFS_DATA_DIR": str(tmp_path / "data")}
    args = ["move", "r", "-t", "file,symlink", "--to", "{mtime:%Y}/{name}", "--dest", str(other_fs)]
    planned = vegafs.run(*args, cwd=tmp_path, env=env)
    assert planned.returncode == 0, planned.stderr
    assert "3 to move, 3 directories to create, 3 across file systems" in planned.stderr
    out = vegafs.run(*args, "--apply", cwd=tmp_path, env=env)
    assert out.returncode == 0, out.stderr
    link = f"{time.localtime(before['link'][2] / 1e9).tm_year}/link"
    want = {"2020/a.txt": before["a.txt"], "2021/b.bin": before["sub/b.bin"], link: before["link"]}
    assert files_kept(other_fs) == want
    assert files_kept(root) == {}  # every source removed; the directory sub stays
    assert not list(other_fs.rglob(".vegafs-*"))
    listed = vegafs.run("ops", "list", cwd=tmp_path, env=env).stdout.decode()
    assert ops_listed(listed) == [["1", "committed", "move", "9/9"]]  # 3 dirs, 3 x (copy, rm)
    done = vegafs.run("undo", "1", "--apply", cwd=tmp_path, env=env)
    assert done.returncode == 0, done.stderr
    assert files_kept(root) == before
    assert list(other_fs.iterdir()) == []
    # A directory is not moved across file systems.
    refused = vegafs.run("move", "r", "-m", "^sub$", "--to", "{name}", "--dest", str(other_fs),
                         cwd=tmp_path, env=env)  # fmt: skip
    assert refused.returncode == 1
    assert b"only files and symlinks are moved across file systems" in refused.stdout


def test_kill_9_during_a_move_across_file_systems_then_recover(
    vegafs: Vegafs, tmp_path: Path, other_fs: Path
) -> None:
    """Kills at random points of a 2,000-file move to another file system: after `vegafs
    recover` each file is there exactly once (all back, or all moved), contents unchanged, no
    temporary file left."""
    root = tmp_path / "t"
    root.mkdir()
    n = 2000
    for i in range(n):
        (root / f"f{i:04}").write_bytes(b"%d" % i * 50)
    flat = files_of(root)
    env = cli_env() | {"VEGAFS_DATA_DIR": str(tmp_path / "data")}
    db = tmp_path / "data" / "vegafs.db"
    dest = other_fs / "d"
    args = [str(vegafs.exe), "move", str(root), "--to", "{name}", "--dest", str(dest), "--apply"]

    def run(*a: str) -> "subprocess.CompletedProcess[bytes]":
        return subprocess.run([str(vegafs.exe), *a], env=env, capture_output=True,
                              timeout=SUBPROCESS_TIMEOUT, check=False)  # fmt: skip

    rng = random.Random(7)
    seen = {"old": 0, "new": 0}
    for point in range(6):
        child = start_and_wait_for_apply(args, env, db)
        time.sleep(rng.uniform(0, 1.5))
        child.send_signal(signal.SIGKILL)
        child.wait(timeout=SUBPROCESS_TIMEOUT)
        done = run("recover")
        assert done.returncode == 0, done.stderr
        here, there = files_of(root), files_of(dest) if dest.exists() else {}
        assert not [k for k in [*here, *there] if ".vegafs-" in k], point
        assert not set(here) & set(there), f"kill {point}: a file in both places"
        if here == flat:
            seen["old"] += 1
            assert there == {}
        else:
            assert (here, there) == ({}, flat), f"kill {point}: a half-applied move"
            seen["new"] += 1
            ops = [line.split("\t") for line in run("ops", "list").stdout.decode().splitlines()]
            op = next(o[0] for o in reversed(ops) if o[1:3] == ["committed", "move"])
            undone = run("undo", op, "--apply")
            assert undone.returncode == 0, undone.stderr
            assert files_of(root) == flat
    print(f"kills: {seen}")  # shown with pytest -s
    assert seen["old"], seen

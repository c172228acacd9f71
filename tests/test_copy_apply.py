"""`vegafs copy --apply`: journaled copies, all of them or none. Contents, modes, times, xattrs,
symlinks and holes are kept; a re-run skips what is copied; a full disk, a directory that may
not be written or a kill -9 at any point leave no partial or temporary file and the sources
intact; undo removes the copies that are unchanged."""

import os
import random
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from conftest import SUBPROCESS_TIMEOUT, Vegafs, cli_env, ops_listed
from test_rename_apply import applying, journal_at, start_and_wait_for_apply
from vegafs.journal.runner import batches, recover
from vegafs.journal.store import Journal, Step


def files(root: Path) -> dict[str, tuple[str, bytes]]:
    """Every entry below `root` by its relative path: ("l", link text), ("d", b""), ("f",
    content)."""
    out = {}
    for p in sorted(root.rglob("*")):
        rel = str(p.relative_to(root))
        if p.is_symlink():
            out[rel] = ("l", os.fsencode(p.readlink()))
        elif p.is_dir():
            out[rel] = ("d", b"")
        else:
            out[rel] = ("f", p.read_bytes())
    return out


def temps(root: Path) -> list[str]:
    return [str(p) for p in root.rglob(".vegafs-*")]


@pytest.fixture
def env(tmp_path: Path) -> dict[str, str]:
    return {"VEGAFS_DATA_DIR": str(tmp_path / "data")}


@pytest.fixture
def src(tmp_path: Path) -> Path:
    """src/ with a file of mode 0750 and an xattr, a sparse file (1 MiB hole between two
    4-byte writes, 8 MiB in all), a symlink and a nested file, their mtimes set."""
    root = tmp_path / "src"
    (root / "deep" / "er").mkdir(parents=True)
    (root / "run.sh").write_text("#!/bin/sh\n")
    (root / "run.sh").chmod(0o750)
    os.setxattr(root / "run.sh", "user.origin", b"test")
    with (root / "sparse.img").open("wb") as f:
        f.write(b"head")
        f.seek(1 << 20)
        f.write(b"tail")
        f.truncate(8 << 20)
    (root / "deep" / "er" / "n.txt").write_text("nested")
    (root / "to-run").symlink_to("run.sh")
    for i, p in enumerate([root / "run.sh", root / "sparse.img", root / "deep" / "er" / "n.txt"]):
        os.utime(p, ns=(1_600_000_000_123_456_789 + i, 1_700_000_000_987_654_321 + i))
    return root


def test_apply_keeps_contents_modes_times_xattrs_links_and_holes(
    vegafs: Vegafs, tmp_path: Path, src: Path, env: dict[str, str]
) -> None:
    out = vegafs.run("copy", "src", "dst", "--apply", cwd=tmp_path, env=env)
    assert out.returncode == 0, out.stderr
    assert out.stderr.endswith("3 directories to create; applied as operation 1 "
                               "(vegafs ops show 1).\n")  # fmt: skip
    dst = tmp_path / "dst"
    # The access time as the source had it when copied (before this test reads anything).
    assert (dst / "run.sh").stat().st_atime_ns == 1_600_000_000_123_456_789
    assert files(dst) == files(src)
    for name in ["run.sh", "sparse.img", "deep/er/n.txt", "to-run"]:
        a, b = (src / name).lstat(), (dst / name).lstat()
        assert (b.st_mode, b.st_size, b.st_mtime_ns) == (a.st_mode, a.st_size, a.st_mtime_ns)
        assert (b.st_uid, b.st_gid) == (a.st_uid, a.st_gid)
    assert os.getxattr(dst / "run.sh", "user.origin") == b"test"
    # The holes stayed holes: no more blocks than the source (8 KiB of data, not 8 MiB).
    assert (dst / "sparse.img").stat().st_blocks <= (src / "sparse.img").stat().st_blocks < 64
    assert temps(dst) == []
    listed = vegafs.run("ops", "list", cwd=tmp_path, env=env)
    assert ops_listed(listed.stdout) == [["1", "committed", "copy", "7/7"]]
    # Again: everything is copied already; nothing to apply.
    again = vegafs.run("copy", "src", "dst", "--apply", cwd=tmp_path, env=env)
    assert again.returncode == 0, again.stderr
    assert "0 to copy (0 bytes), 4 already copied, 0 refused, 0 directories" in again.stderr
    assert vegafs.run("ops", "list", cwd=tmp_path, env=env).stdout == listed.stdout


def test_a_rerun_copies_only_what_is_missing_and_verify(
    vegafs: Vegafs, tmp_path: Path, src: Path, env: dict[str, str]
) -> None:
    dst = tmp_path / "dst"
    shutil.copytree(src, dst, symlinks=True)  # copy2: mtimes kept, so these are copies
    (dst / "deep" / "er" / "n.txt").unlink()
    out = vegafs.run("copy", "src", "dst", "--apply", "--verify", cwd=tmp_path, env=env)
    assert out.returncode == 0, out.stderr
    assert out.stdout.decode().splitlines()[-1] == "src/to-run -> dst/to-run (already copied)"
    assert "1 to copy (6 bytes), 3 already copied" in out.stderr
    assert files(dst) == files(src)
    shown = vegafs.run("ops", "show", "1", cwd=tmp_path, env=env).stdout.decode().splitlines()
    assert shown == ["operation 1: copy, committed, 1/1 steps",
                     f"{src}/deep/er/n.txt -> {dst}/deep/er/n.txt"]  # fmt: skip


# Runs a command with at most 256 open files: too few to hold a batch's unnamed files open.
FEW_FILES = [sys.executable, "-c", "import os, resource, sys; "
             "resource.setrlimit(resource.RLIMIT_NOFILE, (256, 256)); "
             "os.execv(sys.argv[1], sys.argv[1:])"]  # fmt: skip


@pytest.mark.parametrize("how", ["unnamed, linked by /proc/self/fd", "temporary names"])
def test_a_copy_without_capabilities_or_without_descriptors_to_spare(
    vegafs: Vegafs, tmp_path: Path, src: Path, env: dict[str, str], unprivileged: list[str],
    how: str,
) -> None:  # fmt: skip
    """Without CAP_DAC_READ_SEARCH an unnamed file is linked to its name through /proc/self/fd
    (linkat's AT_EMPTY_PATH needs the capability); with too few file descriptors to hold the
    batch's unnamed files open, every copy goes through its temporary name (as on a file system
    without O_TMPFILE). Either way: the same copy, no temporary file left."""
    prefix = unprivileged if how.startswith("unnamed") else FEW_FILES
    out = vegafs.run("copy", "src", "dst", "--apply", cwd=tmp_path, env=env, prefix=prefix)
    assert out.returncode == 0, out.stderr
    dst = tmp_path / "dst"
    assert files(dst) == files(src)
    for name in ["run.sh", "sparse.img", "deep/er/n.txt", "to-run"]:
        a, b = (src / name).lstat(), (dst / name).lstat()
        assert (b.st_mode, b.st_size, b.st_mtime_ns) == (a.st_mode, a.st_size, a.st_mtime_ns)
    assert os.getxattr(dst / "run.sh", "user.origin") == b"test"
    assert temps(dst) == []


def test_undo_removes_unchanged_copies_then_empty_directories(
    vegafs: Vegafs, tmp_path: Path, src: Path, env: dict[str, str]
) -> None:
    before = files(src)
    assert vegafs.run("copy", "src", "dst", "--apply", cwd=tmp_path, env=env).returncode == 0
    dst = tmp_path / "dst"
    (dst / "run.sh").write_text("edited since")
    (dst / "extra").write_text("not ours")
    preview = vegafs.run("undo", "1", cwd=tmp_path, env=env)
    assert preview.returncode == 1
    assert f"{dst}/run.sh: refused, changed since the copy" in preview.stdout.decode()
    assert preview.stderr.endswith("3 to remove, 1 refused; nothing was changed (--apply to "
                                   "undo).\n")  # fmt: skip
    done = vegafs.run("undo", "1", "--apply", cwd=tmp_path, env=env)
    assert done.returncode == 1, done.stderr
    assert files(dst) == {"extra": ("f", b"not ours"), "run.sh": ("f", b"edited since")}
    assert files(src) == before
    listed = vegafs.run("ops", "list", cwd=tmp_path, env=env).stdout.decode().splitlines()
    assert [line.split("\t")[1:3] for line in listed] == [["committed", "undo"],
                                                          ["undone", "copy"]]  # fmt: skip
    # A copy with nothing changed since: every copy and directory goes.
    assert vegafs.run("copy", "src", "dst2", "--apply", cwd=tmp_path, env=env).returncode == 0
    assert vegafs.run("undo", "3", "--apply", cwd=tmp_path, env=env).returncode == 0
    assert not (tmp_path / "dst2").exists()


@pytest.fixture
def journal(tmp_path: Path) -> Journal:
    return journal_at(tmp_path / "journal.db")


def test_recovery_removes_stale_temporary_files_and_the_copies_done(
    journal: Journal, tmp_path: Path, src: Path
) -> None:
    """A crash after one copy of two, with the second's temporary file half-written: recover
    removes both (and never the source), and a second recover does nothing."""
    dst = tmp_path / "dst"
    dst.mkdir()
    a, b = src / "run.sh", src / "deep" / "er" / "n.txt"
    steps = []
    for i, f in enumerate([a, b]):
        st = f.lstat()
        steps.append(Step(str(f), str(dst / f.name), st.st_dev, st.st_ino, st.st_mtime_ns,
                          kind="copy", backup=str(dst / f".vegafs-x-{i}")))  # fmt: skip
    journal.begin("copy", {}, steps)
    shutil.copy2(a, dst / "run.sh")
    (dst / ".vegafs-x-1").write_bytes(b"nes")
    (dst / "n.txt").write_text("someone else's")  # not the copy: stays
    assert [r.state for r in recover(journal)] == ["rolled_back"]
    assert files(dst) == {"n.txt": ("f", b"someone else's")}
    assert (a.read_text(), b.read_text()) == ("#!/bin/sh\n", "nested")
    assert recover(journal) == []


def test_a_full_disk_rolls_back_every_copy(
    vegafs: Vegafs, tmp_path: Path, small_disk: Path, env: dict[str, str]
) -> None:
    big = tmp_path / "big"
    big.mkdir()
    for i in range(6):
        (big / f"f{i}").write_bytes(bytes([i]) * 300_000)
    before = files(big)
    out = vegafs.run("copy", "big", str(small_disk / "d"), "--apply", cwd=tmp_path, env=env)
    assert out.returncode == 1
    assert "No space left on device" in out.stderr and "every change was rolled back" in out.stderr
    assert files(small_disk) == {}  # no copy, no temporary file, not even the directory
    assert files(big) == before
    listed = vegafs.run("ops", "list", cwd=tmp_path, env=env).stdout.decode()
    assert listed.split("\t")[1:3] == ["rolled_back", "copy"]


def test_a_directory_that_may_not_be_written(
    vegafs: Vegafs, tmp_path: Path, src: Path, env: dict[str, str], unprivileged: list[str]
) -> None:
    dst = tmp_path / "dst"
    (dst / "deep").mkdir(parents=True)
    (dst / "deep").chmod(0o555)
    try:
        out = vegafs.run("copy", "src", "dst", "--apply", cwd=tmp_path, env=env,
                         prefix=unprivileged)  # fmt: skip
    finally:
        (dst / "deep").chmod(0o755)
    assert out.returncode == 1
    assert f"{dst}/deep/er: Permission denied" in out.stderr, out.stderr
    assert "every change was rolled back" in out.stderr
    assert files(dst) == {"deep": ("d", b"")}


N = 3000


def make_source(
    src: Path, dirs: int, content: Callable[[int], bytes]
) -> dict[str, tuple[str, bytes]]:
    """``N`` files dealt over ``dirs`` directories of ``src``, file i holding ``content(i)``;
    the tree as ``files`` sees it."""
    for d in range(dirs):
        (src / f"d{d:02}").mkdir(parents=True)
    for i in range(N):
        (src / f"d{i % dirs:02}" / f"f{i:05}").write_bytes(content(i))
    return files(src)


def timed_apply(args: list[str], env: dict[str, str], db: Path) -> float:
    """One whole apply (it must succeed): its seconds from the journal's first change, the
    span the kill points are drawn from."""
    child = start_and_wait_for_apply(args, env, db)
    started = time.monotonic()
    assert child.wait(timeout=SUBPROCESS_TIMEOUT) == 0
    return time.monotonic() - started


def test_kill_9_at_random_points_then_recover(vegafs: Vegafs, tmp_path: Path) -> None:
    """20 kills at random points of the apply of a 3,000-file copy (and one during a recovery):
    after `vegafs recover` the destination holds no copy or every copy, never a temporary or
    partial file, the sources are intact; a second recover changes nothing."""
    src = tmp_path / "s"
    original = make_source(src, 30, lambda i: b"%d" % i * (1 + i % 700))
    env = cli_env() | {"VEGAFS_DATA_DIR": str(tmp_path / "data")}
    db = tmp_path / "data" / "vegafs.db"
    dst = tmp_path / "c"
    args = [str(vegafs.exe), "copy", str(src), str(dst), "--apply"]
    apply_s = timed_apply(args, env, db)
    assert files(dst) == original
    rng = random.Random(11)
    seen = {"none": 0, "all": 0, "recovered": 0}
    for point in range(20):
        shutil.rmtree(dst, ignore_errors=True)  # a copy committed, to be made again
        child = start_and_wait_for_apply(args, env, db)
        time.sleep(rng.uniform(0, 1.2 * apply_s))
        child.send_signal(signal.SIGKILL)
        child.wait(timeout=SUBPROCESS_TIMEOUT)
        if point == 10:  # once, kill the recovery too
            null = subprocess.DEVNULL
            rec = subprocess.Popen([str(vegafs.exe), "recover"], env=env, stdout=null, stderr=null)
            time.sleep(rng.uniform(0.05, 0.05 + apply_s / 2))
            rec.send_signal(signal.SIGKILL)
            rec.wait(timeout=SUBPROCESS_TIMEOUT)
        done = subprocess.run([str(vegafs.exe), "recover"], env=env, capture_output=True,
                              timeout=SUBPROCESS_TIMEOUT, check=False)  # fmt: skip
        assert done.returncode == 0, done.stderr
        seen["recovered"] += done.stdout.count(b"operation ")
        assert not applying(db)
        state = files(dst) if dst.exists() else {}
        assert not [n for n in state if ".vegafs-" in n], f"kill {point}: a temporary file"
        assert files(src) == original
        if state == original:
            seen["all"] += 1
        else:
            # Rolled back: no file copied is left (the directories made are removed if empty).
            assert [n for n, (kind, _) in state.items() if kind != "d"] == [], f"kill {point}"
            seen["none"] += 1
        again = subprocess.run([str(vegafs.exe), "recover"], env=env, capture_output=True,
                               timeout=SUBPROCESS_TIMEOUT, check=False)  # fmt: skip
        assert again.stderr == b"vegafs: nothing to recover\n"
        assert (files(dst) if dst.exists() else {}) == state
    assert seen["none"] and seen["recovered"] >= 5, seen


def test_a_kill_9_mid_batch_leaves_no_temporary_name_and_no_partial_file(
    vegafs: Vegafs, tmp_path: Path
) -> None:
    """Copies are written to unnamed files (O_TMPFILE) and get their names only once durable:
    a kill -9 anywhere in the apply leaves, before any recovery, no temporary name in the
    destination and no file under its name that is not the whole copy of its source; then
    recovery rolls back to nothing, or finds every copy done. Half the kills land at random
    points, half as soon as the first copy has its name (the batch is then being published:
    one batch here, 3,000 files)."""
    src = tmp_path / "s"
    original = make_source(src, 10, lambda i: b"%d," % i * (1 + i % 3000))
    env = cli_env() | {"VEGAFS_DATA_DIR": str(tmp_path / "data")}
    db = tmp_path / "data" / "vegafs.db"
    dst = tmp_path / "c"
    args = [str(vegafs.exe), "copy", str(src), str(dst), "--apply"]
    apply_s = timed_apply(args, env, db)
    rng = random.Random(7)
    partly = 0
    for point in range(8):
        shutil.rmtree(dst, ignore_errors=True)
        child = start_and_wait_for_apply(args, env, db)
        if point % 2:
            wait_for_a_file(dst, child)
        else:
            time.sleep(rng.uniform(0, apply_s))
        child.send_signal(signal.SIGKILL)
        child.wait(timeout=SUBPROCESS_TIMEOUT)
        state = files(dst) if dst.exists() else {}
        assert not [n for n in state if ".vegafs-" in n], f"kill {point}: a temporary name"
        copied = {n: v for n, v in state.items() if v[0] == "f"}
        assert {n: original[n] for n in copied} == copied, f"kill {point}: a partial file"
        partly += 0 < len(copied) < N
        done = subprocess.run([str(vegafs.exe), "recover"], env=env, capture_output=True,
                              timeout=SUBPROCESS_TIMEOUT, check=False)  # fmt: skip
        assert done.returncode == 0, done.stderr
        after = files(dst) if dst.exists() else {}
        assert after == original or [n for n, v in after.items() if v[0] != "d"] == []
        assert files(src) == original
    assert partly, "no kill landed while copies were being published"


def test_a_batch_ends_at_its_count_or_before_its_bytes_pass_the_bound() -> None:
    """A copy's apply batches: 8,192 copies, or fewer once their bytes would pass 1 GiB; a
    file bigger than the bound is a batch of its own; without sizes, by count alone."""
    assert batches(5, 2) == [(0, 2), (2, 4), (4, 5)]
    assert batches(0, 2, [], 10) == []
    assert batches(6, 3, [4, 4, 4, 0, 0, 0], 10) == [(0, 2), (2, 5), (5, 6)]
    assert batches(4, 10, [1, 25, 1, 1], 10) == [(0, 1), (1, 2), (2, 4)]
    assert batches(3, 10, [10, 0, 10], 10) == [(0, 2), (2, 3)]


def wait_for_a_file(root: Path, child: "subprocess.Popen[bytes]") -> None:
    """Returns once a file (not a directory) has a name in a directory of ``root``'s, or the
    child has ended."""
    deadline = time.monotonic() + SUBPROCESS_TIMEOUT
    while child.poll() is None:
        dirs = [e.path for e in os.scandir(root) if e.is_dir()] if root.is_dir() else []
        if any(not e.is_dir() for d in dirs for e in os.scandir(d)):
            return
        assert time.monotonic() < deadline, "no copy was ever published"
        time.sleep(0.001)


def test_overwrite_sets_the_old_file_aside_undo_puts_it_back_and_forget_deletes_it(
    vegafs: Vegafs, tmp_path: Path, env: dict[str, str]
) -> None:
    """--on-conflict overwrite: the file in the way is renamed aside (a journal step of its
    own, as rename's and move's overwrite), the copy published in its place; undo removes the
    copy and puts the old file back (bytes, mode, mtime, inode); `ops forget` deletes it."""
    src, dst = tmp_path / "src", tmp_path / "dst"
    src.mkdir()
    dst.mkdir()
    (src / "a.txt").write_text("new a")
    (src / "b.txt").write_text("new b")
    old = dst / "a.txt"
    old.write_text("old a")
    old.chmod(0o604)
    os.utime(old, ns=(1_500_000_000_000_000_000, 1_500_000_000_111_111_111))
    before = old.stat()
    args = ["copy", "src", "dst", "--on-conflict", "overwrite"]
    plan = vegafs.run(*args, cwd=tmp_path, env=env)
    assert plan.returncode == 0, plan.stderr
    assert plan.stdout.decode().splitlines() == [
        "src/a.txt -> dst/a.txt (overwrites: the old one kept aside)",
        "src/b.txt -> dst/b.txt",
    ]
    assert [p.name for p in dst.iterdir()] == ["a.txt"]
    done = vegafs.run(*args, "--apply", cwd=tmp_path, env=env)
    assert done.returncode == 0, done.stderr
    [aside] = [p for p in dst.iterdir() if p.name.startswith(".vegafs-")]
    assert aside.name.endswith("-old-1"), aside
    assert (aside.read_text(), aside.stat().st_ino) == ("old a", before.st_ino)
    assert ((dst / "a.txt").read_text(), (dst / "b.txt").read_text()) == ("new a", "new b")
    undo = vegafs.run("undo", "1", "--apply", cwd=tmp_path, env=env)
    assert undo.returncode == 0, undo.stderr
    assert f"put back {dst}/a.txt (the file the copy replaced)" in undo.stdout.decode()
    assert sorted(p.name for p in dst.iterdir()) == ["a.txt"]
    after = old.stat()
    assert old.read_text() == "old a"
    assert (after.st_ino, after.st_mode, after.st_mtime_ns) == (
        before.st_ino, before.st_mode, 1_500_000_000_111_111_111
    )  # fmt: skip
    # Again, then forget: the file set aside is deleted, the copies stay.
    assert vegafs.run(*args, "--apply", cwd=tmp_path, env=env).returncode == 0
    forgot = vegafs.run("ops", "forget", "3", cwd=tmp_path, env=env)
    assert forgot.returncode == 0, forgot.stderr
    assert sorted(p.name for p in dst.iterdir()) == ["a.txt", "b.txt"]
    assert (dst / "a.txt").read_text() == "new a"
    # A directory in the way is never overwritten: the plan is refused.
    (src / "sub").mkdir()
    (src / "sub" / "c").write_text("c")
    (dst / "sub").mkdir()
    (dst / "sub" / "c").mkdir()
    refused = vegafs.run(*args, "--apply", cwd=tmp_path, env=env)
    assert refused.returncode == 1
    assert b"src/sub/c -> dst/sub/c: refused, the target exists" in refused.stdout
    assert (dst / "sub" / "c").is_dir()


def test_recovery_after_a_crash_between_setting_aside_and_publishing(
    journal: Journal, tmp_path: Path, src: Path
) -> None:
    """The journal's steps of an overwrite, the old file set aside, the copy's temporary file
    half-written, then a crash: recover puts the old file back (same inode, bytes and mtime),
    removes the temporary file, and a second recover does nothing."""
    from vegafs import _native
    from vegafs.ops.copy import journal_steps

    dst = tmp_path / "dst"
    dst.mkdir()
    old = dst / "run.sh"
    old.write_text("old")
    before = old.stat()
    a = (src / "run.sh").lstat()
    rows = [{"from": str(src / "run.sh"), "to": str(old), "action": "overwrite"}]
    steps = journal_steps([], rows, [(a.st_dev, a.st_ino, a.st_mtime_ns)], verify=False)
    assert [s.kind for s in steps] == ["rename", "copy"]
    aside, copy = steps
    assert (aside.src, aside.identity) == (str(old), (before.st_dev, before.st_ino,
                                                      before.st_mtime_ns))  # fmt: skip
    journal.begin("copy", {}, steps)
    assert _native.rename_steps([(aside.src, aside.dst)]) == (1, None)  # then the crash
    assert copy.backup is not None
    Path(copy.backup).write_text("#!/bi")
    assert not old.exists()
    assert [r.state for r in recover(journal)] == ["rolled_back"]
    assert [p.name for p in dst.iterdir()] == ["run.sh"]
    now = old.stat()
    assert (old.read_text(), now.st_ino, now.st_mtime_ns) == ("old", before.st_ino,
                                                               before.st_mtime_ns)  # fmt: skip
    assert (src / "run.sh").read_text() == "#!/bin/sh\n"
    assert recover(journal) == []


def test_the_python_plan_of_an_overwrite(tmp_path: Path) -> None:
    """`plan_copy` with on_conflict="overwrite": the file in the way is an `overwrite` row and
    counts as a copy; a directory in the way stays refused."""
    from vegafs.engine.copying import CopyOptions, plan_copy

    src, dst = tmp_path / "src", tmp_path / "dst"
    (src / "d").mkdir(parents=True)
    (dst / "d").mkdir(parents=True)
    (src / "a").write_text("new")
    (src / "d" / "b").write_text("new")
    (dst / "a").write_text("old")
    (dst / "d" / "b").mkdir()
    rows, dirs, summary = plan_copy(src, CopyOptions(dest=dst, on_conflict="overwrite"))
    assert [(r["to"], r["action"]) for r in rows] == [
        (str(dst / "a"), "overwrite"), (str(dst / "d" / "b"), "refused")
    ]  # fmt: skip
    assert (dirs, summary.copies, summary.refused, summary.ok) == ([], 1, 1, False)


def test_forget_deletes_nothing_through_a_symlink_swapped_in_beneath_a_jobs_roots(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The file a copy job's overwrite set aside is deleted by `ops forget` by its name in its
    directory, opened beneath the job's roots (the journal's `beneath`): once that directory is
    a symlink leading out of the roots, nothing is deleted through it."""
    from vegafs import ops
    from vegafs.journal import open_journal
    from vegafs.journal.backups import forget
    from vegafs.settings import get_settings

    root = tmp_path / "root"
    src, dest, outside = root / "src", root / "dest", tmp_path / "outside"
    src.mkdir(parents=True)
    dest.mkdir()
    (src / "x").write_text("new x")
    (dest / "x").write_text("old x")
    monkeypatch.setenv("VEGAFS_DATA_DIR", str(tmp_path / "data"))
    get_settings.cache_clear()
    try:
        params = {"selection": {"roots": [str(src)]}, "dest": str(dest),
                  "on_conflict": "overwrite", "apply": True}  # fmt: skip
        summary = ops.run("copy", params, ops.RunContext(beneath=(root,)))
        op_id = summary.applied_op  # type: ignore[attr-defined]
        [aside] = [p.name for p in dest.iterdir() if p.name != "x"]
        assert aside.endswith("-old-1"), aside
        # dest, set-aside file and all, now outside the roots; a symlink to it in its place.
        dest.rename(outside)
        dest.symlink_to(outside)
        journal = open_journal()
        try:
            assert journal.get(op_id).beneath == (str(root),)  # type: ignore[union-attr]
            assert forget(journal, op_id) == 0
            assert journal.get(op_id).state == "forgotten"  # type: ignore[union-attr]
        finally:
            journal.close()
    finally:
        get_settings.cache_clear()
    assert sorted(p.name for p in outside.iterdir()) == sorted([aside, "x"])
    assert ((outside / aside).read_bytes(), (outside / "x").read_bytes()) == (b"old x", b"new x")

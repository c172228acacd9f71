"""`vegafs replace --apply`: each file backed up, then written whole (temporary file, fsync,
rename), modes, owners and times kept; all of it or none: a file changed since the plan, a
permission denied or a full disk rolls back; a kill -9 at any point is recovered by `vegafs
recover`, twice harmlessly; `vegafs undo` writes the backups back; `vegafs ops forget` deletes
them."""

import os
import random
import re
import shutil
import signal
import subprocess
import tempfile
import time
from datetime import timedelta
from pathlib import Path

import pytest

from conftest import SUBPROCESS_TIMEOUT, Vegafs, cli_env, ops_listed
from test_rename_apply import applying_span, journal_at, start_and_wait_for_apply
from vegafs.engine.replacing import ReplaceOptions, plan_replace
from vegafs.errors import ApplyError
from vegafs.journal import applying
from vegafs.ops.registry import RunContext
from vegafs.ops.replace import ReplaceParams, apply_plan


def tree_state(root: Path) -> dict[str, tuple[bytes, int, int]]:
    """Each file below `root` (symlinks: their target, as bytes) with its mode and mtime."""
    out = {}
    for p in sorted(root.rglob("*")):
        st = p.lstat()
        if p.is_symlink():
            out[str(p.relative_to(root))] = (str(p.readlink()).encode(), 0, 0)
        elif p.is_file():
            out[str(p.relative_to(root))] = (p.read_bytes(), st.st_mode, st.st_mtime_ns)
    return out


@pytest.fixture
def env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> dict[str, str]:
    data = str(tmp_path / "data")
    monkeypatch.setenv("VEGAFS_DATA_DIR", data)  # for the journal opened in this process
    return {"VEGAFS_DATA_DIR": data}


@pytest.fixture
def tree(tmp_path: Path) -> Path:
    root = tmp_path / "t"
    (root / "sub").mkdir(parents=True)
    (root / "a.txt").write_text("colour one\nplain\n")
    (root / "sub" / "b.txt").write_text("no colour here? colour!\n")
    (root / "sub" / "c.txt").write_text("nothing\n")
    (root / "a.txt").chmod(0o640)
    (root / "sub" / "b.txt").chmod(0o755)
    for i, p in enumerate([root / "a.txt", root / "sub" / "b.txt", root / "sub" / "c.txt"]):
        os.utime(p, ns=(1_000_000_000 + i, 1_500_000_000_123_456_789 + i))
    return root


def test_apply_writes_exactly_the_planned_files(vegafs: Vegafs, tree: Path, tmp_path: Path,
                                                env: dict[str, str]) -> None:  # fmt: skip
    outside = tmp_path / "linked.txt"
    outside.write_text("colour outside\n")
    os.utime(outside, ns=(5, 7_000_000_001))
    link = tmp_path / "link"
    link.symlink_to(outside)
    before = tree_state(tree)
    out = vegafs.run("replace", "colou?r", "color", "t", str(link), "--apply", cwd=tmp_path,
                     env=env)  # fmt: skip
    assert out.returncode == 0, out.stderr
    assert out.stderr == (
        "vegafs: plan: 4 files scanned, 3 to change (4 replacements); applied as operation 1 "
        "(vegafs ops show 1; vegafs undo 1).\n"
    )
    after = tree_state(tree)
    assert after["a.txt"] == (b"color one\nplain\n", *before["a.txt"][1:])
    assert after["sub/b.txt"] == (b"no color here? color!\n", *before["sub/b.txt"][1:])
    assert after["sub/c.txt"] == before["sub/c.txt"]
    assert link.is_symlink() and link.readlink() == outside
    assert outside.read_text() == "color outside\n"
    assert outside.stat().st_mtime_ns == 7_000_000_001
    assert not list(tmp_path.rglob(".vegafs-*"))
    listed = vegafs.run("ops", "list", cwd=tmp_path, env=env)
    assert ops_listed(listed.stdout) == [["1", "committed", "replace", "3/3"]]
    backups = sorted((tmp_path / "data" / "backups").glob("*/*"))
    assert sorted(p.read_bytes() for p in backups) == sorted(
        [b"colour one\nplain\n", b"no colour here? colour!\n", b"colour outside\n"]
    )


def test_a_file_changed_since_the_plan_rolls_back(tree: Path, env: dict[str, str]) -> None:
    params = ReplaceParams.model_validate(
        {"selection": {"roots": [str(tree)]}, "pattern": "colour", "replacement": "color",
         "apply": True}
    )  # fmt: skip
    planned, summary = plan_replace(params.selection, ReplaceOptions(pattern="colour",
                                    replacement="color"))  # fmt: skip
    assert summary.files_changed == 2
    before = tree_state(tree)
    # b.txt (planned second) changes after the plan: a.txt, written first, is rolled back.
    (tree / "sub" / "b.txt").write_text("no colour here? colour!!\n")
    before["sub/b.txt"] = tree_state(tree)["sub/b.txt"]
    ctx = RunContext()
    with pytest.raises(ApplyError) as e, applying(None, ctx.cancel) as journal:
        apply_plan(journal, params, planned, ctx)
    assert str(e.value) == f"{tree}/sub/b.txt: changed since the plan"
    assert e.value.rolled_back
    assert tree_state(tree) == before
    assert not list(tree.rglob(".vegafs-*"))
    # Its backups are deleted: a.txt's, a link to it since a.txt was left as it was, too.
    assert list((tree.parent / "data" / "backups").glob("*/*")) == []
    assert (tree / "a.txt").stat().st_nlink == 1


def test_a_backup_is_the_original_file_linked_into_the_store(
    vegafs: Vegafs, tree: Path, env: dict[str, str]
) -> None:
    """The backup store on the files' file system: each backup is the original inode (linked
    before the new content is renamed over it), its only link afterwards; undo writes its bytes
    back; `ops forget` removes the links."""
    before = tree_state(tree)
    a, b = tree / "a.txt", tree / "sub" / "b.txt"
    originals = {p.stat().st_ino: p for p in (a, b)}
    out = vegafs.run("replace", "colour", "color", "t", "--apply", cwd=tree.parent, env=env)
    assert out.returncode == 0, out.stderr
    assert a.stat().st_ino not in originals and b.stat().st_ino not in originals
    backups = sorted((tree.parent / "data" / "backups").glob("*/*"))
    kept = {p.stat().st_ino: p for p in backups}
    assert sorted(kept) == sorted(originals)
    for ino, backup in kept.items():
        st, name = backup.stat(), str(originals[ino].relative_to(tree))
        assert (backup.read_bytes(), st.st_mode, st.st_mtime_ns) == before[name]
        assert st.st_nlink == 1
    done = vegafs.run("undo", "1", "--apply", cwd=tree.parent, env=env)
    assert done.returncode == 0, done.stderr
    assert tree_state(tree) == before
    forgot = vegafs.run("ops", "forget", "1", cwd=tree.parent, env=env)
    assert forgot.stderr == "vegafs: operation 1 forgotten: 2 backups deleted\n"
    assert not any(p.exists() for p in backups)


def test_a_backup_store_on_another_file_system_holds_copies(
    vegafs: Vegafs, tree: Path, env: dict[str, str]
) -> None:
    """The backup store on a tmpfs (/dev/shm), the files elsewhere: no link can cross, so each
    backup is a copy of the bytes and times (mode 0600); undo writes them back."""
    data = Path(tempfile.mkdtemp(prefix="vegafs-backups-", dir="/dev/shm"))
    try:
        assert data.stat().st_dev != tree.stat().st_dev
        shm = {**env, "VEGAFS_DATA_DIR": str(data)}
        before = tree_state(tree)
        originals = {(tree / n).stat().st_ino for n in ("a.txt", "sub/b.txt")}
        out = vegafs.run("replace", "colour", "color", "t", "--apply", cwd=tree.parent, env=shm)
        assert out.returncode == 0, out.stderr
        backups = sorted((data / "backups").glob("*/*"))
        assert sorted(p.read_bytes() for p in backups) == sorted(
            [before["a.txt"][0], before["sub/b.txt"][0]]
        )
        assert not originals & {p.stat().st_ino for p in backups}
        assert {p.stat().st_mode & 0o7777 for p in backups} == {0o600}
        assert sorted(p.stat().st_mtime_ns for p in backups) == sorted(
            [before["a.txt"][2], before["sub/b.txt"][2]]
        )
        done = vegafs.run("undo", "1", "--apply", cwd=tree.parent, env=shm)
        assert done.returncode == 0, done.stderr
        assert tree_state(tree) == before
    finally:
        shutil.rmtree(data)


def test_undo_restores_exact_bytes_modes_and_times(vegafs: Vegafs, tree: Path,
                                                   env: dict[str, str]) -> None:  # fmt: skip
    before = tree_state(tree)
    out = vegafs.run("replace", "colour", "color", "t", "--apply", cwd=tree.parent, env=env)
    assert out.returncode == 0, out.stderr
    # Someone edits b.txt since: its undo is refused, a.txt's goes ahead.
    (tree / "sub" / "b.txt").write_text("edited\n")
    preview = vegafs.run("undo", "1", cwd=tree.parent, env=env)
    assert preview.returncode == 1
    assert preview.stdout.decode().splitlines() == [
        f"{tree}/a.txt: restore its content from before the operation",
        f"{tree}/sub/b.txt: refused, changed since the operation: its content is not what the "
        "operation wrote",
    ]
    assert preview.stderr.endswith("1 to restore, 1 refused; nothing was changed (--apply to "
                                   "undo).\n")  # fmt: skip
    done = vegafs.run("undo", "1", "--apply", cwd=tree.parent, env=env)
    assert done.returncode == 1, done.stderr
    after = tree_state(tree)
    assert after["a.txt"] == before["a.txt"]
    assert after["sub/b.txt"][0] == b"edited\n"
    listed = vegafs.run("ops", "list", cwd=tree.parent, env=env).stdout.decode().splitlines()
    assert [line.split("\t")[1:3] for line in listed] == [["committed", "undo"],
                                                          ["undone", "replace"]]  # fmt: skip


def test_an_undo_with_every_entry_refused_applies_nothing_and_may_be_run_again(
    vegafs: Vegafs, tree: Path, env: dict[str, str]
) -> None:
    """Both changed files edited since: `undo --apply` refuses both, records no operation and
    leaves the replace committed (it used to record an empty undo and mark the replace undone,
    so nothing could be undone once the edits were taken back); then it undoes."""
    before = tree_state(tree)
    out = vegafs.run("replace", "colour", "color", "t", "--apply", cwd=tree.parent, env=env)
    assert out.returncode == 0, out.stderr
    written = {n: (tree / n).read_bytes() for n in ["a.txt", "sub/b.txt"]}
    for name in written:
        with (tree / name).open("ab") as f:
            f.write(b"edited\n")
    edited = tree_state(tree)
    done = vegafs.run("undo", "1", "--apply", cwd=tree.parent, env=env)
    assert done.returncode == 1
    assert done.stderr.endswith(
        "vegafs: undo of operation 1: 0 to restore, 2 refused; every entry refused, nothing to "
        "undo: nothing was changed and operation 1 stays committed.\n"
    )
    assert tree_state(tree) == edited
    listed = vegafs.run("ops", "list", cwd=tree.parent, env=env).stdout.decode().splitlines()
    assert [line.split("\t")[:3] for line in listed] == [["1", "committed", "replace"]]
    for name, content in written.items():  # the edits taken back
        (tree / name).write_bytes(content)
    again = vegafs.run("undo", "1", "--apply", cwd=tree.parent, env=env)
    assert again.returncode == 0, again.stderr
    # The contents and modes as before; the times the files have now (a restore keeps them, as
    # the replace kept theirs).
    assert {n: v[:2] for n, v in tree_state(tree).items()} == {n: v[:2] for n, v in before.items()}


def test_undo_round_trip(vegafs: Vegafs, tree: Path, env: dict[str, str]) -> None:
    before = tree_state(tree)
    assert vegafs.run("replace", "o", "0", "t", "--apply", cwd=tree.parent, env=env).returncode == 0
    assert tree_state(tree) != before
    done = vegafs.run("undo", "1", "--apply", cwd=tree.parent, env=env)
    assert done.returncode == 0, done.stderr
    assert tree_state(tree) == before
    assert not list(tree.rglob(".vegafs-*"))


def test_ops_forget_deletes_the_backups(vegafs: Vegafs, tree: Path, env: dict[str, str]) -> None:
    assert vegafs.run("replace", "colour", "color", "t", "--apply", cwd=tree.parent,
                      env=env).returncode == 0  # fmt: skip
    backups = tree.parent / "data" / "backups"
    assert len(list(backups.glob("*/*"))) == 2
    out = vegafs.run("ops", "forget", "1", cwd=tree.parent, env=env)
    assert (out.returncode, out.stderr) == (0, "vegafs: operation 1 forgotten: 2 backups deleted\n")
    assert list(backups.iterdir()) == []
    listed = vegafs.run("ops", "list", cwd=tree.parent, env=env)
    assert ops_listed(listed.stdout) == [["1", "forgotten", "replace", "2/2"]]
    undo = vegafs.run("undo", "1", cwd=tree.parent, env=env)
    assert (undo.returncode, undo.stderr) == (
        2, "vegafs: error: operation 1 was forgotten (vegafs ops forget): its backups are "
           "deleted, so it cannot be undone\n"
    )  # fmt: skip
    unknown = vegafs.run("ops", "forget", "9", cwd=tree.parent, env=env)
    assert (unknown.returncode, unknown.stderr) == (2, "vegafs: error: no writing operation 9\n")


def test_an_applied_replace_journals_without_loading_sqlalchemy(
    vegafs: Vegafs, tree: Path, env: dict[str, str]
) -> None:
    """The journal reaches its SQLite database through the driver alone: once the database
    exists (the first writing command migrates it, with Alembic), a writing command never
    imports SQLAlchemy, whose import was most of its start-up (docs/benchmarks.md)."""
    first = vegafs.run("replace", "colour", "color", "t", "--apply", cwd=tree.parent, env=env)
    assert first.returncode == 0, first.stderr
    timed = {**env, "PYTHONPROFILEIMPORTTIME": "1"}
    out = vegafs.run("replace", "one", "1", "t", "--apply", cwd=tree.parent, env=timed)
    assert out.returncode == 0, out.stderr
    imported = {line.rpartition("|")[2].strip() for line in out.stderr.splitlines()
                if line.startswith("import time:")}  # fmt: skip
    assert {"vegafs.journal.store", "vegafs.db.plain", "sqlite3"} <= imported
    assert {m for m in imported if m.split(".")[0] in ("sqlalchemy", "alembic")} == set()
    assert (tree / "a.txt").read_text() == "color 1\nplain\n"
    assert "applied as operation 2" in out.stderr


def test_backups_older_than_the_retention_are_forgotten_when_a_writing_operation_starts(
    vegafs: Vegafs, tree: Path, env: dict[str, str]
) -> None:
    from sqlalchemy import update

    from vegafs.db import Database
    from vegafs.db.database import utcnow
    from vegafs.db.models import WriteOp

    replace = ["replace", "colour", "color", "t", "--apply"]
    assert vegafs.run(*replace, cwd=tree.parent, env=env).returncode == 0
    assert vegafs.run("replace", "one", "1", "t", "--apply", cwd=tree.parent,
                      env=env).returncode == 0  # fmt: skip
    # Operation 1 finished 3 days ago, operation 2 just now.
    db = Database(f"sqlite:///{tree.parent / 'data' / 'vegafs.db'}")
    with db.write() as conn:
        three_days = utcnow() - timedelta(days=3)
        conn.execute(update(WriteOp).where(WriteOp.id == 1).values(updated_at=three_days))
    db.dispose()
    backups = tree.parent / "data" / "backups"
    assert len(list(backups.glob("*/*"))) == 3
    keep = {**env, "VEGAFS_BACKUP_RETENTION_DAYS": "2"}
    # A plan is not a writing operation: nothing is forgotten.
    assert vegafs.run("replace", "nothing", "x", "t", cwd=tree.parent, env=keep).returncode == 0
    assert len(list(backups.glob("*/*"))) == 3
    assert vegafs.run("replace", "plain", "PLAIN", "t", "--apply", cwd=tree.parent,
                      env=keep).returncode == 0  # fmt: skip
    listed = vegafs.run("ops", "list", cwd=tree.parent, env=env)
    assert ops_listed(listed.stdout) == [
        ["3", "committed", "replace", "1/1"],
        ["2", "committed", "replace", "1/1"],
        ["1", "forgotten", "replace", "2/2"],
    ]
    assert len(list(backups.glob("*/*"))) == 2  # operations 2 and 3: one file each


def test_permission_denied_rolls_back(vegafs: Vegafs, tree: Path, env: dict[str, str],
                                      unprivileged: list[str]) -> None:  # fmt: skip
    before = tree_state(tree)
    (tree / "sub").chmod(0o555)  # b.txt is readable, but nothing can be created beside it
    try:
        out = vegafs.run("replace", "colour", "color", "t", "--apply", cwd=tree.parent, env=env,
                         prefix=unprivileged)  # fmt: skip
    finally:
        (tree / "sub").chmod(0o755)
    assert out.returncode == 1, out.stderr
    temp = rf"{tree}/sub/\.vegafs-\d+-[0-9a-f]{{8}}-1"
    assert re.fullmatch(
        rf"vegafs: error: not applied: {tree}/sub/b.txt: writing its new content beside it "
        rf"\({temp}\): Permission denied \(os error 13\); every change was rolled back\n",
        out.stderr,
    ), out.stderr
    assert tree_state(tree) == before
    assert not list(tree.rglob(".vegafs-*"))
    listed = vegafs.run("ops", "list", cwd=tree.parent, env=env)
    assert ops_listed(listed.stdout) == [["1", "rolled_back", "replace", "0/2"]]


def test_a_full_disk_rolls_back(vegafs: Vegafs, small_disk: Path, env: dict[str, str]) -> None:
    (small_disk / "a-small.txt").write_text("old\n")
    (small_disk / "b-big.txt").write_bytes(b"old\n" * 150_000)  # 600 kB of 1 MiB
    before = tree_state(small_disk)
    out = vegafs.run("replace", "old", "new", str(small_disk), "--apply", cwd=small_disk, env=env)
    assert out.returncode == 1, out.stderr
    temp = rf"{small_disk}/\.vegafs-\d+-[0-9a-f]{{8}}-1"
    assert re.fullmatch(
        rf"vegafs: error: not applied: {small_disk}/b-big.txt: writing its new content beside "
        rf"it \({temp}\): No space left on device \(os error 28\); every change was rolled "
        r"back\n",
        out.stderr,
    ), out.stderr
    assert tree_state(small_disk) == before
    assert sorted(p.name for p in small_disk.iterdir()) == ["a-small.txt", "b-big.txt"]


N = 2000


def make_tree(root: Path) -> dict[str, bytes]:
    """N files in 30 directories, each with a few lines, one in three without a match."""
    for i in range(N):
        d = root / f"d{i % 30:02}"
        d.mkdir(parents=True, exist_ok=True)
        word = "apple" if i % 3 else "pear"
        (d / f"f{i:05}.txt").write_bytes(
            b"%d %s\nline two %s\n" % (i, word.encode(), b"x" * (i % 50))
        )
    return {str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*.txt"))}


def test_kill_9_at_random_points_then_recover(vegafs: Vegafs, tmp_path: Path) -> None:
    """20 kills at random points of a replace over 2,000 files, applied back and forth (and one
    kill during a recovery): after `vegafs recover` every file has its old content or its new
    one entirely, all of them the same way, no temporary file left; a second recover changes
    nothing."""
    root = tmp_path / "t"
    original = make_tree(root)
    flipped = {k: v.replace(b"apple", b"APPLE") for k, v in original.items()}
    env = cli_env() | {"VEGAFS_DATA_DIR": str(tmp_path / "data")}
    db = tmp_path / "data" / "vegafs.db"

    def args(state: dict[str, bytes]) -> list[str]:
        a, b = ("apple", "APPLE") if state == original else ("APPLE", "apple")
        return [str(vegafs.exe), "replace", a, b, str(root), "--apply"]

    def state() -> dict[str, bytes]:
        return {str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*.txt"))}

    # How long an apply keeps its operation unfinished here, from its journal to its commit (one
    # batch of 2,000 files commits well before the process exits): the shorter of the second
    # and third runs (the first also syncs the tree just made; later runs are quicker still,
    # by half: kills are drawn from the first half of it, or most would land after the commit).
    assert start_and_wait_for_apply(args(original), env, db).wait(SUBPROCESS_TIMEOUT) == 0
    assert state() == flipped
    apply_s = min(applying_span(args(flipped), env, db), applying_span(args(original), env, db))
    current = flipped
    assert state() == current
    rng = random.Random(11)
    seen = {"old": 0, "new": 0, "recovered": 0}
    for point in range(20):
        child = start_and_wait_for_apply(args(current), env, db)
        time.sleep(rng.uniform(0, apply_s / 2))
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
        assert not list(root.rglob(".vegafs-*")), f"kill {point}: a temporary file left"
        # No backup of a rolled-back operation left linked to a file.
        assert {p.stat().st_nlink for p in root.rglob("*.txt")} == {1}, f"kill {point}"
        now = state()
        other = original if current == flipped else flipped
        if now == current:
            seen["old"] += 1
        else:
            assert now == other, f"kill {point}: a half-applied tree"
            seen["new"] += 1
            current = now
        again = subprocess.run([str(vegafs.exe), "recover"], env=env, capture_output=True,
                               timeout=SUBPROCESS_TIMEOUT, check=False)  # fmt: skip
        assert again.stderr == b"vegafs: nothing to recover\n"
        assert state() == now
    assert seen["old"] and seen["recovered"] >= 5, seen
    shutil.rmtree(tmp_path / "data")


def test_an_undo_beneath_the_roots_checks_each_files_size(
    vegafs: Vegafs, tree: Path, env: dict[str, str]
) -> None:
    """An undo planned and applied beneath the roots (as a job's is) checks each file's size as
    well as its device, inode and mtime, looked at beneath the roots: a file grown since the
    plan, its mtime put back, is not overwritten; nothing is."""
    from vegafs.journal.undo import apply_undo, plan_undo
    from vegafs.settings import get_settings

    assert vegafs.run("replace", "colour", "color", "t", "--apply", cwd=tree.parent,
                      env=env).returncode == 0  # fmt: skip
    a, b = tree / "a.txt", tree / "sub" / "b.txt"
    get_settings.cache_clear()  # the backups of the undo go to this test's data directory
    journal = journal_at(tree.parent / "data" / "vegafs.db")
    try:
        plan = plan_undo(journal, 1, beneath=[str(tree)])
        assert [r["action"] for r in plan.rows] == ["restore", "restore"]
        st = a.stat()
        with a.open("ab") as f:
            f.write(b"written after the plan\n")
        os.utime(a, ns=(st.st_atime_ns, st.st_mtime_ns))
        with pytest.raises(ApplyError) as e:
            apply_undo(journal, plan, beneath=[str(tree)])
    finally:
        journal.close()
        get_settings.cache_clear()
    assert str(e.value).startswith(f"{a}: changed since the plan"), e.value
    assert a.read_bytes() == b"color one\nplain\nwritten after the plan\n"
    assert a.stat().st_mtime_ns == st.st_mtime_ns
    assert b.read_bytes() == b"no color here? color!\n"

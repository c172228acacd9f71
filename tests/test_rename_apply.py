"""`vegafs rename --apply`: journaled renames, all of them or none: a failed step or a cancel
rolls back; a kill -9 at any point is recovered by `vegafs recover`, twice harmlessly."""

import random
import signal
import sqlite3
import subprocess
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from conftest import SUBPROCESS_TIMEOUT, Vegafs, cli_env
from vegafs import _native
from vegafs.db import migrate
from vegafs.db.database import Database
from vegafs.db.plain import PlainDatabase
from vegafs.errors import ApplyError
from vegafs.journal.runner import apply, recover
from vegafs.journal.store import Journal, Step
from vegafs.journal.undo import UndoError, plan_undo


def tree_state(root: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in root.iterdir()}


def journal_at(path: Path) -> Journal:
    """The journal in a SQLite file at ``path``, migrated."""
    url = f"sqlite:///{path}"
    db = Database(url, durable=True)
    migrate.upgrade(db)
    db.dispose()
    return Journal(PlainDatabase(url))


@pytest.fixture
def journal(tmp_path: Path) -> Journal:
    return journal_at(tmp_path / "journal.db")


def steps_for(pairs: list[tuple[Path, Path]]) -> list[Step]:
    ids = _native.identities([str(a) for a, _ in pairs])
    return [Step(str(a), str(b), *i) for (a, b), i in zip(pairs, ids, strict=True) if i]


def test_apply_runs_a_cycle_and_a_chain(vegafs: Vegafs, tmp_path: Path) -> None:
    root = tmp_path / "d"
    root.mkdir()
    for n in ["1", "2", "3", "4"]:
        (root / f"{n}.txt").write_text(n)
    env = {"VEGAFS_DATA_DIR": str(tmp_path / "data")}
    # Reversed numbering: 4->1, 3->2, 2->3, 1->4: two 2-cycles.
    out = vegafs.run("rename", "d", "--to", "{n}.txt", "--reverse", "--apply", cwd=tmp_path,
                     env=env)  # fmt: skip
    assert out.returncode == 0, out.stderr
    assert out.stderr.endswith("(6 steps); applied as operation 1 (vegafs ops show 1).\n")
    assert tree_state(root) == {"1.txt": b"4", "2.txt": b"3", "3.txt": b"2", "4.txt": b"1"}
    listed = vegafs.run("ops", "list", cwd=tmp_path, env=env).stdout.decode()
    *fields, created = listed.removesuffix("\n").split("\t")
    assert fields == ["1", "committed", "rename", "6/6"]
    [record] = journal_at(tmp_path / "data" / "vegafs.db").all()
    assert record.created_at is not None
    assert created == record.created_at.strftime("%Y-%m-%dT%H:%M:%SZ")
    assert abs(datetime.now(UTC) - record.created_at.replace(tzinfo=UTC)) < timedelta(minutes=1)
    shown = vegafs.run("ops", "show", "1", cwd=tmp_path, env=env).stdout.decode().splitlines()
    assert shown[0] == "operation 1: rename, committed, 6/6 steps"
    assert len(shown) == 7 and all(" -> " in line for line in shown[1:])


def test_the_journal_spells_paths_without_their_dot_names(vegafs: Vegafs, tmp_path: Path) -> None:
    """A target planned as `./x/a.txt` (`--dest .`) is journaled, and shown, as `CWD/x/a.txt`
    (it was `CWD/./x/a.txt`); a `..` is kept as written."""
    (tmp_path / "d" / "e").mkdir(parents=True)
    (tmp_path / "d" / "a.txt").write_text("a")
    env = {"VEGAFS_DATA_DIR": str(tmp_path / "data")}
    out = vegafs.run("move", "d", "--dest", ".", "--to", "x/{name}", "-t", "f", "--apply",
                     cwd=tmp_path, env=env)  # fmt: skip
    assert out.returncode == 0, out.stderr
    out = vegafs.run("copy", "x/a.txt", "d/e/../", "--to", "c.txt", "--apply", cwd=tmp_path,
                     env=env)  # fmt: skip
    assert out.returncode == 0, out.stderr
    shown = [vegafs.run("ops", "show", n, cwd=tmp_path, env=env).stdout.decode().splitlines()[1:]
             for n in ["1", "2"]]  # fmt: skip
    assert shown == [[f"mkdir {tmp_path}/x", f"{tmp_path}/d/a.txt -> {tmp_path}/x/a.txt"],
                     [f"{tmp_path}/x/a.txt -> {tmp_path}/d/e/../c.txt"]]  # fmt: skip


def test_a_failed_step_rolls_back_every_change(journal: Journal, tmp_path: Path) -> None:
    root = tmp_path / "d"
    root.mkdir()
    for n in ["a", "b", "c", "in-the-way"]:
        (root / n).write_text(n)
    before = tree_state(root)
    steps = steps_for([(root / "a", root / "x"), (root / "b", root / "y"),
                       (root / "c", root / "in-the-way")])  # fmt: skip
    with pytest.raises(ApplyError) as caught:
        apply(journal, "rename", {}, steps)
    assert caught.value.rolled_back
    assert "File exists" in str(caught.value) and "in-the-way" in str(caught.value)
    assert tree_state(root) == before
    (op,) = journal.all()
    assert (op.state, op.steps_done, op.steps_total) == ("rolled_back", 0, 3)


def test_a_cancel_rolls_back(journal: Journal, tmp_path: Path) -> None:
    root = tmp_path / "d"
    root.mkdir()
    (root / "a").write_text("a")
    cancel = _native.CancelToken()
    cancel.cancel()
    with pytest.raises(ApplyError, match="cancelled"):
        apply(journal, "rename", {}, steps_for([(root / "a", root / "b")]), cancel)
    assert tree_state(root) == {"a": b"a"}
    assert journal.all()[0].state == "rolled_back"


def test_recovery_finds_on_disk_which_steps_were_done(journal: Journal, tmp_path: Path) -> None:
    """A crash after two of three steps, the journal knowing of none: recover reverses the two,
    and a second recover does nothing."""
    root = tmp_path / "d"
    root.mkdir()
    for n in ["a", "b", "c"]:
        (root / n).write_text(n)
    steps = steps_for(
        [(root / "a", root / "x"), (root / "b", root / "y"), (root / "c", root / "z")]
    )
    op_id = journal.begin("rename", {}, steps)
    assert _native.rename_steps([(s.src, s.dst) for s in steps[:2]]) == (2, None)
    assert [(r.op_id, r.state) for r in recover(journal)] == [(op_id, "rolled_back")]
    assert tree_state(root) == {"a": b"a", "b": b"b", "c": b"c"}
    assert recover(journal) == []


def test_an_undo_recovered_forward_marks_its_operation_undone(
    journal: Journal, tmp_path: Path
) -> None:
    """A crash after an undo's last rename, before its commit: recovery commits the undo and,
    in the same transaction, marks the operation it undid, which cannot be undone twice."""
    root = tmp_path / "d"
    root.mkdir()
    (root / "a").write_text("a")
    renamed = apply(journal, "rename", {}, steps_for([(root / "a", root / "b")]))
    plan = plan_undo(journal, renamed.op_id)
    undo_id = journal.begin("undo", {"undo_of": renamed.op_id}, plan.steps)
    assert _native.rename_steps([(s.src, s.dst) for s in plan.steps]) == (1, None)
    assert journal.get(renamed.op_id).state == "committed"  # type: ignore[union-attr]
    assert [(r.op_id, r.state) for r in recover(journal)] == [(undo_id, "committed")]
    assert [(op.id, op.state) for op in journal.all()] == [
        (undo_id, "committed"), (renamed.op_id, "undone")]  # fmt: skip
    assert tree_state(root) == {"a": b"a"}
    with pytest.raises(UndoError, match=f"operation {renamed.op_id} is undone"):
        plan_undo(journal, renamed.op_id)


N = 20_000


def swap_tree(root: Path) -> dict[str, bytes]:
    """N files `fNNNNN.a`; every tenth stem also has a `.b` (its swap is a 2-cycle)."""
    root.mkdir()
    for i in range(N):
        (root / f"f{i:05}.a").write_bytes(b"%d-a" % i)
        if i % 10 == 0:
            (root / f"f{i:05}.b").write_bytes(b"%d-b" % i)
    return tree_state(root)


def swapped(state: dict[str, bytes]) -> dict[str, bytes]:
    flip = {"a": "b", "b": "a"}
    return {name[:-1] + flip[name[-1]]: data for name, data in state.items()}


def applying(db: Path) -> bool:
    """Whether the journal has an operation being applied (its steps are written)."""
    if not db.exists():
        return False
    with sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=5) as conn:
        try:
            found = conn.execute("SELECT 1 FROM write_ops WHERE state = 'applying'").fetchone()
        except sqlite3.OperationalError:  # not migrated yet
            return False
    return found is not None


def start_and_wait_for_apply(
    args: list[str], env: dict[str, str], db: Path
) -> "subprocess.Popen[bytes]":
    child = subprocess.Popen(args, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + SUBPROCESS_TIMEOUT
    while not applying(db) and child.poll() is None:
        assert time.monotonic() < deadline, "the rename never started applying"
        time.sleep(0.002)
    return child


def applying_span(args: list[str], env: dict[str, str], db: Path) -> float:
    """One whole apply (it must succeed): its seconds from its journal written to its commit,
    the span in which a kill leaves something to recover (the exit after it can take longer)."""
    child = start_and_wait_for_apply(args, env, db)
    started = time.monotonic()
    while applying(db) and child.poll() is None:
        time.sleep(0.002)
    span = time.monotonic() - started
    assert child.wait(timeout=SUBPROCESS_TIMEOUT) == 0
    return span


def test_kill_9_at_random_points_then_recover(vegafs: Vegafs, tmp_path: Path) -> None:
    """20 kills at random points of the apply of a 20,000-file rename (and one during a
    recovery): after `vegafs recover` every file is there exactly once, all under the old names
    or all under the new ones, contents unchanged, no temporary name left; a second recover
    changes nothing."""
    root = tmp_path / "t"
    original = swap_tree(root)
    env = cli_env() | {"VEGAFS_DATA_DIR": str(tmp_path / "data")}
    db = tmp_path / "data" / "vegafs.db"
    swap = "{stem}.{ext|replace:a:c|replace:b:a|replace:c:b}"
    args = [str(vegafs.exe), "rename", str(root), "--to", swap, "--apply"]
    # How long the renames take here: one run to the end.
    child = start_and_wait_for_apply(args, env, db)
    started = time.monotonic()
    assert child.wait(timeout=SUBPROCESS_TIMEOUT) == 0
    apply_s = time.monotonic() - started
    original = swapped(original)
    assert tree_state(root) == original
    rng = random.Random(7)
    seen = {"old": 0, "new": 0, "recovered": 0}
    for point in range(20):
        child = start_and_wait_for_apply(args, env, db)
        time.sleep(rng.uniform(0, 1.2 * apply_s))
        child.send_signal(signal.SIGKILL)
        child.wait(timeout=SUBPROCESS_TIMEOUT)
        if point == 10:  # once, kill the recovery too
            null = subprocess.DEVNULL
            rec = subprocess.Popen([str(vegafs.exe), "recover"], env=env, stdout=null, stderr=null)
            time.sleep(rng.uniform(0.2, 0.2 + apply_s))
            rec.send_signal(signal.SIGKILL)
            rec.wait(timeout=SUBPROCESS_TIMEOUT)
        done = subprocess.run([str(vegafs.exe), "recover"], env=env, capture_output=True,
                              timeout=SUBPROCESS_TIMEOUT, check=False)  # fmt: skip
        assert done.returncode == 0, done.stderr
        seen["recovered"] += done.stdout.count(b"operation ")
        state = tree_state(root)
        assert not [n for n in state if n.startswith(".vegafs-")]
        if state == original:
            seen["old"] += 1
        else:
            assert state == swapped(original), f"kill {point}: a half-applied tree"
            seen["new"] += 1
            original = state
        again = subprocess.run([str(vegafs.exe), "recover"], env=env, capture_output=True,
                               timeout=SUBPROCESS_TIMEOUT, check=False)  # fmt: skip
        assert again.stderr == b"vegafs: nothing to recover\n"
        assert tree_state(root) == state
    # Kills landed mid-apply (recovered), and the outcomes were sometimes the old names (rolled
    # back, or killed before the first rename) and sometimes the new ones (killed after the
    # last): each was seen.
    assert seen["old"] and seen["recovered"] >= 5, seen


def test_the_next_apply_recovers_first_then_plans_on_the_restored_tree(
    vegafs: Vegafs, tmp_path: Path
) -> None:
    """A rename killed half-way, then the same rename run again with no `vegafs recover`: the
    second run recovers the first (the plan it made meanwhile, on the half-renamed tree, is
    made again) and applies once on the tree recovery left."""
    root = tmp_path / "t"
    original = swap_tree(root)
    names = set(original)
    env = cli_env() | {"VEGAFS_DATA_DIR": str(tmp_path / "data")}
    db = tmp_path / "data" / "vegafs.db"
    swap = "{stem}.{ext|replace:a:c|replace:b:a|replace:c:b}"
    args = [str(vegafs.exe), "rename", str(root), "--to", swap, "--apply"]
    for _ in range(5):  # until a kill lands with some renames done and some not
        child = start_and_wait_for_apply(args, env, db)
        deadline = time.monotonic() + SUBPROCESS_TIMEOUT
        while {p.name for p in root.iterdir()} == names and child.poll() is None:
            assert time.monotonic() < deadline
            time.sleep(0.001)
        child.send_signal(signal.SIGKILL)
        child.wait(timeout=SUBPROCESS_TIMEOUT)
        killed = tree_state(root)
        if killed not in (original, swapped(original)):
            break
        original = killed
        assert subprocess.run([str(vegafs.exe), "recover"], env=env, check=False).returncode == 0
    else:
        pytest.fail("no kill landed in the middle of the renames")
    done = subprocess.run(args, env=env, capture_output=True, timeout=SUBPROCESS_TIMEOUT,
                          check=False)  # fmt: skip
    assert done.returncode == 0, done.stderr
    with sqlite3.connect(db) as conn:
        states = [row[0] for row in conn.execute("SELECT state FROM write_ops ORDER BY id")]
    *_, first, second = states
    assert second == "committed"
    # Rolled back: the second run swapped the original tree; committed: it swapped it back.
    assert tree_state(root) == (swapped(original) if first == "rolled_back" else original)
    assert first in ("rolled_back", "committed")


def test_undo_moves_back_what_is_still_there(vegafs: Vegafs, tmp_path: Path) -> None:
    root = tmp_path / "d"
    root.mkdir()
    for n in ["1", "2", "3", "4"]:
        (root / f"{n}.txt").write_text(n)
    before = tree_state(root)
    env = {"VEGAFS_DATA_DIR": str(tmp_path / "data")}
    out = vegafs.run("rename", "d", "--to", "{n}.txt", "--reverse", "--apply", cwd=tmp_path,
                     env=env)  # fmt: skip
    assert out.returncode == 0, out.stderr
    # Someone deletes one renamed file and puts another in its place: refused, the rest undone.
    (root / "2.txt").unlink()
    (root / "2.txt").write_text("new")
    preview = vegafs.run("undo", "1", cwd=tmp_path, env=env)
    assert preview.returncode == 1
    assert tree_state(root) == {"1.txt": b"4", "2.txt": b"new", "3.txt": b"2", "4.txt": b"1"}
    lines = preview.stdout.decode().splitlines()
    changed = "refused, changed since the operation: another entry is there now"
    assert f"{root}/2.txt -> {root}/3.txt: {changed}" in lines
    # 3.txt (was 2.txt) cannot go back to 2.txt, taken now: refused by the plan, it stays too.
    assert f"{root}/3.txt -> {root}/2.txt: refused, the target exists" in lines
    assert preview.stderr.endswith(
        "2 to move back, 2 refused; nothing was changed (--apply to undo).\n"
    )
    done = vegafs.run("undo", "1", "--apply", cwd=tmp_path, env=env)
    assert done.returncode == 1, done.stderr
    state = tree_state(root)
    assert state["1.txt"] == before["1.txt"] and state["4.txt"] == before["4.txt"]
    assert state["2.txt"] == b"new" and state["3.txt"] == b"2"
    listed = vegafs.run("ops", "list", cwd=tmp_path, env=env).stdout.decode().splitlines()
    assert listed[0].split("\t")[1:3] == ["committed", "undo"]
    assert listed[1].split("\t")[1:3] == ["undone", "rename"]
    again = vegafs.run("undo", "1", cwd=tmp_path, env=env)
    assert (again.returncode, again.stderr) == (
        2, "vegafs: error: operation 1 is undone: only a committed operation can be undone\n"
    )  # fmt: skip


def test_overwrite_keeps_the_replaced_file_aside_and_undo_restores_it(
    vegafs: Vegafs, tmp_path: Path
) -> None:
    root = tmp_path / "d"
    root.mkdir()
    (root / "a.txt").write_text("new")
    (root / "a.bak").write_text("old")
    (root / "sub.txt").write_text("s")
    (root / "sub.bak").mkdir()  # a directory is never overwritten
    env = {"VEGAFS_DATA_DIR": str(tmp_path / "data")}
    args = ["rename", "d", "-m", r"\.txt$", "--to", "{stem}.bak", "--on-conflict", "overwrite"]
    refused = vegafs.run(*args, cwd=tmp_path, env=env)
    assert refused.returncode == 1
    assert "d/sub.txt -> d/sub.bak: refused, the target exists" in refused.stdout.decode()
    (root / "sub.bak").rmdir()
    (root / "sub.txt").unlink()
    planned = vegafs.run(*args, cwd=tmp_path, env=env)
    lines = planned.stdout.decode().splitlines()
    assert lines[0] == "d/a.txt -> d/a.bak"
    assert lines[1].startswith("d/a.bak -> d/.vegafs-") and lines[1].endswith("-old-1")
    assert tree_state(root) == {"a.txt": b"new", "a.bak": b"old"}
    applied = vegafs.run(*args, "--apply", cwd=tmp_path, env=env)
    assert applied.returncode == 0, applied.stderr
    state = tree_state(root)
    [aside] = [n for n in state if n.startswith(".vegafs-")]
    assert state == {"a.bak": b"new", aside: b"old"}
    undone = vegafs.run("undo", "1", "--apply", cwd=tmp_path, env=env)
    assert undone.returncode == 0, undone.stderr
    assert tree_state(root) == {"a.txt": b"new", "a.bak": b"old"}
    # Applied again, then forgotten: the file set aside is deleted.
    again = vegafs.run(*args, "--apply", cwd=tmp_path, env=env)
    assert again.returncode == 0, again.stderr
    forgot = vegafs.run("ops", "forget", "3", cwd=tmp_path, env=env)
    assert (forgot.returncode, forgot.stderr) == (
        0, "vegafs: operation 3 forgotten: 1 backups deleted\n"
    )  # fmt: skip
    assert tree_state(root) == {"a.bak": b"new"}

"""Property tests of the planners (hypothesis): random renames and moves over a small tree of
files and directories, with swaps, cycles, chains onto existing entries, several entries onto
one target, case-only changes and directories into themselves. Planning never touches the disk;
a plan that may be applied runs without an error and leaves the tree a model computed here
predicts; a collision is always refused in the plan; the files' contents are all still there,
each once."""

import os
import tempfile
from collections import Counter
from pathlib import Path
from typing import Any

from hypothesis import event, given, settings
from hypothesis import strategies as st

from vegafs import _native

NAMES = ["a", "b", "A", "c"]  # "A": case-only changes of "a"
FILE = None  # a leaf of a generated tree; a dict is a directory

trees = st.dictionaries(
    st.sampled_from(NAMES),
    st.one_of(st.just(FILE), st.dictionaries(st.sampled_from(NAMES), st.just(FILE), max_size=3)),
    min_size=1,
    max_size=4,
)
policies = st.sampled_from(["fail", "fail", "skip", "suffix"])


def make(root: Path, tree: dict[str, Any]) -> list[Path]:
    """Writes `tree` below `root`, each file's content its path; every path made."""
    made = []
    for name, sub in tree.items():
        p = root / name
        made.append(p)
        if sub is FILE:
            p.write_bytes(os.fsencode(p))
        else:
            p.mkdir()
            made.extend(make(p, sub))
    return made


def state(root: Path) -> dict[str, bytes | None]:
    """Every path below `root`: a file's content, None for a directory."""
    return {
        str(p.relative_to(root)): None if p.is_dir() else p.read_bytes() for p in root.rglob("*")
    }


def model(root: Path, before: dict[str, bytes | None], rows: list[dict[str, Any]]) -> Any:
    """The tree after the accepted moves, paths read as the tree was before them: an entry that
    moves goes to its target's directory (where that directory ends up), and what is in a
    directory goes along with it."""
    moves = {Path(r["from"]): Path(r["to"]) for r in rows if r["action"] == "move"}

    def final(p: Path) -> Path:
        if p == root:
            return root
        if p in moves:
            t = moves[p]
            return final(t.parent) / t.name
        return final(p.parent) / p.name

    out: dict[str, bytes | None] = {}
    for rel, content in before.items():
        out[str(final(root / rel).relative_to(root))] = content
    for r in rows:  # directories made for the moves, where they end up
        if r["action"] == "move":
            d = Path(r["to"]).parent
            while d != root and str(d.relative_to(root)) not in before:
                out.setdefault(str(final(d).relative_to(root)), None)
                d = d.parent
    return out


def run_plan(mkdirs: list[str], steps: list[tuple[str, str, int]]) -> None:
    for d in mkdirs:
        Path(d).mkdir()
    done, error = _native.rename_steps([(a, b) for a, b, _ in steps])
    assert error is None and done == len(steps), error


def check(root: Path, before: dict[str, bytes | None], planned: Any, policy: str) -> None:
    rows, steps, mkdirs, ok = planned
    assert state(root) == before  # planning changes nothing
    # What the examples covered (pytest --hypothesis-show-statistics).
    event("applied" if ok and steps else "refused" if not ok else "nothing to do")
    if any(".vegafs-" in str(b) for _, b, _ in steps):
        event("a cycle through a temporary name")
    if mkdirs:
        event("directories made")
    refused = [r for r in rows if r["action"] == "refused"]
    if policy == "fail":
        assert ok == (not refused), rows
    if not ok:
        assert (steps, mkdirs) == ([], [])
        return
    expected = model(root, before, rows)
    # No collision got through: every entry has a place of its own.
    assert len(expected) == len(before) + len(mkdirs), (rows, expected)
    run_plan(mkdirs, steps)
    after = state(root)
    assert after == expected, (rows, steps)
    files = Counter(c for c in before.values() if c is not None)
    assert Counter(c for c in after.values() if c is not None) == files


def targets(root: Path, paths: list[Path]) -> st.SearchStrategy[Path]:
    """An existing path (chains, swaps, cycles, collisions), or a new one up to 3 deep."""
    # "n" and "m" never exist: new directories to make, and free names.
    fresh = st.lists(st.sampled_from([*NAMES, "n", "m"]), min_size=1, max_size=3).map(
        lambda parts: root.joinpath(*parts)
    )
    return st.one_of(st.sampled_from(paths), fresh)


@settings(max_examples=100, deadline=None, database=None)
@given(tree=trees, policy=policies, data=st.data())
def test_random_moves(tree: dict[str, Any], policy: str, data: st.DataObject) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp) / "r"
        root.mkdir()
        paths = make(root, tree)
        before = state(root)
        pairs = data.draw(
            st.lists(
                st.tuples(st.sampled_from(paths), targets(root, paths)),
                min_size=1,
                max_size=5,
                unique_by=lambda p: p[0],
            )
        )
        moves = [(str(a), str(b)) for a, b in pairs]
        check(root, before, _native.plan_tree_moves(moves, policy, "prop"), policy)


@settings(max_examples=100, deadline=None, database=None)
@given(tree=trees, policy=policies, data=st.data())
def test_random_renames(tree: dict[str, Any], policy: str, data: st.DataObject) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp) / "r"
        root.mkdir()
        paths = make(root, tree)
        before = state(root)
        pairs = data.draw(
            st.lists(
                st.tuples(st.sampled_from(paths), st.sampled_from(NAMES)),
                min_size=1,
                max_size=5,
                unique_by=lambda p: p[0],
            )
        )
        moves = [(str(a), str(a.with_name(n))) for a, n in pairs]
        rows, steps, ok = _native.plan_moves(moves, policy, "prop", True)
        check(root, before, (rows, steps, [], ok), policy)


def test_the_collisions_the_generators_aim_at() -> None:
    """The cases named in the module's docstring, each once, as examples."""
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        for name in ["x", "y", "z"]:
            (root / name).write_text(name)
        (root / "d").mkdir()
        r = str(root)
        cases = {
            "swap": [(f"{r}/x", f"{r}/y"), (f"{r}/y", f"{r}/x")],
            "3-cycle": [(f"{r}/x", f"{r}/y"), (f"{r}/y", f"{r}/z"), (f"{r}/z", f"{r}/x")],
            "chain onto a file that moves": [(f"{r}/x", f"{r}/y"), (f"{r}/y", f"{r}/n/y")],
        }
        for name, moves in cases.items():
            _rows, _steps, _mkdirs, ok = _native.plan_tree_moves(moves, "fail", "t")
            assert ok, name
        refused = {
            "many to one": [(f"{r}/x", f"{r}/n/q"), (f"{r}/y", f"{r}/n/q")],
            "onto a file that stays": [(f"{r}/x", f"{r}/y")],
            "a directory into itself": [(f"{r}/d", f"{r}/d/e/d")],
        }
        reasons = {}
        for name, moves in refused.items():
            rows, steps, mkdirs, ok = _native.plan_tree_moves(moves, "fail", "t")
            assert (ok, steps, mkdirs) == (False, [], []), name
            reasons[name] = {r["reason"] for r in rows if r["action"] == "refused"}
        assert reasons == {
            "many to one": {"several entries onto this target"},
            "onto a file that stays": {"the target exists"},
            "a directory into itself": {"a directory into itself"},
        }

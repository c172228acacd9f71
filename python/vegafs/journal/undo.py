"""Undo: the reverse of a committed writing operation, built from its journal and checked again.

Each entry the operation moved (known by device and inode) goes back from where the operation
left it to where it found it, if it is still there; an entry moved, replaced or deleted since is
refused with its reason and stays where it is. The moves are planned like any others (no
overwrite, chains and cycles ordered; a move whose old name is taken meanwhile is refused) and
applied through the journal as an operation of their own ("undo"), after which the undone one
is marked ``undone``.
"""

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from vegafs import _native
from vegafs.errors import VegaFSError
from vegafs.journal.runner import Applied, apply
from vegafs.journal.store import COMMITTED, UNDONE, Journal, Step


class UndoError(VegaFSError):
    """The operation cannot be undone: unknown, not committed, or undone already."""


@dataclass(frozen=True)
class UndoPlan:
    op_id: int
    rows: list[dict[str, Any]]  # {"from", "to", "action", "reason"}, one per entry
    steps: list[Step]
    operation: str = "rename"  # the operation undone

    @property
    def refused(self) -> int:
        return sum(row["action"] == "refused" for row in self.rows)


def plan_undo(journal: Journal, op_id: int) -> UndoPlan:
    op = journal.get(op_id)
    if op is None:
        raise UndoError(f"no writing operation {op_id}")
    if op.state != COMMITTED:
        raise UndoError(f"operation {op_id} is {op.state.replace('_', ' ')}: only a committed "
                        "operation can be undone")  # fmt: skip
    if op.operation == "copy":
        return _plan_copy_undo(op_id, journal.steps(op_id))
    # Each entry: where the operation found it (its first step's source) and where it left it
    # (its last step's target).
    first: dict[tuple[int, int, int], str] = {}
    last: dict[tuple[int, int, int], str] = {}
    for step in journal.steps(op_id):
        key = step.identity
        first.setdefault(key, step.src)
        last[key] = step.dst
    keys = list(first)
    now = _native.identities([last[k] for k in keys])
    moves: list[tuple[str, str]] = []
    moved: list[tuple[int, int, int]] = []
    refused: list[dict[str, Any]] = []
    for key, found in zip(keys, now, strict=True):
        if found == key:
            moves.append((last[key], first[key]))
            moved.append(key)
        else:
            why = "not there any more" if found is None else "another entry is there now"
            refused.append({"from": last[key], "to": first[key], "action": "refused",
                            "reason": f"changed since the operation: {why}"})  # fmt: skip
    tag = f"{os.getpid()}-{os.urandom(4).hex()}"
    rows, steps, _ok = _native.plan_moves(moves, "skip", tag, False)
    plan_steps = [Step(os.fsdecode(a), os.fsdecode(b), *moved[row]) for a, b, row in steps]
    return UndoPlan(op_id, [*rows, *refused], plan_steps)


def apply_undo(
    journal: Journal, plan: UndoPlan, cancel: _native.CancelToken | None = None
) -> Applied:
    """Runs the plan through the journal (all of it or none), then marks the operation
    undone."""
    applied = apply(journal, "undo", {"undo_of": plan.op_id}, plan.steps, cancel)
    journal.set_state(plan.op_id, UNDONE)
    return applied


def _plan_copy_undo(op_id: int, done: list[Step]) -> UndoPlan:
    """The undo of a copy: each copy that is still the file the copy wrote (its mtime, and its
    content: the digest if the copy was verified, else the source's bytes) is removed; one that
    changed, or whose source changed so that nothing tells, is refused and stays. Then the
    directories the copy made, deepest first, if they are empty."""
    copies = [s for s in done if s.kind == "copy"]
    dirs = [s for s in done if s.kind == "copy_mkdir"]
    ours = _native.copies_done([(s.src, s.dst, "", s.identity, s.digest) for s in copies])
    tag = f"{os.getpid()}-{os.urandom(4).hex()}"
    rows: list[dict[str, Any]] = []
    steps: list[Step] = []
    for i, (s, mine) in enumerate(zip(copies, ours, strict=True)):
        if mine:
            # The temporary name, should a rollback copy it back.
            temp = str(Path(s.dst).with_name(f".vegafs-{tag}-{i + 1}"))
            steps.append(Step(s.src, s.dst, s.dev, s.ino, s.stamp, "uncopy", temp, s.digest))
            rows.append({"from": s.dst, "to": s.src, "action": "remove", "reason": None})
        else:
            why = "changed since the copy" if os.path.lexists(s.dst) else "not there any more"
            rows.append({"from": s.dst, "to": s.src, "action": "refused", "reason": why})
    for d in reversed(dirs):
        steps.append(Step(d.src, d.dst, 0, 0, 0, "copy_rmdir"))
        rows.append({"from": d.dst, "to": d.dst, "action": "rmdir", "reason": None})
    return UndoPlan(op_id, rows, steps, "copy")

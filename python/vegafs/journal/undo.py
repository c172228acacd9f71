"""Undo: the reverse of a committed writing operation, built from its journal and checked again.

Each entry the operation moved (known by device and inode) goes back from where the operation
left it to where it found it, if it is still there; an entry moved, replaced or deleted since is
refused with its reason and stays where it is. The moves are planned like any others (no
overwrite, chains and cycles ordered; a move whose old name is taken meanwhile is refused) and
applied through the journal as an operation of their own ("undo"), whose commit marks the undone
one ``undone`` in the same transaction (also when recovery rolls a crashed undo forward).

An operation that created directories (``move``: ``mkdir`` steps) is undone by its own steps
run backwards instead: paths across directories are only valid in the order they were used (an
entry goes back into a directory that goes back first). Each entry still there goes back; one
changed since, or whose old place is taken by something that stays, is refused with the reason
and its steps are left out. Then the directories it created are removed, last created first,
each only if it is empty (``rmdir`` steps): a file anyone put there keeps it.

A file an operation rewrote (a ``replace`` step) gets its backup back if its content still
hashes to what the operation wrote; one changed since (or gone) is refused and left as it is.
The restores are ``replace`` steps of the undo operation: each file backed up again first, so
the undo is all-or-nothing too. An operation whose backups were deleted (``vegafs ops forget``)
cannot be undone.

Every path an undo looks at or changes is, for a job (``beneath``: its roots), opened beneath
the roots without following a symlink; the operation's own paths must all lie inside them
(``outside``). The backups are the journal's, read where the journal keeps them.
"""

import os
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from vegafs import _native
from vegafs.errors import ParamsError
from vegafs.eta import Steps
from vegafs.journal.kinds import move_across
from vegafs.journal.runner import Applied, apply
from vegafs.journal.store import COMMITTED, Journal, OpRecord, Step


class UndoError(ParamsError):
    """The operation cannot be undone: unknown, not committed, or undone already (``field``:
    the undo's ``op_id``)."""

    def __init__(self, message: str) -> None:
        super().__init__(message, "op_id")


@dataclass(frozen=True)
class UndoPlan:
    op_id: int
    rows: list[dict[str, Any]]  # {"from", "to", "action", "reason"}, one per entry
    steps: list[Step]
    rmdirs: tuple[str, ...] = ()  # directories the operation created, removed if empty
    operation: str = "rename"  # the operation undone (its name in the journal)
    # replace steps: the file holding each file's content to write back (its backup), and each
    # file's size now.
    sources: dict[str, str] = field(default_factory=dict)
    sizes: dict[str, int] = field(default_factory=dict)

    @property
    def refused(self) -> int:
        return sum(row["action"] == "refused" for row in self.rows)


def undoable(journal: Journal, op_id: int) -> OpRecord:
    """The operation, if it can be undone; else ``UndoError`` saying why not."""
    op = journal.get(op_id)
    if op is None:
        raise UndoError(f"no writing operation {op_id}")
    if op.state == "forgotten":
        raise UndoError(f"operation {op_id} was forgotten (vegafs ops forget): its backups are "
                        "deleted, so it cannot be undone")  # fmt: skip
    if op.state != COMMITTED:
        raise UndoError(f"operation {op_id} is {op.state.replace('_', ' ')}: only a committed "
                        "operation can be undone")  # fmt: skip
    return op


def outside(steps: Sequence[Step], roots: Sequence[Path]) -> str | None:
    """The first path the steps change that is not inside the roots (as written, ``..``
    removed: nothing on disk is looked at), if any."""
    for step in steps:
        for path in (step.src, step.dst):
            real = Path(os.path.normpath(path))
            if not any(real == root or root in real.parents for root in roots):
                return path
    return None


def plan_undo(journal: Journal, op_id: int, *, beneath: Sequence[str] = ()) -> UndoPlan:
    """The undo of operation ``op_id``; ``beneath``: a job's roots, every path looked at
    opened beneath them (a job first checks that the operation's paths lie inside them:
    ``outside``)."""
    op = undoable(journal, op_id)
    return replace(_plan(journal, op, beneath), operation=op.operation)


def _plan(journal: Journal, op: OpRecord, beneath: Sequence[str]) -> UndoPlan:
    op_id = op.id
    journaled = journal.steps(op_id)
    if op.operation == "copy":
        return _plan_copy_undo(op_id, journaled, beneath)
    if any(step.kind == "replace" for step in journaled):
        return _plan_restores(journal, op_id, beneath)
    if any(step.kind in ("mkdir", "unlink_moved") for step in journaled):
        return _plan_backwards(op_id, journaled, beneath)
    # Each entry: where the operation found it (its first step's source) and where it left it
    # (its last step's target).
    first: dict[tuple[int, int, int], str] = {}
    last: dict[tuple[int, int, int], str] = {}
    for step in journaled:
        if step.kind != "rename":  # an undo's rmdir steps: nothing to move back
            continue
        key = step.identity
        first.setdefault(key, step.src)
        last[key] = step.dst
    keys = list(first)
    now = _native.identities([last[k] for k in keys], beneath=beneath)
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


def _plan_backwards(op_id: int, journaled: list[Step], beneath: Sequence[str]) -> UndoPlan:
    """The undo of an operation that created directories or moved entries across file systems:
    its rename steps backwards (a move across file systems by the same two steps the other way),
    less those of the entries refused, then its directories removed if empty, last created
    first."""
    # An entry moved across file systems: its "unlink_moved" step names its move (the "copy"
    # before it, the same).
    moves = [s for s in journaled if s.kind in ("rename", "unlink_moved")]
    created = [s.dst for s in journaled if s.kind == "mkdir"]
    first: dict[tuple[int, int, int], str] = {}
    last: dict[tuple[int, int, int], Step] = {}
    for step in moves:
        first.setdefault(step.identity, step.src)
        last[step.identity] = step
    keys = list(first)
    now = dict(zip(keys, _native.identities([last[k].dst for k in keys], beneath=beneath),
                   strict=True))  # fmt: skip
    # Whose old place holds something now.
    olds = [first[k] for k in keys]
    taken_now = {p for p, f in zip(olds, _native.identities(olds, beneath=beneath), strict=True)
                 if f is not None}  # fmt: skip
    across = [last[k] for k in keys if last[k].kind == "unlink_moved"]
    copied = dict(zip([s.identity for s in across], _still_copied(across, beneath), strict=True))
    refused: dict[tuple[int, int, int], str] = {}
    for key in keys:
        found, step = now[key], last[key]
        ours = copied[key] if step.kind == "unlink_moved" else found == key
        if not ours:
            why = "not there any more" if found is None else "another entry is there now"
            refused[key] = f"changed since the operation: {why}"
    # An entry whose old place is taken by something that stays (a refused entry, or anything
    # the operation did not move away) stays too; that may keep another one's place: again.
    while True:
        staying = {last[k].dst for k in refused}
        leaving = {last[k].dst for k in keys if k not in refused}
        taken = {
            k: "its old place is taken: " + first[k]
            for k in keys
            if k not in refused
            and (first[k] in staying or (first[k] not in leaving and first[k] in taken_now))
        }
        if not taken:
            break
        refused.update(taken)
    rows = [
        {"from": last[k].dst, "to": first[k], "action": "refused" if k in refused else "move",
         "reason": refused.get(k)}
        for k in keys
    ]  # fmt: skip
    tag = f"{os.getpid()}-{os.urandom(4).hex()}"
    back: list[Step] = []
    for n, s in enumerate(reversed(moves)):
        if s.identity in refused:
            continue
        if s.kind == "rename":
            back.append(Step(s.dst, s.src, *s.identity))
        else:  # back across file systems: the copy is the entry now
            copy = now[s.identity]
            assert copy is not None
            back += move_across(s.dst, s.src, copy, s.digest, f"{tag}-{n}")
    gone = [Step(d, d, 0, 0, 0, kind="rmdir") for d in reversed(created)]
    return UndoPlan(op_id, rows, back + gone, tuple(reversed(created)))


def _still_copied(steps: Sequence[Step], beneath: Sequence[str]) -> list[bool]:
    """Whether each copy a move across file systems left at ``step.dst`` is still there as it
    left it: a file with the source's mtime and content (its digest), or a symlink (a step
    without a digest) with the source's mtime."""
    files = [s for s in steps if s.digest is not None]
    args = [(s.src, s.dst, "", s.identity, s.digest) for s in files]
    ours = dict(zip([s.dst for s in files], _native.copies_done(args, beneath=beneath),
                    strict=True))  # fmt: skip
    there = _native.identities([s.dst for s in steps], beneath=beneath)
    return [ours[s.dst] if s.digest is not None else (found is not None and found[2] == s.stamp)
            for s, found in zip(steps, there, strict=True)]  # fmt: skip


def _plan_restores(journal: Journal, op_id: int, beneath: Sequence[str]) -> UndoPlan:
    """The undo of a ``replace``: each file whose content is still what the operation wrote
    gets its backup back; the others are refused. Applying checks each file again by device,
    inode, mtime and size (all looked at beneath the roots for a job) as it writes it."""
    written = [s for s in journal.steps(op_id) if s.kind == "replace"]
    paths = [s.src for s in written]
    now = _native.content_digests(paths, beneath=beneath)
    ids = _native.identities(paths, beneath=beneath)
    sizes_now = _native.sizes(paths, beneath=beneath)
    originals = _native.content_digests([s.backup or "" for s in written])  # the journal's
    tag = f"{os.getpid()}-{os.urandom(4).hex()}"
    rows: list[dict[str, Any]] = []
    steps: list[Step] = []
    sources: dict[str, str] = {}
    sizes: dict[str, int] = {}
    for step, digest, found, size, original in zip(written, now, ids, sizes_now, originals,
                                                   strict=True):  # fmt: skip
        why = None
        if digest is None or found is None or size is None:
            why = "not there any more"
        elif digest != step.digest:
            why = "its content is not what the operation wrote"
        elif original is None:
            why = f"its backup is missing ({step.backup})"
        if why is not None:
            rows.append({"from": step.src, "to": step.src, "action": "refused",
                         "reason": f"changed since the operation: {why}"})  # fmt: skip
            continue
        assert found is not None and size is not None and step.backup is not None
        temp = f"{step.src.rpartition('/')[0]}/.vegafs-{tag}-{len(steps)}"  # absolute
        steps.append(Step(step.src, temp, *found, kind="replace", digest=original))
        sources[step.src] = step.backup
        sizes[step.src] = size
        rows.append({"from": step.src, "to": step.src, "action": "restore", "reason": None})
    return UndoPlan(op_id, rows, steps, sources=sources, sizes=sizes)


def _plan_copy_undo(op_id: int, done: list[Step], beneath: Sequence[str]) -> UndoPlan:
    """The undo of a copy: each copy that is still the file the copy wrote (its mtime, and its
    content: the digest if the copy was verified, else the source's bytes) is removed; one that
    changed, or whose source changed so that nothing tells, is refused and stays. The file an
    ``overwrite`` set aside goes back where its copy was (``rename`` steps, after the removals);
    a copy whose set-aside file is no longer as the copy left it is refused and stays. Then the
    directories the copy made, deepest first, if they are empty."""
    copies = [s for s in done if s.kind == "copy"]
    dirs = [s for s in done if s.kind == "copy_mkdir"]
    aside = {s.src: s for s in done if s.kind == "rename"}  # target -> its setting aside
    ours = _native.copies_done([(s.src, s.dst, "", s.identity, s.digest) for s in copies],
                               beneath=beneath)  # fmt: skip
    kept = dict(zip(aside, _native.identities([s.dst for s in aside.values()], beneath=beneath),
                    strict=True))  # fmt: skip
    there = _native.identities([s.dst for s in copies], beneath=beneath)
    tag = f"{os.getpid()}-{os.urandom(4).hex()}"
    rows: list[dict[str, Any]] = []
    steps: list[Step] = []
    back: list[Step] = []
    for i, (s, mine, found) in enumerate(zip(copies, ours, there, strict=True)):
        old = aside.get(s.dst)
        why = None
        if not mine:
            why = "changed since the copy" if found is not None else "not there any more"
        elif old is not None and kept[s.dst] != old.identity:
            why = f"the file it replaced is not as the copy set it aside ({old.dst})"
        if why is not None:
            rows.append({"from": s.dst, "to": s.dst, "action": "refused", "reason": why})
            continue
        # The temporary name, should a rollback copy it back (the journal's paths are
        # absolute: joined as text, without pathlib's cost for each of 100,000 copies).
        temp = f"{s.dst.rpartition('/')[0]}/.vegafs-{tag}-{i + 1}"
        steps.append(Step(s.src, s.dst, s.dev, s.ino, s.stamp, "uncopy", temp, s.digest))
        rows.append({"from": s.dst, "to": s.src, "action": "remove", "reason": None})
        if old is not None:
            back.append(Step(old.dst, old.src, *old.identity))
            rows.append({"from": old.dst, "to": old.src, "action": "restore", "reason": None})
    steps += back
    for d in reversed(dirs):
        steps.append(Step(d.src, d.dst, 0, 0, 0, "copy_rmdir"))
        rows.append({"from": d.dst, "to": d.dst, "action": "rmdir", "reason": None})
    return UndoPlan(op_id, rows, steps, operation="copy")


def apply_undo(
    journal: Journal,
    plan: UndoPlan,
    cancel: _native.CancelToken | None = None,
    *,
    job_id: int | None = None,
    beneath: Sequence[str] = (),
    steps_of: Steps | None = None,
) -> Applied:
    """Runs the plan through the journal (all of it or none); the undo's commit marks the
    operation undone (``Journal.finish``). A job passes its id and its roots (and
    ``steps_of``), as to ``runner.apply``."""
    params: dict[str, object] = {"undo_of": plan.op_id}
    if plan.sources:  # restores: each file backed up again before it changes
        from vegafs.journal.backups import new_store
        from vegafs.journal.kinds import RewriteSource, rewriting

        store = new_store()
        steps = [s._replace(backup=str(store / str(n))) for n, s in enumerate(plan.steps)]
        with rewriting(RewriteSource(None, plan.sizes, plan.sources)):
            applied = apply(journal, "undo", params, steps, cancel, job_id=job_id,
                            beneath=beneath, steps_of=steps_of)  # fmt: skip
    else:
        applied = apply(journal, "undo", params, plan.steps, cancel, job_id=job_id,
                        beneath=beneath, steps_of=steps_of)  # fmt: skip
    return applied

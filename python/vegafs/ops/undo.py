"""The ``undo`` operation: the reverse of a committed writing operation (rename, move, replace,
copy, or an undo), planned from its journal (``vegafs.journal.undo``) and checked again on
disk: each entry still as the operation left it goes back, each one changed since is refused
with its reason and stays. Without ``apply`` the plan is shown; with it, the plan is applied
through the journal as an operation of its own (all of it, or none of it), and the undone one
is marked ``undone``; when every entry is refused nothing is applied and it stays committed.

As a job, every path the operation changed must lie inside the job's roots (refused at submit,
naming the path), and every path is opened beneath them.
"""

from collections import Counter
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from vegafs.errors import PathNotAllowed
from vegafs.ops.confine import OUTSIDE
from vegafs.ops.registry import Operation, RunContext


class UndoParams(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    op_id: int = Field(
        description="The writing operation to undo: its id in the journal (vegafs ops list; a "
        "job's summary's applied_op)."
    )
    apply: bool = Field(
        False,
        description="Undo it: journaled, all-or-nothing (docs/cli.md). Without it, the plan is "
        "shown and nothing changes.",
    )


class UndoRow(BaseModel):
    """One entry of the undo: moved back (``move``), its content or the file a copy replaced
    put back (``restore``), a copy removed (``remove``), a directory the operation made removed
    if empty (``rmdir``), or refused (``reason``: what changed since)."""

    model_config = ConfigDict(frozen=True, extra="forbid", populate_by_name=True)

    from_: str = Field(alias="from")  # where the entry is now
    to: str  # where it goes back (rmdir, a replace's restore, a refusal: the path itself)
    action: Literal["move", "unchanged", "restore", "remove", "rmdir", "refused"]
    reason: str | None


class UndoSummary(BaseModel):
    """What the undo does: its counts by action."""

    model_config = ConfigDict(frozen=True)

    schema_version: Literal[1] = 1
    undo_of: int  # the operation undone
    operation: str  # what it was: rename, move, replace, copy or undo
    moves: int  # entries moved back
    restores: int  # files whose content, or the file a copy replaced, is put back
    removes: int  # copies removed
    rmdirs: int  # directories removed if empty
    refused: int
    steps: int
    # False when every entry is refused: nothing would go back, so --apply changes nothing and
    # the operation stays committed (undo it once its entries are back as it left them).
    ok: bool = True
    applied_op: int | None = None  # the journal's id of the undo, once applied


def run(params: UndoParams, ctx: RunContext) -> UndoSummary:
    from vegafs.journal import applying
    from vegafs.journal.undo import apply_undo, plan_undo

    beneath = [str(p) for p in ctx.beneath]
    # Recovery first, as before any writing operation: the plan sees the tree restored.
    with applying(ctx.job_id, ctx.cancel) as journal:
        if beneath:
            _refuse_outside(journal.steps(params.op_id), ctx.beneath)
        plan = plan_undo(journal, params.op_id, beneath=beneath)
        operation = plan.operation
        rows = plan.rows + [{"from": d, "to": d, "action": "rmdir", "reason": None}
                            for d in plan.rmdirs]  # fmt: skip
        for i in range(0, len(rows), 1024):
            ctx.rows(rows[i : i + 1024])
        count = Counter(r["action"] for r in rows)
        goes_back = count["move"] + count["restore"] + count["remove"]
        summary = UndoSummary(undo_of=params.op_id, operation=operation, moves=count["move"],
                              restores=count["restore"], removes=count["remove"],
                              rmdirs=count["rmdir"], refused=count["refused"],
                              steps=len(plan.steps),
                              ok=goes_back > 0 or not count["refused"])  # fmt: skip
        if not params.apply or not summary.ok:
            return summary
        applied = apply_undo(
            journal, plan, ctx.cancel, job_id=ctx.job_id, beneath=beneath, steps_of=ctx.steps
        )
    return summary.model_copy(update={"applied_op": applied.op_id})


def _refuse_outside(steps: Sequence[Any], roots: Sequence[Path]) -> None:
    from vegafs.journal.undo import outside

    found = outside(steps, roots)
    if found is not None:
        raise PathNotAllowed(found, OUTSIDE)


def confine_undo(params: UndoParams, roots: Sequence[Path]) -> UndoParams:
    """Refuses (``PathNotAllowed``, naming the path) an operation that changed a path outside
    the roots; an unknown operation is left to ``check``."""
    from vegafs.journal import open_journal

    journal = open_journal()
    try:
        if journal.get(params.op_id) is not None:
            _refuse_outside(journal.steps(params.op_id), roots)
    finally:
        journal.close()
    return params


def check(params: UndoParams) -> None:
    """``UndoError`` (a ``ParamsError`` of ``op_id``) if the operation cannot be undone:
    unknown, not committed, undone already, or forgotten."""
    from vegafs.journal import open_journal
    from vegafs.journal.undo import undoable

    journal = open_journal()
    try:
        undoable(journal, params.op_id)
    finally:
        journal.close()


def text(row: dict[str, Any]) -> str:
    """``from -> to`` (moved back); ``PATH: restore its content from before the operation``;
    ``put back PATH (the file the copy replaced)``; ``remove COPY (a copy of SOURCE)``;
    ``rmdir DIR (if empty)``; ``from -> to: refused, REASON`` (``PATH: refused, REASON`` for a
    file that stays where it is)."""
    action, source, target = row["action"], row["from"], row["to"]
    if action == "rmdir":
        return f"rmdir {source} (if empty)"
    if action == "remove":
        return f"remove {source} (a copy of {target})"
    if action == "restore" and source != target:
        return f"put back {target} (the file the copy replaced)"
    if source == target:
        if action == "refused":
            return f"{source}: refused, {row['reason']}"
        return f"{source}: {action} its content from before the operation"
    line = f"{source} -> {target}"
    return f"{line}: refused, {row['reason']}" if action == "refused" else line


UNDO = Operation(
    name="undo",
    summary="Plan the undo of a committed writing operation from its journal, checked again "
    "(nothing changes yet).",
    params=UndoParams,
    result=UndoSummary,
    row=UndoRow,
    run=run,
    positional="op_id",
    confine=confine_undo,
    check=check,
    blocking_checks=True,
    text=text,
)

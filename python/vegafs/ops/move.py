"""The ``move`` operation: each selected entry whose name matches ``--match`` goes to the path
``--to`` makes of it, below ``--dest`` (by default the root it was found under), creating the
directories it needs. Like ``rename`` it plans first (conflicts, bad paths, directories to
create, chains and cycles) and shows the plan; with ``apply`` it runs the plan through the
journal: the directories are made, then the entries moved (across file systems: copied, then
the source removed); all of it, or none of it. As a job, every change is made beneath the roots.
"""

import os
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pydantic import Field

from vegafs.engine.copying import digests
from vegafs.engine.moving import (
    MoveOptions,
    MovePlan,
    MoveRow,
    MoveSummary,
    check_move,
    plan_move,
)
from vegafs.engine.renaming import identities, sizes
from vegafs.ops.confine import confine_new, confine_selection
from vegafs.ops.copy import APPLY_BATCH_BYTES
from vegafs.ops.registry import Operation, RunContext
from vegafs.ops.rename import APPLY_BATCH, BATCH, RenameParams, absolute
from vegafs.ops.rename import text as rename_text

if TYPE_CHECKING:
    from vegafs.journal.runner import Applied
    from vegafs.journal.store import Journal


class MoveParams(RenameParams):
    match: str | None = Field(
        None,
        description="Regex on each entry's name; only matching entries are moved (default: "
        "all). Its groups are the template's {1}, {2}, {name}...",
    )
    to: str = Field(
        description="The target's path below --dest, a template that may have '/', e.g. "
        "'{mtime:%Y}/{mtime:%m}/{name}' (docs/cli.md: templates)."
    )
    dest: str | None = Field(
        None,
        description="The directory the --to paths are relative to (default: the PATH each entry "
        "was found under; for a PATH that is a file, its directory).",
    )

    def move_options(self) -> MoveOptions:
        return MoveOptions(**self.options().model_dump(), dest=self.dest)


def run(params: MoveParams, ctx: RunContext) -> MoveSummary:
    if not params.apply:
        return _plan(params, ctx).summary
    from vegafs.journal import applying

    with applying(ctx.job_id, ctx.cancel) as journal:
        plan = _plan(params, ctx)
        if not plan.summary.ok or not plan.steps:
            return plan.summary
        applied = _apply(journal, params, ctx, plan)
    return plan.summary.model_copy(update={"applied_op": applied.op_id})


def _apply(journal: "Journal", params: MoveParams, ctx: RunContext, plan: MovePlan) -> "Applied":
    """Journals and applies the plan: the directories made, then the entries moved (renamed,
    or across file systems copied and their source removed); beneath the job's roots for a
    job."""
    from vegafs.journal.kinds import move_across
    from vegafs.journal.runner import apply
    from vegafs.journal.store import Step

    beneath = [str(p) for p in ctx.beneath]
    rows = plan.rows
    sources = sorted({row for _, _, row in plan.steps})
    found = identities([rows[r]["from"] for r in sources], beneath=beneath)
    ids = dict(zip(sources, found, strict=True))
    cwd = f"{Path.cwd()}/"
    # Absolute paths: recovery may run from another directory. A directory to create has no
    # identity before it exists (the journal is committed first): its step says where only.
    dirs = (absolute(cwd, m) for m in plan.mkdirs)
    journal_steps = [Step(d, d, 0, 0, 0, kind="mkdir") for d in dirs]
    sums = _digests(rows, plan.across, beneath)
    tag = f"{os.getpid()}-{os.urandom(4).hex()}"
    # Consecutive moves across file systems: their copies together (copied in parallel), then
    # their sources removed; a move onto a source of the group, or from a target of it, starts a
    # new group.
    group: list[list[Step]] = []
    leaving: set[str] = set()
    arriving: set[str] = set()

    def close_group() -> None:
        journal_steps.extend(pair[0] for pair in group)
        journal_steps.extend(pair[1] for pair in group)
        group.clear()
        leaving.clear()
        arriving.clear()

    for n, (src, dst, row) in enumerate(plan.steps):
        entry = ids[row]
        if entry is None:
            raise FileNotFoundError(2, "No such file or directory", rows[row]["from"])
        a, b = absolute(cwd, src), absolute(cwd, dst)
        if row in plan.across and dst == rows[row]["to"]:  # not a hop to a temporary name
            if b in leaving or a in arriving:
                close_group()
            group.append(move_across(a, b, entry, sums.get(row), f"{tag}-{n}"))
            leaving.add(a)
            arriving.add(b)
        else:
            close_group()
            journal_steps.append(Step(a, b, *entry))
    close_group()
    # Batches as rename's and copy's: each costs its directories' fsyncs and a journal commit
    # (and, with copies, a `syncfs`), so 8,192 steps; and, as copy's, a batch ends before its
    # copies pass 1 GiB (what recovery compares after a crash). Only a copy weighs.
    copied = [s.src for s in journal_steps if s.kind == "copy"]
    weights: list[int] = []
    if copied:
        weighed = iter(sizes(copied, beneath=beneath))
        weights = [(next(weighed) or 0) if s.kind == "copy" else 0 for s in journal_steps]
    return apply(journal, "move", params.model_dump(mode="json"), journal_steps, ctx.cancel,
                 job_id=ctx.job_id, beneath=beneath, batch=APPLY_BATCH, sizes=weights,
                 batch_bytes=APPLY_BATCH_BYTES, steps_of=ctx.steps)  # fmt: skip


def _digests(
    rows: list[dict[str, Any]], across: frozenset[int], beneath: Sequence[str]
) -> dict[int, bytes | None]:
    """The BLAKE3 digest of each entry moved across file systems, read beneath the roots for a
    job; None for a symlink (its copy is checked by its text)."""
    moved = sorted(across)
    found = digests([rows[r]["from"] for r in moved], beneath=beneath)
    return dict(zip(moved, found, strict=True))


def _plan(params: MoveParams, ctx: RunContext) -> MovePlan:
    options = params.move_options()
    if ctx.beneath and params.dest is not None:  # a job looks only inside its roots
        options = options.model_copy(update={"dest": str(confine_new(params.dest, ctx.beneath))})
    plan = plan_move(
        params.selection,
        options,
        max_errors=params.max_errors,
        progress=ctx.progress,
        cancel=ctx.cancel,
        beneath=ctx.beneath,
    )
    for i in range(0, len(plan.rows), BATCH):
        ctx.rows(plan.rows[i : i + BATCH])
    return plan


def check(params: MoveParams) -> None:
    params.selection.check()
    check_move(params.move_options())


def confine_move(params: MoveParams, roots: Sequence[Path]) -> MoveParams:
    """The Selection and --dest confined to the roots (a job); --dest need not exist yet."""
    spec: MoveParams = confine_selection(params, roots)
    if params.dest is None:
        return spec
    return spec.model_copy(update={"dest": str(confine_new(params.dest, roots))})


def text(row: dict[str, Any]) -> str:
    """``mkdir DIR``; then as a rename's: ``from -> to``, ``from (unchanged)``, ``from -> to:
    refused, REASON``."""
    if row["action"] == "mkdir":
        return f"mkdir {row['to']}"
    return rename_text(row)


MOVE = Operation(
    name="move",
    summary="Plan moves to paths a template gives (creating directories), checked and "
    "previewed (nothing changes yet).",
    params=MoveParams,
    result=MoveSummary,
    row=MoveRow,
    run=run,
    check=check,
    confine=confine_move,
    text=text,
    short_flags={"match": "-m"},
)

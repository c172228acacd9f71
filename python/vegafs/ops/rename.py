"""The ``rename`` operation: each selected entry whose name matches ``--match`` gets the name
``--to`` makes of it, in the same directory. It plans first (every rename checked: conflicts,
invalid names, chains, cycles) and shows the plan; with ``apply`` it runs the plan through the
journal (``vegafs.journal``): all of it, or, after an error or a cancel, none of it.
"""

from pathlib import Path
from typing import TYPE_CHECKING, Any

from pydantic import BaseModel, ConfigDict, Field

from vegafs import engine
from vegafs.engine.renaming import (
    OnConflict,
    RenameOptions,
    RenameRow,
    RenameSummary,
    SortKey,
    check_rename,
    identities,
    plan_rename,
)
from vegafs.errors import ApplyError, Cancelled, VegaFSError
from vegafs.ops.fields import MaxErrors
from vegafs.ops.registry import Operation, RunContext

if TYPE_CHECKING:
    from vegafs.journal.runner import Applied
    from vegafs.journal.store import Journal

BATCH = 1024


class RenameParams(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    selection: engine.Selection
    match: str | None = Field(
        None,
        description="Regex on each entry's name; only matching entries are renamed (default: "
        "all). Its groups are the template's {1}, {2}, {name}...",
    )
    to: str = Field(
        description="The new name's template, e.g. '{stem|lower}-{n:03}.{ext}' (docs/cli.md: "
        "templates)."
    )
    sort: SortKey = Field("name", description="The order {n} counts in: name, mtime, size, path.")
    reverse: bool = Field(False, description="Count in the reverse order.")
    start: int = Field(1, description="{n}'s first value.")
    step: int = Field(1, description="{n}'s step.")
    on_conflict: OnConflict = Field(
        "fail",
        description="A target that exists or that several entries share: fail (refuse the "
        "plan), skip (leave those entries), suffix (name-1.ext, name-2.ext...), overwrite "
        "(replace an existing file, kept aside until `vegafs ops forget`).",
    )
    apply: bool = Field(
        False,
        description="Apply the plan: journaled, all-or-nothing (docs/cli.md). Without it, "
        "nothing changes.",
    )
    max_errors: MaxErrors = 1000

    def options(self) -> RenameOptions:
        return RenameOptions(
            pattern=self.match,
            template=self.to,
            sort=self.sort,
            reverse=self.reverse,
            start=self.start,
            step=self.step,
            on_conflict=self.on_conflict,
        )


def run(params: RenameParams, ctx: RunContext) -> RenameSummary:
    if not params.apply:
        return _plan(params, ctx)[2]
    from vegafs.journal import open_journal

    journal = open_journal()
    try:
        # Before planning: the plan must see the tree as an interrupted run left it, restored.
        _recover_first(journal, ctx)
        rows, steps, summary = _plan(params, ctx)
        if not summary.ok or not steps:
            return summary
        try:
            applied = _apply(journal, params, ctx, rows, steps)
        except ApplyError as e:
            if ctx.cancel.cancelled and e.rolled_back:  # a job's cancel: its status says so
                raise Cancelled("cancelled while applying; every change was rolled back") from e
            raise
    finally:
        journal.db.dispose()
    return summary.model_copy(update={"applied_op": applied.op_id})


def _plan(
    params: RenameParams, ctx: RunContext
) -> tuple[list[dict[str, Any]], list[tuple[str, str, int]], RenameSummary]:
    rows, steps, summary = plan_rename(
        params.selection,
        params.options(),
        max_errors=params.max_errors,
        progress=ctx.progress,
        cancel=ctx.cancel,
        beneath=ctx.beneath,
    )
    for i in range(0, len(rows), BATCH):
        ctx.rows(rows[i : i + BATCH])
    return rows, steps, summary


def _recover_first(journal: "Journal", ctx: RunContext) -> None:
    """Recovers what an earlier run left half-done (for a job: also what an earlier attempt of
    this job left, its worker lost); a job an earlier attempt applied is not applied again."""
    from vegafs.journal.runner import recover

    recover(journal, job_id=ctx.job_id)
    if ctx.job_id is not None:
        committed = [op.id for op in journal.of_job(ctx.job_id) if op.state == "committed"]
        if committed:  # its worker died between the commit and the job's end
            raise AlreadyApplied(committed[0])


def _apply(
    journal: "Journal",
    params: RenameParams,
    ctx: RunContext,
    rows: list[dict[str, Any]],
    steps: list[tuple[str, str, int]],
) -> "Applied":
    """Journals and applies the plan: beneath the job's roots for a job."""
    from vegafs.journal.runner import apply
    from vegafs.journal.store import Step

    beneath = [str(p) for p in ctx.beneath]
    sources = sorted({row for _, _, row in steps})
    found = identities([rows[r]["from"] for r in sources], beneath=beneath)
    ids = dict(zip(sources, found, strict=True))
    cwd = f"{Path.cwd()}/"
    journal_steps = []
    for src, dst, row in by_directory(steps):
        entry = ids[row]
        if entry is None:
            raise FileNotFoundError(2, "No such file or directory", rows[row]["from"])
        # Absolute: recovery may run from another directory.
        journal_steps.append(Step(absolute(cwd, src), absolute(cwd, dst), *entry))
    return apply(journal, "rename", params.model_dump(mode="json"), journal_steps, ctx.cancel,
                 job_id=ctx.job_id, beneath=beneath)  # fmt: skip


def absolute(cwd: str, path: str) -> str:
    """``path`` made absolute as it is (no ``..`` resolved; ``cwd`` ends with a slash)."""
    return path if path.startswith("/") else cwd + path


def by_directory(steps: list[tuple[str, str, int]]) -> list[tuple[str, str, int]]:
    """The plan's steps, one directory after another: the deepest directories first, each
    directory's steps in the plan's order. Renames stay in their directory, so the plan only
    orders steps within one directory (chains, cycles) and entries before the directory that
    holds them (deeper first); any order that keeps both is as safe. This one lets a batch of
    steps touch few directories, and so fsync few."""
    depth_dir = [(-src.count("/"), src.rpartition("/")[0]) for src, _, _ in steps]
    order = sorted(range(len(steps)), key=lambda i: (*depth_dir[i], i))
    return [steps[i] for i in order]


class AlreadyApplied(VegaFSError):
    """A writing job whose earlier attempt had committed its operation before the job was lost
    (its worker died between the two): it is not applied a second time."""

    def __init__(self, op_id: int) -> None:
        super().__init__(
            f"an earlier attempt of this job applied it (operation {op_id}, committed); "
            "not applied again"
        )


def check(params: RenameParams) -> None:
    params.selection.check()
    check_rename(params.options())


def text(row: dict[str, Any]) -> str:
    """``from -> to``; ``from (unchanged)``; ``from -> to: refused, REASON``."""
    if row["action"] == "unchanged":
        return f"{row['from']} (unchanged)"
    line = f"{row['from']} -> {row['to']}"
    return f"{line}: refused, {row['reason']}" if row["action"] == "refused" else line


RENAME = Operation(
    name="rename",
    summary="Plan renames in place by a template, checked and previewed (nothing changes yet).",
    params=RenameParams,
    result=RenameSummary,
    row=RenameRow,
    run=run,
    check=check,
    text=text,
    short_flags={"match": "-m"},
)

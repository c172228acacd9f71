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
    Identity,
    OnConflict,
    RenameOptions,
    RenameRow,
    RenameSummary,
    SortKey,
    check_rename,
    identities,
    planned_renames,
)
from vegafs.ops.fields import MaxErrors
from vegafs.ops.registry import Operation, RunContext

if TYPE_CHECKING:
    from vegafs.journal.runner import Applied
    from vegafs.journal.store import Journal

BATCH = 1024
# Steps between two journal writes: enough for a batch to span several directories, whose
# renames then run in parallel (vegafs_core::apply::rename_all).
APPLY_BATCH = 8192


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


Planned = tuple[
    list[dict[str, Any]], list[tuple[str, str, int]], RenameSummary, list[Identity | None]
]


def run(params: RenameParams, ctx: RunContext) -> RenameSummary:
    if not params.apply:
        return _sent(_plan(params, ctx), ctx)[2]
    from vegafs.journal import applying_planned

    with applying_planned(ctx.job_id, ctx.cancel, lambda: _plan(params, ctx)) as (journal, made):
        rows, steps, summary, found = _sent(made, ctx)
        if not summary.ok or not steps:
            return summary
        applied = _apply(journal, params, ctx, rows, steps, found)
    return summary.model_copy(update={"applied_op": applied.op_id})


def _plan(params: RenameParams, ctx: RunContext) -> Planned:
    return planned_renames(
        params.selection,
        params.options(),
        max_errors=params.max_errors,
        progress=ctx.progress,
        cancel=ctx.cancel,
        beneath=ctx.beneath,
    )


def _sent(planned: Planned, ctx: RunContext) -> Planned:
    """The plan, its rows sent to ``ctx.rows``."""
    rows = planned[0]
    for i in range(0, len(rows), BATCH):
        ctx.rows(rows[i : i + BATCH])
    return planned


def _apply(
    journal: "Journal",
    params: RenameParams,
    ctx: RunContext,
    rows: list[dict[str, Any]],
    steps: list[tuple[str, str, int]],
    found: list[Identity | None],
) -> "Applied":
    """Journals and applies the plan: beneath the job's roots for a job. Each step's entry is
    recorded as the walk saw it; a target set aside (``overwrite``) is looked at now."""
    from vegafs.journal.runner import apply
    from vegafs.journal.store import Step

    beneath = [str(p) for p in ctx.beneath]
    aside = sorted({row for _, _, row in steps if found[row] is None})
    for row, entry in zip(aside, identities([rows[r]["from"] for r in aside], beneath=beneath),
                          strict=True):  # fmt: skip
        found[row] = entry
    cwd = f"{Path.cwd()}/"
    journal_steps = []
    for src, dst, row in by_directory(steps):
        entry = found[row]
        if entry is None:
            raise FileNotFoundError(2, "No such file or directory", rows[row]["from"])
        # Absolute: recovery may run from another directory.
        journal_steps.append(Step(absolute(cwd, src), absolute(cwd, dst), *entry))
    return apply(journal, "rename", params.model_dump(mode="json"), journal_steps, ctx.cancel,
                 job_id=ctx.job_id, beneath=beneath, batch=APPLY_BATCH,
                 steps_of=ctx.steps)  # fmt: skip


def absolute(cwd: str, path: str) -> str:
    """``path`` made absolute as it is written (``cwd`` ends with a slash), its ``.`` names
    dropped as ``pathlib`` drops them (``./d/x`` is ``CWD/d/x`` in the journal, and in what
    ``ops show`` and its errors print); no ``..`` resolved (a symlink's ``..`` is not its
    name's parent)."""
    full = path if path[:1] == "/" else cwd + path
    return without_dots(full) if "/./" in full or full.endswith("/.") else full


def without_dots(path: str) -> str:
    """An absolute ``path`` without its ``.`` names: ``/a/./b/.`` is ``/a/b``."""
    return "/".join(name for name in path.split("/") if name != ".") or "/"


def by_directory(steps: list[tuple[str, str, int]]) -> list[tuple[str, str, int]]:
    """The plan's steps, one directory after another: the deepest directories first, each
    directory's steps in the plan's order. Renames stay in their directory, so the plan only
    orders steps within one directory (chains, cycles) and entries before the directory that
    holds them (deeper first); any order that keeps both is as safe. This one lets a batch of
    steps touch few directories, and so fsync few."""
    depth_dir = [(-src.count("/"), src.rpartition("/")[0]) for src, _, _ in steps]
    order = sorted(range(len(steps)), key=lambda i: (*depth_dir[i], i))
    return [steps[i] for i in order]


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

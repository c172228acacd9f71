"""The ``rename`` operation: each selected entry whose name matches ``--match`` gets the name
``--to`` makes of it, in the same directory. It plans first (every rename checked: conflicts,
invalid names, chains, cycles) and shows the plan; with ``apply`` it runs the plan through the
journal (``vegafs.journal``): all of it, or, after an error or a cancel, none of it.
"""

from pathlib import Path
from typing import Any

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
from vegafs.errors import ParamsError
from vegafs.ops.fields import MaxErrors
from vegafs.ops.registry import Operation, RunContext

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
        "plan), skip (leave those entries), suffix (name-1.ext, name-2.ext...).",
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
    if not params.apply or not summary.ok or not steps:
        return summary
    if ctx.beneath:
        raise ParamsError(APPLY_AS_JOB, "apply")
    from vegafs.journal import open_journal
    from vegafs.journal.runner import apply, recover
    from vegafs.journal.store import Step

    journal = open_journal()
    recover(journal)  # what an earlier run left half-done, first
    sources = sorted({row for _, _, row in steps})
    ids = dict(zip(sources, identities([rows[r]["from"] for r in sources]), strict=True))
    journal_steps = []
    for src, dst, row in steps:
        found = ids[row]
        if found is None:
            raise FileNotFoundError(2, "No such file or directory", rows[row]["from"])
        # Absolute: recovery may run from another directory.
        journal_steps.append(Step(str(Path(src).absolute()), str(Path(dst).absolute()), *found))
    applied = apply(journal, "rename", params.model_dump(mode="json"), journal_steps, ctx.cancel)
    return summary.model_copy(update={"applied_op": applied.op_id})


APPLY_AS_JOB = "applying a rename as a job comes with the next step; plan it as a job, apply it "
"with the command line"


def check(params: RenameParams) -> None:
    params.selection.check()
    check_rename(params.options())
    if params.apply:  # check() runs where jobs are submitted
        raise ParamsError(APPLY_AS_JOB, "apply")


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

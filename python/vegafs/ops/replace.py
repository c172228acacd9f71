"""The ``replace`` operation: a regex (or fixed string) replaced in the contents of the selected
regular files, capture groups in the replacement (``$1``, ``${name}``, ``$$``). It plans first
(a unified diff per file; binary files and files with several hard links refused) and shows the
plan; with ``apply`` it runs the plan through the journal (``vegafs.journal``), each file backed
up in the journal's backup store before it changes: all of it, or, after an error or a cancel,
none of it.
"""

from typing import TYPE_CHECKING, Any

from pydantic import BaseModel, ConfigDict, Field

from vegafs import engine
from vegafs.engine.replacing import (
    PlannedFile,
    ReplaceOptions,
    ReplaceRow,
    ReplaceSummary,
    check_replace,
    native_options,
    plan_replace,
    shown_row,
)
from vegafs.ops.fields import MaxErrors
from vegafs.ops.registry import Operation, RunContext

if TYPE_CHECKING:
    from vegafs.journal.store import Journal

BATCH = 256  # planned files sent to the rows (or printed) at a time


class ReplaceParams(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    selection: engine.Selection
    pattern: str = Field(
        description="The regex to replace (the syntax of search; a match never spans lines)."
    )
    replacement: str = Field(
        description="What each match becomes: $1, ${name} for groups, $$ for a dollar."
    )
    fixed_strings: bool = Field(
        False, description="PATTERN and REPLACEMENT are literal strings (no groups, $ is a dollar)."
    )
    ignore_case: bool = Field(False, description="Case-insensitive.")
    word_regexp: bool = Field(False, description="Match whole words only.")
    apply: bool = Field(
        False,
        description="Apply the plan: journaled, each file backed up first, all-or-nothing "
        "(docs/cli.md). Without it, nothing changes.",
    )
    max_errors: MaxErrors = 1000

    def options(self) -> ReplaceOptions:
        return ReplaceOptions(
            pattern=self.pattern,
            replacement=self.replacement,
            fixed_strings=self.fixed_strings,
            ignore_case=self.ignore_case,
            word_regexp=self.word_regexp,
        )


def run(params: ReplaceParams, ctx: RunContext) -> ReplaceSummary:
    if not params.apply:
        return _sent(_plan(params, ctx), ctx)[1]
    from vegafs.journal import applying_planned

    # Planned while the journal opens and recovers (the core plans without the interpreter).
    with applying_planned(ctx.job_id, ctx.cancel, lambda: _plan(params, ctx)) as (journal, made):
        planned, summary = _sent(made, ctx)
        if not summary.files_changed:
            return summary
        op_id = apply_plan(journal, params, planned, ctx)
    return summary.model_copy(update={"applied_op": op_id})


Planned = tuple[list[PlannedFile], ReplaceSummary]


def _plan(params: ReplaceParams, ctx: RunContext) -> Planned:
    return plan_replace(
        params.selection,
        params.options(),
        max_errors=params.max_errors,
        progress=ctx.progress,
        cancel=ctx.cancel,
        beneath=ctx.beneath,
    )


def _sent(made: Planned, ctx: RunContext) -> Planned:
    """The plan, its rows sent. To a caller that prints (``ctx.lines``), each diff as the core
    wrote it, and a refused file as a row, in order: its line is text for the caller to show
    (``text``), a name that could rewrite a terminal escaped."""
    planned = made[0]
    for i in range(0, len(planned), BATCH):
        batch = planned[i : i + BATCH]
        if ctx.lines is None:
            ctx.rows([shown_row(row) for row in batch])
            continue
        diffs: list[bytes] = []
        for row in batch:
            if row["action"] != "refused":
                diffs.append(row["diff"])
                continue
            if diffs:
                ctx.lines(b"".join(diffs))
                diffs = []
            ctx.rows([shown_row(row)])
        if diffs:
            ctx.lines(b"".join(diffs))
    return made


def apply_plan(
    journal: "Journal", params: ReplaceParams, planned: list[PlannedFile], ctx: RunContext
) -> int:
    """Journals the plan and runs it (``journal.replacing``), for a job beneath its roots; the
    operation's id (``run`` recovered what an earlier run, or an earlier attempt of the job,
    left half-done before it planned)."""
    from vegafs.journal.replacing import apply_replace

    return apply_replace(journal, params.model_dump(mode="json"),
                         native_options(params.options()), planned, ctx.cancel,
                         job_id=ctx.job_id, beneath=[str(p) for p in ctx.beneath],
                         steps_of=ctx.steps)  # fmt: skip


def check(params: ReplaceParams) -> None:
    params.selection.check()
    check_replace(params.options())


def text(row: dict[str, Any]) -> str:
    """A row (of a job) as the plan's text: its diff, or ``PATH: refused, REASON``."""
    if row["action"] == "refused":
        return f"{row['path']}: refused, {row['reason']}"
    return str(row["diff"]).removesuffix("\n")


REPLACE = Operation(
    name="replace",
    summary="Plan a regex replacement in file contents, shown as a diff (nothing changes yet).",
    params=ReplaceParams,
    result=ReplaceSummary,
    row=ReplaceRow,
    run=run,
    check=check,
    text=text,
    positional="pattern",
    more_positionals=("replacement",),
    short_flags={"fixed_strings": "-F", "ignore_case": "-i", "word_regexp": "-w"},
)

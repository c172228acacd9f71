"""The ``replace`` operation: a regex (or fixed string) replaced in the contents of the selected
regular files, capture groups in the replacement (``$1``, ``${name}``, ``$$``). It plans first
(a unified diff per file; binary files and files with several hard links refused) and shows the
plan; with ``apply`` it runs the plan through the journal (``vegafs.journal``), each file backed
up in the journal's backup store before it changes: all of it, or, after an error or a cancel,
none of it.
"""

import os
from pathlib import Path
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

BATCH = 256
# Files written between two journal writes: each batch costs a syncfs and an fsync of each
# directory it touched, whatever its size (docs/benchmarks.md); recovery checks at most this
# many files' contents. As rename's.
APPLY_BATCH = 8192


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


def plan_text(row: PlannedFile) -> bytes:
    """A planned file as the plan's text: its diff, or ``PATH: refused, REASON``."""
    if row["action"] == "refused":
        from vegafs.cli.values import show_path

        return f"{show_path(row['path'])}: refused, {row['reason']}\n".encode()
    return row["diff"]


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
    """The plan, its rows sent (the diffs as text, or rows)."""
    planned = made[0]
    for i in range(0, len(planned), BATCH):
        batch = planned[i : i + BATCH]
        if ctx.lines is not None:
            ctx.lines(b"".join(plan_text(row) for row in batch))
        else:
            ctx.rows([shown_row(row) for row in batch])
    return made


def apply_plan(
    journal: "Journal", params: ReplaceParams, planned: list[PlannedFile], ctx: RunContext
) -> int:
    """Journals the plan (one ``replace`` step per changed file, its backup's place named) and
    runs it, for a job beneath its roots; the operation's id (``run`` recovered what an earlier
    run, or an earlier attempt of the job, left half-done before it planned)."""
    from vegafs.journal.backups import new_store
    from vegafs.journal.kinds import RewriteSource, rewriting
    from vegafs.journal.runner import apply
    from vegafs.journal.store import Step

    store = new_store()
    tag = f"{os.getpid()}-{os.urandom(4).hex()}"
    steps = []
    sizes = {}
    dirs: dict[str, str] = {}  # a directory as planned -> absolute (recovery may run elsewhere)
    for n, row in enumerate(r for r in planned if r["action"] == "replace"):
        # One Path per directory, not three per file: pathlib's parsing was a tenth of a
        # second per thousands of steps.
        head, name = os.path.split(row["target"])
        parent = dirs.get(head)
        if parent is None:
            parent = dirs[head] = str(Path(head).absolute()).rstrip("/") + "/"
        target = parent + name
        step = Step(target, f"{parent}.vegafs-{tag}-{n}", row["dev"], row["ino"], row["stamp"],
                    kind="replace", backup=f"{store}/{n}", digest=row["digest"])  # fmt: skip
        steps.append(step)
        sizes[target] = row["size"]
    source = RewriteSource(native_options(params.options()), sizes)
    beneath = [str(p) for p in ctx.beneath]
    with rewriting(source):
        applied = apply(journal, "replace", params.model_dump(mode="json"), steps, ctx.cancel,
                        job_id=ctx.job_id, beneath=beneath, batch=APPLY_BATCH,
                        steps_of=ctx.steps)  # fmt: skip
    return applied.op_id


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

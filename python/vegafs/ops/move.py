"""The ``move`` operation: each selected entry whose name matches ``--match`` goes to the path
``--to`` makes of it, below ``--dest`` (by default the root it was found under), creating the
directories it needs. Like ``rename`` it plans first (conflicts, bad paths, directories to
create, chains and cycles) and shows the plan; with ``apply`` it runs the plan through the
journal: the directories are made, then the entries moved; all of it, or none of it.
"""

from pathlib import Path
from typing import Any

from pydantic import Field

from vegafs.engine.moving import MoveOptions, MoveRow, MoveSummary, check_move, plan_move
from vegafs.engine.renaming import identities
from vegafs.errors import ParamsError
from vegafs.ops.confine import confine
from vegafs.ops.registry import Operation, RunContext
from vegafs.ops.rename import BATCH, RenameParams
from vegafs.ops.rename import text as rename_text


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
        return _plan(params, ctx)[3]
    if ctx.beneath:  # check() refuses it at submit; a job row written otherwise stops here
        raise ParamsError(APPLY_AS_JOB, "apply")
    from vegafs.journal import applying
    from vegafs.journal.runner import apply
    from vegafs.journal.store import Step

    with applying(ctx.job_id, ctx.cancel) as journal:
        rows, steps, mkdirs, summary = _plan(params, ctx)
        if not summary.ok or not steps:
            return summary
        sources = sorted({row for _, _, row in steps})
        ids = dict(zip(sources, identities([rows[r]["from"] for r in sources]), strict=True))
        # Absolute paths: recovery may run from another directory. A directory to create has no
        # identity before it exists (the journal is committed first): its step says where only.
        journal_steps = [Step(a, a, 0, 0, 0, kind="mkdir") for a in map(_absolute, mkdirs)]
        for src, dst, row in steps:
            found = ids[row]
            if found is None:
                raise FileNotFoundError(2, "No such file or directory", rows[row]["from"])
            journal_steps.append(Step(_absolute(src), _absolute(dst), *found))
        params_json = params.model_dump(mode="json")
        applied = apply(journal, "move", params_json, journal_steps, ctx.cancel)
    return summary.model_copy(update={"applied_op": applied.op_id})


def _plan(
    params: MoveParams, ctx: RunContext
) -> tuple[list[dict[str, Any]], list[tuple[str, str, int]], list[str], MoveSummary]:
    _no_overwrite(params)
    options = params.move_options()
    if ctx.beneath and params.dest is not None:  # a job looks only inside its roots
        options = options.model_copy(update={"dest": str(confine(params.dest, ctx.beneath))})
    rows, steps, mkdirs, summary = plan_move(
        params.selection,
        options,
        max_errors=params.max_errors,
        progress=ctx.progress,
        cancel=ctx.cancel,
        beneath=ctx.beneath,
    )
    for i in range(0, len(rows), BATCH):
        ctx.rows(rows[i : i + BATCH])
    return rows, steps, mkdirs, summary


def _absolute(path: str) -> str:
    return str(Path(path).absolute())


APPLY_AS_JOB = (
    "applying a move as a job comes with the next step; plan it as a job, apply it with the "
    "command line"
)


def _no_overwrite(params: MoveParams) -> None:
    if params.on_conflict == "overwrite":
        raise ParamsError("overwrite is for rename only so far (fail, skip or suffix)",
                          "on_conflict")  # fmt: skip


def check(params: MoveParams) -> None:
    _no_overwrite(params)
    params.selection.check()
    check_move(params.move_options())
    if params.apply:  # check() runs where jobs are submitted
        raise ParamsError(APPLY_AS_JOB, "apply")


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
    text=text,
    short_flags={"match": "-m"},
)

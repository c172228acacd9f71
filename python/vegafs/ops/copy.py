"""The ``copy`` operation: the selected files and symlinks of each root are copied under DEST,
at their path below their root (``cp -a ROOT/. DEST/``; a root that is a file lands as
DEST/NAME), or at the path ``--to`` makes of each. It plans first (every target checked:
conflicts, names, paths leaving DEST; targets that are copies already are skipped) and shows the
plan; with ``apply`` it runs the plan through the journal (``vegafs.journal``): all of it, or,
after an error or a cancel, none of it.
"""

import os
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pydantic import BaseModel, ConfigDict, Field

from vegafs import engine
from vegafs.engine.copying import (
    CopyOptions,
    CopyRow,
    CopySummary,
    OnConflict,
    check_copy,
    digests,
    plan_copy_to_apply,
)
from vegafs.ops.confine import confine_new, confine_selection
from vegafs.ops.fields import MaxErrors
from vegafs.ops.registry import Operation, RunContext

if TYPE_CHECKING:
    from vegafs.journal.store import Step

BATCH = 1024
# A batch of the apply: at most this many copies and bytes. Each batch costs a `syncfs`, an
# fsync of each directory it touched and a journal commit, whatever its size: 1,000 copies a
# batch cost 1.2 to 2.2 s more than 8,192 on 100,000 small files (docs/benchmarks.md). The bytes
# bound what a crash leaves to check: recovery compares the copies of the unfinished batch with
# their sources.
APPLY_BATCH = 8192
APPLY_BATCH_BYTES = 1 << 30

# A plan to apply: its rows, the directories to make, the identities of the rows to copy.
Planned = tuple[list[dict[str, Any]], list[str], list[tuple[int, int, int]], CopySummary]


class CopyParams(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    selection: engine.Selection
    dest: Path = Field(
        description="The directory to copy into (on the command line: the last PATH); made, "
        "with its parents, if missing."
    )
    to: str | None = Field(
        None,
        description="The target's path below DEST, a template, e.g. '{mtime:%Y}/{name}' "
        "(docs/cli.md: templates); default: the path below the root.",
    )
    on_conflict: OnConflict = Field(
        "fail",
        description="A target that exists (and is not a copy already) or that several files "
        "share: fail (refuse the plan), skip (leave those files), suffix (name-1.ext...), "
        "overwrite (replace an existing file, kept aside until `vegafs ops forget`).",
    )
    verify: bool = Field(
        False,
        description="With --apply: compare each copy's BLAKE3 digest with its source's before "
        "publishing it.",
    )
    apply: bool = Field(
        False,
        description="Apply the plan: journaled, all-or-nothing (docs/cli.md). Without it, "
        "nothing changes.",
    )
    max_errors: MaxErrors = 1000

    def options(self) -> CopyOptions:
        return CopyOptions(dest=self.dest, template=self.to, on_conflict=self.on_conflict)


def run(params: CopyParams, ctx: RunContext) -> CopySummary:
    if not params.apply:
        return _sent(_plan(params, ctx), ctx)[3]
    from vegafs.journal import applying_planned
    from vegafs.journal.runner import apply

    # Planned while the journal opens and recovers (what an interrupted run left: its temporary
    # files removed, its copies rolled back); planned again on the restored tree if it did.
    with applying_planned(ctx.job_id, ctx.cancel, lambda: _plan(params, ctx)) as (journal, made):
        rows, dirs, ids, summary = _sent(made, ctx)
        if not summary.ok or not summary.copies:
            return summary
        beneath = [str(p) for p in ctx.beneath]
        copies = [r for r in rows if r["action"] in ("copy", "overwrite")]
        steps = journal_steps(dirs, copies, ids, verify=params.verify, beneath=beneath)
        # The steps before the copies (directories, files set aside) weigh nothing.
        sizes = [0] * (len(steps) - len(copies)) + [r["size"] for r in copies]
        applied = apply(journal, "copy", params.model_dump(mode="json"), steps, ctx.cancel,
                        job_id=ctx.job_id, beneath=beneath, batch=APPLY_BATCH, sizes=sizes,
                        batch_bytes=APPLY_BATCH_BYTES, steps_of=ctx.steps)  # fmt: skip
    return summary.model_copy(update={"applied_op": applied.op_id})


def _plan(params: CopyParams, ctx: RunContext) -> Planned:
    return plan_copy_to_apply(
        params.selection,
        params.options(),
        max_errors=params.max_errors,
        progress=ctx.progress,
        cancel=ctx.cancel,
        beneath=ctx.beneath,
    )


def _sent(planned: Planned, ctx: RunContext) -> Planned:
    """The plan, its rows (the directories to make first) sent to ``ctx.rows``."""
    rows, dirs, ids, summary = planned
    made: list[dict[str, Any]] = [
        {"from": "", "to": d, "action": "mkdir", "reason": None, "size": 0} for d in dirs
    ]
    shown = made + rows
    for i in range(0, len(shown), BATCH):
        ctx.rows(shown[i : i + BATCH])
    return rows, dirs, ids, summary


def journal_steps(
    dirs: list[str],
    copies: list[dict[str, Any]],
    ids: list[tuple[int, int, int]],
    *,
    verify: bool,
    beneath: Sequence[str] = (),
) -> "list[Step]":
    """The journal's steps: the directories to make (parents first); each file an ``overwrite``
    replaces, renamed aside to ``.vegafs-TAG-old-N`` beside it (as rename's and move's
    overwrite: undo puts it back, ``vegafs ops forget`` deletes it); then the copies, each with
    its source's identity as the plan saw it, a temporary name unique to this run in its
    target's directory, and, with ``verify``, its source's digest. Paths are joined as text
    (no ``pathlib``: 100,000 steps)."""
    from vegafs.engine.renaming import identities
    from vegafs.journal.store import Step
    from vegafs.ops.rename import absolute, without_dots

    # A symlink's copy is checked by its text: it has no digest.
    sums = digests([r["from"] for r in copies], beneath=beneath) if verify else []
    tag = f"{os.getpid()}-{os.urandom(4).hex()}"
    # Absolute: recovery may run from another directory.
    cwd = f"{Path.cwd()}/"
    steps = [Step(absolute(cwd, d), absolute(cwd, d), 0, 0, 0, kind="copy_mkdir") for d in dirs]
    replaced = [absolute(cwd, r["to"]) for r in copies if r["action"] == "overwrite"]
    # Looked at now: a file gone since the plan needs no setting aside (the copy's publish
    # never replaces what may appear meanwhile).
    for n, (path, found) in enumerate(zip(replaced, identities(replaced, beneath=beneath),
                                          strict=True)):  # fmt: skip
        if found is not None:
            aside = f"{path.rpartition('/')[0]}/.vegafs-{tag}-old-{n + 1}"
            steps.append(Step(path, aside, *found))
    # One loop of plain operations per copy (no keyword arguments, no calls but Step's):
    # 100,000 copies take a tenth of a second less.
    temps = f"/.vegafs-{tag}-"
    for i, (row, (dev, ino, stamp)) in enumerate(zip(copies, ids, strict=True)):
        src, dst = row["from"], row["to"]
        src = src if src[:1] == "/" else cwd + src  # absolute(), inline (a file's path
        dst = dst if dst[:1] == "/" else cwd + dst  # never ends with "/.")
        if "/./" in src:
            src = without_dots(src)
        if "/./" in dst:
            dst = without_dots(dst)
        temp = f"{dst.rpartition('/')[0]}{temps}{i + 1}"
        steps.append(Step(src, dst, dev, ino, stamp, "copy", temp, sums[i] if sums else None))
    return steps


def check(params: CopyParams) -> None:
    params.selection.check()
    check_copy(params.options())


def confine_copy(params: CopyParams, roots: Sequence[Path]) -> CopyParams:
    """The Selection and DEST confined to the roots (a job). DEST need not exist: its nearest
    existing directory is confined, the missing names kept."""
    spec = confine_selection(params, roots)
    confined: CopyParams = spec.model_copy(update={"dest": confine_new(params.dest, roots)})
    return confined


def text(row: dict[str, Any]) -> str:
    """``DIR/ (new directory)``; ``from -> to``; ``from -> to (already copied)``; ``from -> to
    (overwrites: the old one kept aside)``; ``from -> to: refused, REASON``."""
    if row["action"] == "mkdir":
        return f"{row['to']}/ (new directory)"
    line = f"{row['from']} -> {row['to']}"
    if row["action"] == "copied":
        return f"{line} (already copied)"
    if row["action"] == "overwrite":
        return f"{line} (overwrites: the old one kept aside)"
    return f"{line}: refused, {row['reason']}" if row["action"] == "refused" else line


COPY = Operation(
    name="copy",
    summary="Plan copies of the selected files under DEST (the last PATH), checked and "
    "previewed (nothing changes yet).",
    params=CopyParams,
    result=CopySummary,
    row=CopyRow,
    run=run,
    check=check,
    text=text,
    last_path="dest",
    confine=confine_copy,
)

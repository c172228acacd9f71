"""The ``pipeline`` operation: a Selection and a sequence of built-in steps (``match``, then
``hash``, ...), run over one walk in the core. ``vegafs run FILE`` reads the same params from a
YAML or JSON document; a job takes them as ``{"operation": "pipeline", "params": {...}}``.
"""

from pydantic import BaseModel, ConfigDict, Field

from vegafs import engine
from vegafs.engine.pipeline import (
    HashStep,
    MatchStep,
    PipelineRow,
    PipelineSummary,
    Step,
    check_steps,
    run_pipeline,
    summary_of,
)
from vegafs.ops.fields import MaxErrors
from vegafs.ops.registry import Operation, RunContext, drain


class PipelineParams(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    selection: engine.Selection
    steps: list[Step] = Field(
        min_length=1,
        description='The steps, in order, as JSON: e.g. [{"match": "ERROR"}, {"hash": {"algo": '
        '"sha256"}}]. match keeps the files with a matching line (invert: without one); hash '
        "adds each file's digest.",
    )
    max_errors: MaxErrors = 1000


def run(params: PipelineParams, ctx: RunContext) -> PipelineSummary:
    steps: list[MatchStep | HashStep] = list(params.steps)
    stream = run_pipeline(
        params.selection,
        steps,
        max_errors=params.max_errors,
        progress=ctx.progress,
        cancel=ctx.cancel,
        beneath=ctx.beneath,
    )
    return summary_of(drain(stream, ctx), steps)


def check(params: PipelineParams) -> None:
    params.selection.check()
    check_steps(list(params.steps))


def text(row: dict[str, object]) -> str:
    """``digest  path`` after a hash step (as b3sum prints it), the path alone otherwise."""
    digest = row.get("digest")
    return f"{digest}  {row['path']}" if digest else str(row["path"])


PIPELINE = Operation(
    name="pipeline",
    summary="Files of the trees through a sequence of steps (match, hash) in one walk; "
    "vegafs run FILE reads them from a YAML or JSON document.",
    params=PipelineParams,
    result=PipelineSummary,
    row=PipelineRow,
    run=run,
    check=check,
    text=text,
)

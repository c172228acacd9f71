"""The ``pipeline`` operation: a Selection and a sequence of built-in steps (``match``, then
``hash``, ...), run over one walk in the core. ``vegafs run FILE`` reads the same params from a
YAML or JSON document; a job takes them as ``{"operation": "pipeline", "params": {...}}``.
"""

from collections.abc import Sequence
from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field

from vegafs import engine
from vegafs.engine.pipeline import (
    AnyStep,
    PipelineRow,
    PipelineSummary,
    Step,
    ValidateStep,
    check_steps,
    run_pipeline,
    summary_of,
)
from vegafs.errors import SchemaError
from vegafs.ops.confine import confine, confine_selection
from vegafs.ops.fields import MaxErrors
from vegafs.ops.registry import Operation, RunContext, drain


class PipelineParams(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    selection: engine.Selection
    steps: list[Step] = Field(
        min_length=1,
        description='The steps, in order, as JSON: e.g. [{"match": "ERROR"}, {"hash": {"algo": '
        '"sha256"}}, {"validate": {"keep": "invalid"}}]. match keeps the files with a matching '
        "line (invert: without one); hash adds each file's digest; validate checks its format.",
    )
    max_errors: MaxErrors = 1000


def run(params: PipelineParams, ctx: RunContext) -> PipelineSummary:
    steps: list[AnyStep] = list(params.steps)
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
    try:
        check_steps(list(params.steps))
    except OSError as e:  # a validate step's schema file
        raise SchemaError(str(e.filename), f"cannot be read: {e.strerror or e}") from None


def confine_pipeline(params: PipelineParams, roots: Sequence[Path]) -> PipelineParams:
    """The selection's roots and every validate step's schema file confined to ``roots``."""
    params = confine_selection(params, roots)
    steps: list[AnyStep] = []
    for step in params.steps:
        schema = step.validate_.schema_file if isinstance(step, ValidateStep) else None
        if isinstance(step, ValidateStep) and schema is not None:
            spec = step.validate_.model_copy(update={"schema_file": str(confine(schema, roots))})
            steps.append(step.model_copy(update={"validate_": spec}))
        else:
            steps.append(step)
    return params.model_copy(update={"steps": steps})


def text(row: dict[str, object]) -> str:
    """``digest  path`` after a hash step (as b3sum prints it), the path alone otherwise; then
    ``: invalid: PROBLEM`` for a file a validate step found invalid."""
    digest = row.get("digest")
    line = f"{digest}  {row['path']}" if digest else str(row["path"])
    return f"{line}: invalid: {row['problem']}" if row.get("valid") is False else line


PIPELINE = Operation(
    name="pipeline",
    summary="Files of the trees through a sequence of steps (match, hash, validate) in one walk; "
    "vegafs run FILE reads them from a YAML or JSON document.",
    params=PipelineParams,
    result=PipelineSummary,
    row=PipelineRow,
    run=run,
    check=check,
    blocking_checks=True,
    confine=confine_pipeline,
    text=text,
)

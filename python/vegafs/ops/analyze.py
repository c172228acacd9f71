"""The ``analyze`` operation."""

from datetime import datetime

from pydantic import BaseModel, ConfigDict, Field, NonNegativeInt

from vegafs import engine
from vegafs.engine.analyze import AnalyzeResult
from vegafs.ops.registry import Operation, RunContext, register


class AnalyzeSpec(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    selection: engine.Selection
    top: NonNegativeInt = Field(default=10, description="Largest files and directories listed.")
    max_errors: NonNegativeInt = Field(default=1000, description="Errors listed (all counted).")
    now: datetime | None = Field(
        default=None, description="Reference time of the age histogram (default: now)."
    )


def run_analyze(spec: AnalyzeSpec, ctx: RunContext) -> AnalyzeResult:
    return engine.analyze(
        spec.selection,
        top=spec.top,
        max_errors=spec.max_errors,
        now=spec.now,
        progress=ctx.progress,
        cancel=ctx.cancel,
    )


ANALYZE = register(
    Operation(
        name="analyze",
        summary="Sizes, counts, kinds, ages, owners, largest files and directories of trees.",
        spec=AnalyzeSpec,
        result=AnalyzeResult,
        run=run_analyze,
    )
)

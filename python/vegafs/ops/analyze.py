"""The ``analyze`` operation: statistics of directory trees. Its rows are the entries that could
not be read (the first ``max_errors``); everything else is the summary."""

from datetime import datetime

from pydantic import BaseModel, ConfigDict, Field, NonNegativeInt, field_validator

from vegafs import engine
from vegafs.engine.analysis import AnalyzeSummary, EntryError
from vegafs.ops.fields import MaxErrors
from vegafs.ops.registry import Operation, RunContext

# The largest files and directories listed are kept in memory while the walk runs.
MAX_TOP = 100_000


class AnalyzeSpec(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    selection: engine.Selection
    top: NonNegativeInt = Field(
        default=10, le=MAX_TOP, description="Largest files and directories listed."
    )
    max_errors: MaxErrors = 1000
    now: datetime | None = Field(
        default=None,
        description="Reference time of the age histogram (ISO time or @seconds; default: now).",
    )

    @field_validator("now")
    @classmethod
    def _now_in_range(cls, now: datetime | None) -> datetime | None:
        if now is not None:
            try:
                now.timestamp()
            except (OverflowError, ValueError, OSError) as e:
                raise ValueError(f"out of range ({e})") from None
        return now


def run_analyze(spec: AnalyzeSpec, ctx: RunContext) -> AnalyzeSummary:
    result = engine.analyze(
        spec.selection,
        top=spec.top,
        max_errors=spec.max_errors,
        now=spec.now,
        progress=ctx.progress,
        cancel=ctx.cancel,
        beneath=ctx.beneath,
    )
    # The error list is bounded by max_errors: it is sent once, at the end.
    if result.errors:
        ctx.rows([e.model_dump(mode="json") for e in result.errors])
    # The result's own fields but its errors: already validated, so not validated again.
    return AnalyzeSummary.model_construct(
        **{name: getattr(result, name) for name in AnalyzeSummary.model_fields}
    )


ANALYZE = Operation(
    name="analyze",
    summary="Sizes, counts, kinds, ages, owners, largest files and directories of trees.",
    params=AnalyzeSpec,
    result=AnalyzeSummary,
    row=EntryError,
    run=run_analyze,
    cacheable=True,
    short_flags={"top": "-n"},
)

"""The ``analyze`` operation."""

from datetime import datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, NonNegativeInt, field_validator

from vegafs import engine
from vegafs.engine.analyze import AnalyzeResult, EntryError
from vegafs.ops.registry import Operation, RunContext, register

# Bounds on what one result lists: they are kept in memory while the walk runs.
MAX_TOP = 100_000
MAX_LISTED_ERRORS = 1_000_000


class AnalyzeSpec(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    selection: engine.Selection
    top: NonNegativeInt = Field(
        default=10, le=MAX_TOP, description="Largest files and directories listed."
    )
    max_errors: NonNegativeInt = Field(
        default=1000, le=MAX_LISTED_ERRORS, description="Errors listed (all counted)."
    )
    now: datetime | None = Field(
        default=None, description="Reference time of the age histogram (default: now)."
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


def run_analyze(spec: AnalyzeSpec, ctx: RunContext) -> AnalyzeResult:
    return engine.analyze(
        spec.selection,
        top=spec.top,
        max_errors=spec.max_errors,
        now=spec.now,
        progress=ctx.progress,
        cancel=ctx.cancel,
    )


def split_analyze(result: AnalyzeResult) -> tuple[dict[str, Any], list[EntryError]]:
    """The summary is the whole result but its error list; the listed errors are the rows."""
    return result.model_dump(mode="json", exclude={"errors"}), result.errors


ANALYZE = register(
    Operation(
        name="analyze",
        summary="Sizes, counts, kinds, ages, owners, largest files and directories of trees.",
        spec=AnalyzeSpec,
        result=AnalyzeResult,
        run=run_analyze,
        split=split_analyze,
        cacheable=True,
    )
)

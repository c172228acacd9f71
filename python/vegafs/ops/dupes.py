"""The ``dupes`` operation: groups of files of equal content, one row each (hash, size, count,
wasted bytes, paths), largest waste first; the summary has what keeping one copy of each would
give back. Found as fclones finds them: size, then first and last blocks, then whole content."""

from pydantic import BaseModel, ConfigDict

from vegafs import engine
from vegafs.engine.dupes import DupeGroup, DupesSummary
from vegafs.ops.fields import MaxErrors
from vegafs.ops.registry import Operation, RunContext, drain


class DupesParams(BaseModel):
    """``selection.min_size`` unset means 1 byte (empty files are not reported); 0 reports them."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    selection: engine.Selection
    max_errors: MaxErrors = 1000


def run_dupes(params: DupesParams, ctx: RunContext) -> DupesSummary:
    stream = engine.find_dupes(
        params.selection,
        max_errors=params.max_errors,
        progress=ctx.progress,
        cancel=ctx.cancel,
        beneath=ctx.beneath,
    )
    return DupesSummary.model_validate(drain(stream, ctx))


DUPES = Operation(
    name="dupes",
    summary="Groups of files with equal content, largest waste first (size, edges, then blake3).",
    params=DupesParams,
    result=DupesSummary,
    row=DupeGroup,
    run=run_dupes,
    cacheable=True,
)

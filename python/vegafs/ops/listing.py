"""The ``list`` operation: every entry the Selection reports, one row each (path, type, size,
mtime), streamed as the walk finds them, like ``fd`` or ``find -printf``."""

from pydantic import BaseModel, ConfigDict

from vegafs import engine
from vegafs.engine.listing import EntryRow, ListSummary
from vegafs.ops.fields import MaxErrors
from vegafs.ops.registry import Operation, RunContext, drain


class ListParams(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    selection: engine.Selection
    max_errors: MaxErrors = 1000


def run_list(params: ListParams, ctx: RunContext) -> ListSummary:
    stream = engine.list_entries(
        params.selection,
        max_errors=params.max_errors,
        progress=ctx.progress,
        cancel=ctx.cancel,
        beneath=ctx.beneath,
    )
    return ListSummary.model_validate(drain(stream, ctx))


LIST = Operation(
    name="list",
    summary="Every entry of the trees, one row each: path, type, size, mtime (like fd).",
    params=ListParams,
    result=ListSummary,
    row=EntryRow,
    run=run_list,
    text=lambda row: str(row["path"]),
)

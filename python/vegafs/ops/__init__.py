"""Operations: one declaration each (``Operation``), found by name in the registry that the CLI,
the API, the worker and the docs are driven from."""

from vegafs.ops.registry import (
    ENTRY_POINT_GROUP,
    LineSink,
    Operation,
    RowBuffer,
    Rows,
    RowSink,
    RunContext,
    all_operations,
    can_split,
    drain,
    get,
    names,
    register,
    run,
)

__all__ = [
    "ENTRY_POINT_GROUP",
    "LineSink",
    "Operation",
    "RowBuffer",
    "RowSink",
    "Rows",
    "RunContext",
    "all_operations",
    "can_split",
    "drain",
    "get",
    "names",
    "register",
    "run",
]

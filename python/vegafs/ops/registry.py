"""Operations: one declaration each, and the registry that finds them.

An :class:`Operation` says everything the rest of VegaFS needs: its name and one-line summary,
the pydantic models of its params, of its summary and of one result row, whether it changes
files, and ``run(params, ctx) -> summary`` which sends its rows to ``ctx.rows`` as they come.
From it come the CLI command and its ``--submit`` form (``vegafs.cli.commands``), the job type
(``POST /api/v1/jobs``), ``GET /api/v1/operations`` and the option tables of docs/cli.md.

Built-in operations are imported when first asked for, so ``vegafs analyze`` loads analyze
alone; operations of other packages are found through the entry-point group
``vegafs.operations`` (each entry point names an ``Operation`` object, or a plugin function that
``vegafs.ops.plugins`` wraps into one).
"""

import functools
import importlib
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pydantic import BaseModel

from vegafs.engine import CancelToken, Progress
from vegafs.eta import Steps
from vegafs.ops.confine import confine_selection

ENTRY_POINT_GROUP = "vegafs.operations"

# A batch of rows, each a JSON-ready dict shaped like the operation's row model.
Rows = list[dict[str, Any]]
RowSink = Callable[[Rows], None]
# Ready lines of text (bytes), for operations that format their output in the core.
LineSink = Callable[[bytes], None]


class RowBuffer:
    """The default row sink: keeps every row. Pass a sink of your own for large outputs."""

    def __init__(self) -> None:
        self.rows: Rows = []

    def __call__(self, batch: Rows) -> None:
        self.rows.extend(batch)


@dataclass(frozen=True)
class RunContext:
    """What a caller shares with a running operation: its progress counters and cancel token,
    where its rows go, and the roots its walk must stay beneath (jobs; empty: anywhere).

    ``lines``: set by a caller that only prints (the local CLI without ``--json``). An operation
    that can format its text output in the core (``search``, ``replace``'s diffs) then writes
    those bytes there and sends as rows only what it does not format (``replace``'s refused
    files); the others ignore it."""

    progress: Progress = field(default_factory=Progress)
    cancel: CancelToken = field(default_factory=CancelToken)
    rows: RowSink = field(default_factory=RowBuffer)
    lines: LineSink | None = None
    beneath: tuple[Path, ...] = ()
    job_id: int | None = None  # the job this runs for (a writing operation's journal names it)
    steps: Steps = field(default_factory=Steps)  # a writing operation's apply: its plan's steps


def drain(stream: Any, ctx: RunContext) -> Any:
    """Sends each batch of a row stream (``vegafs.engine``'s) to ``ctx.rows`` as it comes, and
    returns the stream's summary; the stream is closed however this ends (its walk stops)."""
    try:
        for batch in stream:
            ctx.rows(batch)
    finally:
        stream.close()
    return stream.summary()


def _check_selection(params: Any) -> None:
    params.selection.check()


@dataclass(frozen=True)
class Operation:
    """One operation, declared once."""

    name: str
    summary: str  # one line, shown by `vegafs --help` and GET /operations
    params: type[BaseModel]  # a `selection` field (a Selection), or none: no PATH (verify)
    result: type[BaseModel]  # the summary a run returns (kept on the job)
    row: type[BaseModel] | None  # one result row (rows are streamed and stored apart)
    run: Callable[[Any, RunContext], BaseModel]
    mutates: bool = False
    # Results may be served from the cache (a read-only operation on unchanged input).
    cacheable: bool = False
    # Short command-line flags for params fields, e.g. {"top": "-n"}; long flags come from the
    # field names (`max_errors` -> `--max-errors`).
    short_flags: Mapping[str, str] = field(default_factory=dict)
    # Long flags that are not the field's name, e.g. {"patterns": "--regexp"}.
    long_flags: Mapping[str, str] = field(default_factory=dict)
    # A list field the command line also takes as its first argument, before PATH (search's
    # PATTERN); when its option is given, that argument is a PATH, as in grep and rg. In params
    # without a selection: any field, the command's one argument (verify's MANIFEST).
    positional: str | None = None
    # Further str fields the command line takes as its next arguments, after the positional
    # one and before PATH (replace's REPLACEMENT); each one's option, when given, leaves its
    # argument to the next field (or to PATH).
    more_positionals: tuple[str, ...] = ()
    # A Path field the command line also takes as its last PATH (copy's DEST), unless its
    # option is given (as `cp -t DIR SRC...`).
    last_path: str | None = None
    # A row as one line of text (the CLI's default output); None: its JSON.
    text: Callable[[dict[str, Any]], str] | None = None
    # The params with every path they name confined to the roots (ops.confine).
    confine: Callable[[Any, Sequence[Path]], Any] = confine_selection
    # Raises what running the params would raise before any work (SelectionError naming the
    # field), so that the API refuses a bad job when it is submitted, not when it runs.
    check: Callable[[Any], None] = _check_selection
    # True when confine or check may wait on more than the named paths' metadata (the journal,
    # a schema or manifest file): the API then runs them in a thread, off its event loop. False:
    # a realpath per named path and CPU work, run inline (a thread hop costs a submit about
    # 0.16 ms of CPU and doubles its p99: docs/benchmarks.md).
    blocking_checks: bool = False

    def params_schema(self) -> dict[str, Any]:
        """JSON Schema of the operation's parameters."""
        return self.params.model_json_schema()


# name -> "module:attribute" of the built-in operations, imported when first asked for.
BUILTIN = {
    "analyze": "vegafs.ops.analyze:ANALYZE",
    "copy": "vegafs.ops.copy:COPY",
    "dupes": "vegafs.ops.dupes:DUPES",
    "hash": "vegafs.ops.hashing:HASH",
    "list": "vegafs.ops.listing:LIST",
    "move": "vegafs.ops.move:MOVE",
    "pipeline": "vegafs.ops.pipeline:PIPELINE",
    "rename": "vegafs.ops.rename:RENAME",
    "replace": "vegafs.ops.replace:REPLACE",
    "search": "vegafs.ops.search:SEARCH",
    "undo": "vegafs.ops.undo:UNDO",
    "verify": "vegafs.ops.verify:VERIFY",
    "validate": "vegafs.ops.validating:VALIDATE",
}

# Built-in operations a job may run as shards (``vegafs.ops.sharding`` splits and merges them):
# those whose shards' rows are appended and whose summaries' counts add up, and two merged
# their own way. Here, not in ``sharding``: the command line asks for every command, and
# ``sharding`` imports the engine's analysis and dupes.
APPENDING = frozenset({"search", "hash", "validate"})
SPLITTABLE = frozenset({"analyze", "dupes"}) | APPENDING


def can_split(operation: str) -> bool:
    return operation in SPLITTABLE


_LOADED: dict[str, Operation] = {}


def register(op: Operation) -> Operation:
    """Add an operation declared at run time (tests, embedding applications)."""
    if op.name in names():
        raise ValueError(f"operation {op.name!r} registered twice")
    _LOADED[op.name] = op
    return op


def names() -> list[str]:
    """Every operation's name, sorted, without importing any of them."""
    return sorted({*BUILTIN, *_LOADED, *_entry_points()})


def get(name: str) -> Operation:
    if name in _LOADED:
        return _LOADED[name]
    target = BUILTIN.get(name) or _entry_points().get(name)
    if target is None:
        raise KeyError(f"unknown operation {name!r} (known: {', '.join(names())})")
    op = _load(name, target)
    _LOADED[name] = op
    return op


def all_operations() -> list[Operation]:
    return [get(name) for name in names()]


def run(name: str, params: BaseModel | dict[str, Any], ctx: RunContext | None = None) -> BaseModel:
    """Validate ``params`` against the operation's params model and run it; the summary."""
    op = get(name)
    spec = params if isinstance(params, op.params) else op.params.model_validate(params)
    return op.run(spec, ctx or RunContext())


def _load(name: str, target: str) -> Operation:
    module, _, attribute = target.partition(":")
    op = getattr(importlib.import_module(module), attribute)
    if not isinstance(op, Operation) and callable(op):  # a plugin function (vegafs.plugins)
        from vegafs.ops.plugins import plugin_operation

        op = plugin_operation(name, target, op)
    if not isinstance(op, Operation):
        raise TypeError(f"{target} is neither a vegafs.ops.Operation nor a function")
    if op.name != name:
        raise ValueError(f"{target} declares operation {op.name!r}, registered as {name!r}")
    return op


@functools.cache
def _entry_points() -> dict[str, str]:
    """Operations of installed packages: name -> "module:attribute" (read once)."""
    from importlib.metadata import entry_points

    return {
        ep.name: ep.value for ep in entry_points(group=ENTRY_POINT_GROUP) if ep.name not in BUILTIN
    }

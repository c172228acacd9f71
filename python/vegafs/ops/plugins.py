"""Plugins as operations: a plain function (``vegafs.plugins``) wrapped into an ``Operation``.

An entry point of ``vegafs.operations`` that names a function, or ``vegafs run --plugin
module:function``, becomes an operation whose params are the common Selection (regular files
unless ``types`` says otherwise), the batch size, a per-batch timeout, the number of worker
processes and ``max_errors``, plus the plugin's own params when it declares some. Its rows are
the function's (free-form JSON objects, or its declared row model); its summary counts files,
batches, rows and errors (``PluginSummary``).

The walk (the core's ``list`` stream) sends batches of files here as it finds them; a
``PluginPool`` of worker processes runs the function on each; rows go to ``ctx.rows`` as each
batch finishes. A batch that raises, times out or kills its process becomes one error (with the
traceback, and its files); the run goes on.
"""

import json
import pickle
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, create_model

from vegafs import engine
from vegafs.engine.selection import EntryTypeName
from vegafs.errors import Cancelled
from vegafs.ops.fields import MaxErrors
from vegafs.ops.registry import Operation, RunContext
from vegafs.plugins import PluginInfo, info_of
from vegafs.plugins.pool import Batch, Outcome, PluginPool, available_cpus

FILES_ONLY: frozenset[EntryTypeName] = frozenset({"file"})
MAX_PROCESSES = 256


class PluginSelection(engine.Selection):
    """The Selection, but a plugin is given regular files only unless ``types`` names others."""

    types: frozenset[EntryTypeName] = Field(
        default=FILES_ONLY, description="Entry types the plugin is given (default: files)."
    )


class PluginParams(BaseModel):
    """What every plugin operation takes."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    selection: PluginSelection
    batch_size: Annotated[int, Field(ge=1, le=100_000)] = Field(
        default=1000, description="Files per call of the plugin."
    )
    timeout: Annotated[float, Field(gt=0, le=86_400)] = Field(
        default=600.0,
        description="Seconds one batch may take; then its process is killed and its files "
        "reported as timed out.",
    )
    processes: int | None = Field(
        default=None, ge=1, le=MAX_PROCESSES, description="Worker processes (default: one per CPU)."
    )
    max_errors: MaxErrors = 1000


class PluginError(BaseModel):
    """A file or a batch the plugin could not handle."""

    model_config = ConfigDict(frozen=True)

    path: str  # the file; for a failed batch its first file
    # The walk's kinds (permission_denied, vanished, loop, ...); "file": the plugin returned a
    # FileError; a failed batch: "exception", "timeout", "crashed" (its process died) or
    # "bad-row" (a row that is not a JSON object, or not of the plugin's row model).
    kind: str
    error: str  # one line
    traceback: str | None = None  # "exception": the plugin's traceback
    files: list[str] = []  # a failed batch: every file it held (none of them has rows)


class PluginSummary(BaseModel):
    """What a plugin run did. Rows are the plugin's, sent as their batches finish."""

    model_config = ConfigDict(frozen=True)

    schema_version: Literal[1] = 1
    plugin: str  # "module:function"
    roots: list[str]
    files: int  # files handed to the plugin
    bytes: int  # their sizes
    batches: int  # calls of the plugin, failed ones included
    rows: int
    failed_batches: int
    failed_files: int  # files of failed batches
    error_count: int  # walk errors, FileErrors and failed batches
    errors: list[PluginError]  # the first max_errors
    processes: int  # worker processes started, replacements included
    elapsed_s: float


class FreeRow(BaseModel):
    """A row of a plugin that declares no row model: any JSON object."""

    model_config = ConfigDict(extra="allow")


@dataclass(frozen=True)
class PluginOperation(Operation):
    """An operation made from a plugin function; ``target`` names it ("module:function")."""

    target: str = ""
    info: PluginInfo = field(default_factory=PluginInfo)


def plugin_operation(name: str, target: str, function: Callable[..., Any]) -> PluginOperation:
    """The operation ``name`` that runs ``function`` (importable as ``target``)."""
    info = info_of(function)
    params: type[BaseModel] = PluginParams
    if info.params is not None:
        params = _with_own_params(name, info.params)
    summary = info.summary or _first_line(function.__doc__) or f"The plugin {target}."
    return PluginOperation(
        name=name,
        summary=summary,
        params=params,
        result=PluginSummary,
        row=info.row or FreeRow,
        run=lambda spec, ctx: run_plugin(target, info, spec, ctx),
        text=_text(info.text),
        target=target,
        info=info,
    )


def _with_own_params(name: str, own: type[BaseModel]) -> type[BaseModel]:
    """PluginParams with the plugin's own fields beside the common ones."""
    clash = set(own.model_fields) & set(PluginParams.model_fields)
    if clash:
        raise ValueError(f"plugin {name!r}: params field(s) {sorted(clash)} are VegaFS's own")
    fields: dict[str, Any] = {n: (f.annotation, f) for n, f in own.model_fields.items()}
    model: type[BaseModel] = create_model(
        f"{own.__name__}WithSelection", __base__=PluginParams, **fields
    )
    return model


def _first_line(doc: str | None) -> str | None:
    lines = (doc or "").strip().splitlines()
    return lines[0].strip() if lines else None


def _text(text: str | Callable[[dict[str, Any]], str] | None) -> Any:
    if text is None or callable(text):
        return text
    fmt = text

    def formatted(row: dict[str, Any]) -> str:
        try:
            return fmt.format(**row)
        except (KeyError, IndexError, ValueError):  # a row without a field of the format
            return json.dumps(row, separators=(",", ":"))

    return formatted


def run_plugin(target: str, info: PluginInfo, spec: Any, ctx: RunContext) -> PluginSummary:
    """Walks the selection, runs the plugin on batches of its files in worker processes, sends
    each batch's rows to ``ctx.rows`` as it finishes; the summary."""
    started = time.monotonic()
    own = None
    if info.params is not None:
        own = info.params.model_validate(spec.model_dump(include=set(info.params.model_fields)))
    tally = _Tally(spec.max_errors)
    walk_progress = engine.Progress()  # ctx.progress counts files as their batches finish
    stream = engine.list_entries(
        spec.selection,
        batch_size=spec.batch_size,
        max_errors=spec.max_errors,
        progress=walk_progress,
        cancel=ctx.cancel,
        beneath=ctx.beneath,
    )
    pool = PluginPool(
        target,
        processes=spec.processes or available_cpus(),
        timeout_s=spec.timeout,
        params=None if own is None else pickle.dumps(own),
    )
    try:
        with pool:
            for outcome in pool.run(_batches(stream), lambda: ctx.cancel.cancelled):
                tally.add(outcome)
                if outcome.rows:
                    ctx.rows(outcome.rows)
                failed = len(outcome.batch.paths) if outcome.failure else 0
                errors = failed + len(outcome.file_errors)
                ctx.progress.add(
                    entries=len(outcome.batch.paths), bytes=outcome.batch.bytes, errors=errors
                )
            if ctx.cancel.cancelled:
                raise Cancelled("cancelled")
    finally:
        stream.close()
    walked = stream.summary()
    ctx.progress.add(errors=walked.error_count)
    return tally.summary(target, walked, pool.started, time.monotonic() - started)


def _batches(stream: Any) -> Any:
    """The walk's row batches as plugin batches (one each), column by column."""
    for number, rows in enumerate(stream):
        yield Batch(
            number,
            [r["path"] for r in rows],
            [r["type"] for r in rows],
            [r["size"] for r in rows],
            [r["mtime"] for r in rows],
        )


class _Tally:
    def __init__(self, max_errors: int) -> None:
        self.max_errors = max_errors
        self.files = self.bytes = self.batches = self.rows = 0
        self.failed_batches = self.failed_files = self.error_count = 0
        self.errors: list[PluginError] = []

    def _error(self, error: PluginError) -> None:
        self.error_count += 1
        if len(self.errors) < self.max_errors:
            self.errors.append(error)

    def add(self, outcome: Outcome) -> None:
        batch = outcome.batch
        self.files += len(batch.paths)
        self.bytes += batch.bytes
        self.batches += 1
        self.rows += len(outcome.rows)
        for path, message in outcome.file_errors:
            self._error(PluginError(path=path, kind="file", error=message))
        if outcome.failure is not None:
            kind, message, trace = outcome.failure
            self.failed_batches += 1
            self.failed_files += len(batch.paths)
            first = batch.paths[0] if batch.paths else ""
            error = PluginError(
                path=first, kind=kind, error=message, traceback=trace, files=batch.paths
            )
            self._error(error)

    def summary(self, target: str, walked: Any, processes: int, elapsed: float) -> PluginSummary:
        walk_errors = [PluginError(path=p, kind=k, error=e) for p, k, e in walked.errors]
        room = max(0, self.max_errors - len(self.errors))
        return PluginSummary(
            plugin=target,
            roots=[str(r) for r in walked.roots],
            files=self.files,
            bytes=self.bytes,
            batches=self.batches,
            rows=self.rows,
            failed_batches=self.failed_batches,
            failed_files=self.failed_files,
            error_count=self.error_count + walked.error_count,
            errors=walk_errors[:room] + self.errors if room else self.errors,
            processes=processes,
            elapsed_s=round(elapsed, 6),
        )

"""list_entries(): one row per selected entry, streamed in batches, and its summary (schema 1).

Rows stay plain dicts on the hot path, as the core sends them; ``EntryRow`` documents (and in
tests validates) their schema. Memory stays bounded whatever the number of entries: the core
sends batches through a channel of a few batches, and blocks while the consumer is behind.
"""

from collections.abc import Sequence
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict

from vegafs import _native
from vegafs.engine.analysis import EntryError
from vegafs.engine.selection import EntryTypeName, Selection, as_selection, check_stream_args
from vegafs.engine.summary import CoreSummary


class EntryRow(BaseModel):
    """One row of ``list_entries``: a selected entry, as ``lstat`` saw it."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    path: str  # the root as given joined with the names below it; surrogate escapes for non-UTF-8
    type: EntryTypeName
    size: int  # st_size; a symlink's own size
    mtime: int  # seconds since the epoch


class ListSummary(CoreSummary):
    """What a finished ``list_entries`` stream saw: ``ListSummary.model_validate(s.summary())``
    (the native ``_native.ListSummary``, read by ``_native_fields``), or its own dict/JSON."""

    schema_version: Literal[1] = 1
    roots: list[str]
    entries: int  # rows: files + dirs + symlinks + other
    files: int
    dirs: int
    symlinks: int
    other: int
    file_bytes: int  # st_size of the regular files listed, each entry (hard link) counted
    error_count: int
    errors: list[EntryError]  # the first max_errors, in byte-wise path order
    elapsed_s: float


def list_entries(
    selection: Selection | str | Path | Sequence[str | Path],
    *,
    batch_size: int = 1024,
    max_errors: int = 1000,
    progress: _native.Progress | None = None,
    cancel: _native.CancelToken | None = None,
    beneath: Sequence[Path] = (),
) -> _native.RowStream:
    """Start listing the selected entries; returns at once.

    Iterate the stream for batches (lists of at most ``batch_size`` row dicts shaped like
    ``EntryRow``), then call ``summary()`` (a ``_native.ListSummary``; the model:
    ``ListSummary.model_validate(stream.summary())``). The call's errors are raised while iterating:
    FileNotFoundError / PermissionError naming a root, SelectionError for a bad filter,
    Cancelled when ``cancel`` is set, KeyboardInterrupt on Ctrl-C. Close the stream (or use it
    as a context manager) to stop early: the walk ends and its thread is joined. ``beneath``:
    as for ``analyze``.
    """
    selection = as_selection(selection)
    check_stream_args(batch_size, max_errors)
    return _native.list_entries(
        selection.to_native(beneath=beneath),
        batch_size=batch_size,
        max_errors=max_errors,
        progress=progress,
        cancel=cancel,
    )

"""hash_files(): a digest of every selected regular file, streamed in batches, and its summary
(schema 1).

Rows stay plain dicts on the hot path, as the core sends them; ``HashRow`` documents (and in
tests validates) their schema.
"""

from collections.abc import Sequence
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict

from vegafs import _native
from vegafs.engine.analysis import EntryError
from vegafs.engine.selection import Selection, as_selection, check_stream_args
from vegafs.engine.summary import CoreSummary

Algorithm = Literal["blake3", "sha256", "xxh3"]


class HashRow(BaseModel):
    """One row of ``hash_files``: a regular file and its digest."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    path: str  # the root as given joined with the names below it; surrogate escapes for non-UTF-8
    size: int  # bytes read and hashed
    digest: str  # lower-case hexadecimal


class HashSummary(CoreSummary):
    """What a finished ``hash_files`` stream did: ``HashSummary.model_validate(s.summary())``."""

    schema_version: Literal[1] = 1
    roots: list[str]
    algorithm: Algorithm
    files: int  # rows: regular files hashed
    bytes: int  # bytes hashed
    error_count: int
    errors: list[EntryError]  # the first max_errors, in byte-wise path order
    elapsed_s: float


def hash_files(
    selection: Selection | str | Path | Sequence[str | Path],
    *,
    algorithm: Algorithm = "blake3",
    batch_size: int = 1024,
    max_errors: int = 1000,
    progress: _native.Progress | None = None,
    cancel: _native.CancelToken | None = None,
    beneath: Sequence[Path] = (),
) -> _native.RowStream:
    """Start hashing the selected regular files; returns at once.

    Iterate the stream for batches of row dicts shaped like ``HashRow``, then call
    ``summary()`` (``HashSummary.model_validate(stream.summary())``). Symlinks, directories,
    FIFOs, sockets and devices are never read. Files that cannot be read are listed in the
    summary's errors; the call's own errors are raised while iterating, as for
    ``list_entries``. ``beneath``: as for ``analyze``.
    """
    selection = as_selection(selection)
    check_stream_args(batch_size, max_errors)
    return _native.hash_files(
        selection.to_native(beneath=beneath),
        algorithm=algorithm,
        batch_size=batch_size,
        max_errors=max_errors,
        progress=progress,
        cancel=cancel,
    )

"""verify_files(): the files a checksum manifest lists, checked against their digests, a row per
line in the manifest's order, and the summary (schema 1).

Rows stay plain dicts on the hot path, as the core sends them; ``VerifyRow`` documents (and in
tests validates) their schema.
"""

import os
from collections.abc import Sequence
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict

from vegafs import _native
from vegafs.engine.analysis import EntryError
from vegafs.engine.hashing import Algorithm
from vegafs.engine.selection import check_stream_args
from vegafs.engine.summary import CoreSummary

Status = Literal["ok", "changed", "missing", "unreadable"]


class VerifyRow(BaseModel):
    """One line of the manifest, checked."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    path: str  # as the manifest names it (escapes undone); surrogate escapes for non-UTF-8
    status: Status
    expected: str  # the listed digest, lower-case hexadecimal
    actual: str | None  # the digest read, when it differs (changed); else None
    message: str | None  # why the file is missing or unreadable; else None


class VerifySummary(CoreSummary):
    """What a finished ``verify_files`` stream found:
    ``VerifySummary.model_validate(s.summary())``."""

    schema_version: Literal[1] = 1
    manifest: str
    algorithm: Algorithm
    # Where the algorithm came from: the caller, the lines' tags (XXH3 (NAME) = ...), or the
    # default for 64 hex digits with no tag (blake3, as b3sum).
    algorithm_from: Literal["option", "tags", "default"]
    files: int  # lines checked (rows)
    ok: int
    changed: int
    missing: int
    unreadable: int
    bytes: int  # bytes read and hashed
    error_count: int  # missing + unreadable
    errors: list[EntryError]  # the first max_errors of them, in byte-wise path order
    hint: str | None  # when every file read differs: which algorithm the digests may be of
    elapsed_s: float

    @property
    def all_ok(self) -> bool:
        return self.ok == self.files


def verify_files(
    manifest: str | Path,
    *,
    base: str | Path = ".",
    algorithm: Algorithm | None = None,
    batch_size: int = 1024,
    max_errors: int = 1000,
    progress: _native.Progress | None = None,
    cancel: _native.CancelToken | None = None,
    beneath: Sequence[Path] = (),
) -> _native.RowStream:
    """Start checking the files ``manifest`` lists (lines of ``b3sum``, ``sha256sum``,
    ``xxhsum -H3`` or ``vegafs hash``); returns at once.

    Names in the manifest are relative to ``base`` (default: the current directory, as
    ``b3sum --check``). ``algorithm``: None takes it from the lines' tags, else blake3 for 64
    hex digits. Iterate the stream for batches of row dicts shaped like ``VerifyRow``, in the
    manifest's order, then call ``summary()``. A manifest that cannot be read raises OSError
    naming it, one with a line that is not a checksum line ``vegafs.errors.ManifestError``
    (its ``line``), both while iterating and before any file is read. FIFOs, sockets and
    devices are never opened for reading. ``beneath`` (jobs): the manifest and every file are
    opened beneath these roots without following symlinks; a file outside them is an
    ``unreadable`` row.
    """
    check_stream_args(batch_size, max_errors)
    return _native.verify_files(
        os.fspath(manifest),
        base=os.fspath(base),
        algorithm=algorithm,
        beneath=[os.fspath(p) for p in beneath],
        batch_size=batch_size,
        max_errors=max_errors,
        progress=progress,
        cancel=cancel,
    )

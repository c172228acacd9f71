"""find_dupes(): groups of files of equal content, streamed as rows, and its summary (schema 1).

The core finds them as fclones does: by size, then by a hash of each file's first and last
4 KiB, then by a hash of the whole content (blake3), each stage reading only the files the
previous one left together. Hard links to one inode are one file. Rows stay plain dicts on the
hot path, as the core sends them; ``DupeGroup`` documents (and in tests validates) their schema.
"""

from collections.abc import Sequence
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict

from vegafs import _native
from vegafs.engine.analysis import EntryError
from vegafs.engine.plain import summary_fields
from vegafs.engine.selection import Selection, as_selection, check_stream_args
from vegafs.engine.summary import CoreSummary


class DupeGroup(BaseModel):
    """One row of ``find_dupes``: inodes of equal content."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    hash: str  # blake3 of the content, 64 hex digits
    size: int  # bytes of each file
    count: int  # distinct inodes (hard links to one inode count once)
    wasted_bytes: int  # size * (count - 1)
    paths: list[str]  # every path to them, hard links too, byte-wise sorted


class Stage(BaseModel):
    """Candidates after a stage: groups of two or more inodes that it could not tell apart."""

    model_config = ConfigDict(frozen=True)

    groups: int
    files: int  # distinct inodes in those groups
    bytes: int  # their sizes, each inode once


class DupesSummary(CoreSummary):
    """What a finished ``find_dupes`` stream saw: ``DupesSummary.model_validate(s.summary())``
    (the native ``_native.DupesSummary``), or its own dict/JSON."""

    schema_version: Literal[1] = 1
    roots: list[str]
    files: int  # regular files compared (at least min_size bytes), each path counted
    bytes: int  # their sizes, each path counted
    hard_links: int  # paths to an inode already counted
    by_size: Stage  # inodes sharing their size with another
    by_edges: Stage  # ... and their first and last 4 KiB
    by_content: Stage  # ... and their whole content: the duplicates
    duplicate_groups: int
    duplicate_files: int  # inodes in the groups
    reclaimable_bytes: int  # the groups' wasted_bytes added up
    hashed_bytes: int  # bytes read to hash
    error_count: int
    errors: list[EntryError]  # the first max_errors, in byte-wise path order
    elapsed_s: float

    @classmethod
    def native_fields(cls, native: Any) -> dict[str, Any]:
        stages = {n: _stage(getattr(native, n)) for n in ("by_size", "by_edges", "by_content")}
        return {**summary_fields(native, cls.model_fields), **stages}


def _stage(counts: tuple[int, int, int]) -> Stage:
    groups, files, size = counts
    return Stage(groups=groups, files=files, bytes=size)


def find_dupes(
    selection: Selection | str | Path | Sequence[str | Path],
    *,
    batch_size: int = 256,
    max_errors: int = 1000,
    progress: _native.Progress | None = None,
    cancel: _native.CancelToken | None = None,
    beneath: Sequence[Path] = (),
) -> _native.RowStream:
    """Start looking for duplicate files among the selected ones; returns at once.

    Regular files of at least ``selection.min_size`` bytes are compared; when ``min_size`` is
    unset, 1 (empty files are all alike and waste nothing; ``min_size=0`` reports them too).
    Symlinks are not followed unless the Selection says so; FIFOs, sockets and devices are
    never opened. Iterate the stream for batches of row dicts shaped like ``DupeGroup`` (the
    largest ``wasted_bytes`` first, ties by hash; they come once every file is compared), then
    call ``summary()`` (``DupesSummary.model_validate(stream.summary())``). Errors, closing and
    ``beneath``: as for ``list_entries``.
    """
    selection = as_selection(selection)
    check_stream_args(batch_size, max_errors)
    return _native.find_dupes(
        selection.to_native(beneath=beneath),
        batch_size=batch_size,
        max_errors=max_errors,
        progress=progress,
        cancel=cancel,
    )


def dupe_files(
    selection: Selection | str | Path | Sequence[str | Path],
    *,
    batch_size: int = 1024,
    max_errors: int = 1000,
    progress: _native.Progress | None = None,
    cancel: _native.CancelToken | None = None,
    beneath: Sequence[Path] = (),
) -> _native.RowStream:
    """The walk of ``find_dupes`` alone (a shard of a sharded job runs it): rows ``{"path",
    "size", "dev", "ino"}``, one per regular file it would compare, in no order; its summary
    (``DupesSummary``) counts ``files``, ``bytes`` and the errors, its stages 0."""
    selection = as_selection(selection)
    check_stream_args(batch_size, max_errors)
    return _native.dupe_files(
        selection.to_native(beneath=beneath),
        batch_size=batch_size,
        max_errors=max_errors,
        progress=progress,
        cancel=cancel,
    )


def find_dupes_among(
    selection: Selection | str | Path | Sequence[str | Path],
    files: Sequence[tuple[str, int, int, int]],
    *,
    batch_size: int = 256,
    max_errors: int = 1000,
    progress: _native.Progress | None = None,
    cancel: _native.CancelToken | None = None,
    beneath: Sequence[Path] = (),
) -> _native.RowStream:
    """The stages of ``find_dupes`` over ``files`` (``(path, size, dev, ino)``, as
    ``dupe_files`` rows give them) found below ``selection``'s roots: each is opened again below
    its root and compared only if still the file its walk saw. Rows and summary as
    ``find_dupes``'s; ``files``, ``bytes`` and ``hard_links`` count ``files``."""
    selection = as_selection(selection)
    check_stream_args(batch_size, max_errors)
    return _native.find_dupes_among(
        selection.to_native(beneath=beneath),
        files if isinstance(files, list) else list(files),
        batch_size=batch_size,
        max_errors=max_errors,
        progress=progress,
        cancel=cancel,
    )

"""plan_copy(): the plan of copying the selected files and symlinks under a destination, and
its summary (schema 1). Planning reads the tree and changes nothing on disk.

Rows stay plain dicts, as the core sends them; ``CopyRow`` documents (and in tests validates)
their schema.
"""

import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from vegafs import _native
from vegafs.engine.analysis import EntryError
from vegafs.engine.plain import summary_fields
from vegafs.engine.selection import Selection, as_selection

OnConflict = Literal["fail", "skip", "suffix", "overwrite"]


class CopyOptions(BaseModel):
    """Where to copy and how: the fields of ``vegafs copy``'s options."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    dest: Path
    template: str | None = None  # the target's path below dest; None: the path below the root
    on_conflict: OnConflict = "fail"


class CopyRow(BaseModel):
    """One selected entry of a copy plan, in path order, after the directories to create."""

    model_config = ConfigDict(frozen=True, extra="forbid", populate_by_name=True)

    from_: str = Field(alias="from")  # as the walk reported it; surrogate escapes; mkdir: ""
    to: str
    # mkdir: a directory to create (these rows come first, parents first); copied: the target
    # is a copy already; overwrite: a copy onto a file there, which is set aside first (kept
    # until `vegafs ops forget`)
    action: Literal["mkdir", "copy", "overwrite", "copied", "refused"]
    reason: str | None  # why it is refused
    size: int  # bytes of a regular file, 0 for a symlink


class CopySummary(BaseModel):
    """What a copy plan holds."""

    model_config = ConfigDict(frozen=True)

    schema_version: Literal[1] = 1
    matched: int  # files and symlinks selected
    copies: int
    already: int  # targets that are copies already (same size and mtime): skipped
    refused: int
    dirs: int  # directories to create
    bytes: int  # what the copies will write
    ok: bool  # whether it may be applied (no refusal, or refusals skipped)
    error_count: int
    errors: list[EntryError]
    elapsed_s: float
    applied_op: int | None = None  # the journal's id of the operation, once applied


def _native_options(options: CopyOptions, max_errors: int) -> dict[str, Any]:
    return {**options.model_dump(), "dest": str(options.dest), "max_errors": max_errors}


def check_copy(options: CopyOptions) -> None:
    """Raises ``TemplateError`` (naming the position) before any walk."""
    _native.check_copy(_native_options(options, 0))


def plan_copy(
    selection: Selection | str | Path | Sequence[str | Path],
    options: CopyOptions,
    *,
    max_errors: int = 1000,
    progress: _native.Progress | None = None,
    cancel: _native.CancelToken | None = None,
    beneath: Sequence[Path] = (),
) -> tuple[list[dict[str, Any]], list[str], CopySummary]:
    """The plan's rows (dicts shaped like ``CopyRow``), the directories to create (parents
    first) and its summary. Errors: as for ``analyze``."""
    rows, dirs, _ids, summary = plan_copy_to_apply(
        selection, options, max_errors=max_errors, progress=progress, cancel=cancel,
        beneath=beneath,
    )  # fmt: skip
    return rows, dirs, summary


def plan_copy_to_apply(
    selection: Selection | str | Path | Sequence[str | Path],
    options: CopyOptions,
    *,
    max_errors: int = 1000,
    progress: _native.Progress | None = None,
    cancel: _native.CancelToken | None = None,
    beneath: Sequence[Path] = (),
) -> tuple[list[dict[str, Any]], list[str], list[tuple[int, int, int]], CopySummary]:
    """``plan_copy``, and the identity (device, inode, stamp) of each row to copy as the walk
    saw it: what the journal records and applying checks."""
    selection = as_selection(selection)
    rows, dirs, ids, summary = _native.plan_copy(
        selection.to_native(beneath=beneath),
        _native_options(options, max_errors),
        progress=progress,
        cancel=cancel,
    )
    fields = summary_fields(summary, CopySummary.model_fields.keys() - {"applied_op"})
    return rows, [os.fsdecode(d) for d in dirs], ids, CopySummary.model_validate(fields)


def digests(paths: Sequence[str], *, beneath: Sequence[str] = ()) -> list[bytes | None]:
    """The BLAKE3 digest (32 bytes) of each regular file, read in parallel; None for a symlink
    (none is followed) or anything else that is not a regular file. ``beneath``: a job's roots,
    as for ``plan_rename``: each path is opened beneath them."""
    return _native.blake3_digests(list(paths), beneath=beneath)

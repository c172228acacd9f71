"""plan_rename(): the plan of renaming the selected entries in place by a name template, and
its summary (schema 1). Planning reads the tree and changes nothing on disk.

Rows stay plain dicts, as the core sends them; ``RenameRow`` documents (and in tests validates)
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

SortKey = Literal["name", "mtime", "size", "path"]
OnConflict = Literal["fail", "skip", "suffix", "overwrite"]


class RenameOptions(BaseModel):
    """What to rename and how: the fields of ``vegafs rename``'s options."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    pattern: str | None = None  # regex on the name; None: every entry
    template: str
    sort: SortKey = "name"
    reverse: bool = False
    start: int = 1
    step: int = 1
    on_conflict: OnConflict = "fail"


class RenameRow(BaseModel):
    """One entry of a rename plan, in the numbering order."""

    model_config = ConfigDict(frozen=True, extra="forbid", populate_by_name=True)

    from_: str = Field(alias="from")  # as the walk reported it; surrogate escapes
    to: str
    action: Literal["move", "unchanged", "refused"]
    reason: str | None  # why it is refused


class RenameSummary(BaseModel):
    """What a rename plan holds."""

    model_config = ConfigDict(frozen=True)

    schema_version: Literal[1] = 1
    matched: int  # entries selected whose name matched
    moves: int
    unchanged: int
    refused: int
    steps: int  # renames to run, hops through a temporary name included
    ok: bool  # whether it may be applied (no refusal, or refusals skipped)
    error_count: int
    errors: list[EntryError]
    elapsed_s: float
    applied_op: int | None = None  # the journal's id of the operation, once applied


def _native_options(options: RenameOptions, max_errors: int) -> dict[str, Any]:
    return {**options.model_dump(), "max_errors": max_errors}


def check_rename(options: RenameOptions) -> None:
    """Raises ``PatternError`` or ``TemplateError`` (naming the position) before any walk."""
    _native.check_rename(_native_options(options, 0))


def plan_rename(
    selection: Selection | str | Path | Sequence[str | Path],
    options: RenameOptions,
    *,
    max_errors: int = 1000,
    progress: _native.Progress | None = None,
    cancel: _native.CancelToken | None = None,
    beneath: Sequence[Path] = (),
) -> tuple[list[dict[str, Any]], list[tuple[str, str, int]], RenameSummary]:
    """The plan's rows (dicts shaped like ``RenameRow``), its steps (``(from, to, row)`` in the
    order that runs them safely, ``row`` the index of the entry moved) and its summary.
    Errors: as for ``analyze``."""
    rows, steps, summary, _ = planned_renames(
        selection, options, max_errors=max_errors, progress=progress, cancel=cancel,
        beneath=beneath,
    )  # fmt: skip
    return rows, steps, summary


Identity = tuple[int, int, int]


def planned_renames(
    selection: Selection | str | Path | Sequence[str | Path],
    options: RenameOptions,
    *,
    max_errors: int = 1000,
    progress: _native.Progress | None = None,
    cancel: _native.CancelToken | None = None,
    beneath: Sequence[Path] = (),
) -> tuple[list[dict[str, Any]], list[tuple[str, str, int]], RenameSummary, list[Identity | None]]:
    """``plan_rename``'s plan, and per row the identity (``identities``) of its entry as the
    walk saw it, which the journal records (None for a target ``overwrite`` sets aside)."""
    selection = as_selection(selection)
    rows, steps, summary, found = _native.plan_rename(
        selection.to_native(beneath=beneath),
        _native_options(options, max_errors),
        temp_tag=f"{os.getpid()}-{os.urandom(4).hex()}",
        progress=progress,
        cancel=cancel,
    )
    fields = summary_fields(summary, RenameSummary.model_fields.keys() - {"applied_op"})
    return rows, steps, RenameSummary.model_validate(fields), found


def identities(paths: Sequence[str], *, beneath: Sequence[str] = ()) -> list[Identity | None]:
    """``(device, inode, stamp)`` of each path's entry (not following symlinks; stamp: mtime in
    ns, 0 for a directory); None: none there. ``beneath``: as for ``plan_rename``."""
    return _native.identities(list(paths), beneath=beneath)


def sizes(paths: Sequence[str], *, beneath: Sequence[str] = ()) -> list[int | None]:
    """The size in bytes of each path's entry (a symlink's own, none followed); None: none
    there. ``beneath``: as for ``plan_rename``."""
    return _native.sizes(list(paths), beneath=beneath)

"""plan_replace(): the plan of replacing a regex (or fixed string) in the selected files'
contents, with a unified diff per changed file, and its summary (schema 1). Planning reads the
files and changes nothing on disk.

The core's rows are plain dicts (``PlannedFile``: what applying needs, the diff as bytes);
``ReplaceRow`` is the row the operation shows and stores (the diff as text).
"""

from collections.abc import Sequence
from pathlib import Path
from typing import Any, Literal, TypedDict

from pydantic import BaseModel, ConfigDict

from vegafs import _native
from vegafs.engine import plain
from vegafs.engine.analysis import EntryError
from vegafs.engine.selection import Selection, as_selection


class ReplaceOptions(BaseModel):
    """What to replace and how: the fields of ``vegafs replace``'s options."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    pattern: str
    replacement: str
    fixed_strings: bool = False
    ignore_case: bool = False
    word_regexp: bool = False


class PlannedFile(TypedDict):
    """One file of the plan as the core gives it."""

    path: str  # as the walk reported it; surrogate escapes
    target: str  # the file written: path, or where a symlink given as PATH leads
    action: Literal["replace", "refused"]
    reason: str | None
    replacements: int
    diff: bytes
    dev: int
    ino: int
    stamp: int  # mtime in ns
    size: int
    digest: bytes  # BLAKE3 of the new content


class ReplaceRow(BaseModel):
    """One file of a replace plan: changed (its replacements and diff) or refused (why)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    path: str
    action: Literal["replace", "refused"]
    replacements: int
    diff: str  # unified diff; bytes that are not UTF-8 as surrogate escapes, as in names
    reason: str | None


class ReplaceSummary(BaseModel):
    """What a replace plan holds."""

    model_config = ConfigDict(frozen=True)

    schema_version: Literal[1] = 1
    files_scanned: int  # regular files read
    files_changed: int
    replacements: int
    refused: int  # files with a match left as they are (binary, hard links...)
    error_count: int
    errors: list[EntryError]
    elapsed_s: float
    applied_op: int | None = None  # the journal's id of the operation, once applied


def _native_options(options: ReplaceOptions, max_errors: int) -> dict[str, Any]:
    return {**options.model_dump(), "max_errors": max_errors}


def native_options(options: ReplaceOptions) -> dict[str, Any]:
    """The options as the core's ``replace_files`` takes them."""
    return _native_options(options, 0)


def check_replace(options: ReplaceOptions) -> None:
    """Raises ``PatternError`` (syntax, size or nesting limit) before any walk."""
    _native.check_replace(_native_options(options, 0))


def plan_replace(
    selection: Selection | str | Path | Sequence[str | Path],
    options: ReplaceOptions,
    *,
    max_errors: int = 1000,
    progress: _native.Progress | None = None,
    cancel: _native.CancelToken | None = None,
    beneath: Sequence[Path] = (),
) -> tuple[list[PlannedFile], ReplaceSummary]:
    """The plan's files (changed or refused), by path, and its summary. Errors: as for
    ``analyze``."""
    selection = as_selection(selection)
    rows, fields = plain.plan_replace(
        selection.to_native(beneath=beneath),
        options.model_dump(),
        max_errors=max_errors,
        progress=progress,
        cancel=cancel,
    )
    planned: list[PlannedFile] = rows  # type: ignore[assignment]
    return planned, ReplaceSummary.model_validate(fields)


def shown_row(row: PlannedFile) -> dict[str, Any]:
    """A planned file as the operation's row (``ReplaceRow``)."""
    return {
        "path": row["path"],
        "action": row["action"],
        "replacements": row["replacements"],
        "diff": row["diff"].decode("utf-8", "surrogateescape"),
        "reason": row["reason"],
    }

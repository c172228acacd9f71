"""plan_move(): the plan of moving the selected entries to the paths a template gives, below a
destination directory, creating the directories they need (schema 1). Planning reads the tree
and changes nothing on disk.

Rows stay plain dicts, as the core sends them (``MoveRow`` documents their schema): first one
``mkdir`` row per directory to create (parents first), then one row per entry.
"""

import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Literal, NamedTuple

from pydantic import BaseModel, ConfigDict, Field

from vegafs import _native
from vegafs.engine.plain import summary_fields
from vegafs.engine.renaming import RenameOptions, RenameSummary, _native_options
from vegafs.engine.selection import Selection, as_selection


class MoveOptions(RenameOptions):
    """What to move and where: a rename's options, the template giving a relative path."""

    dest: str | None = None  # the directory targets are relative to; None: each entry's root


class MoveRow(BaseModel):
    """A directory to create (``mkdir``: ``from`` is None), or one entry of the plan."""

    model_config = ConfigDict(frozen=True, extra="forbid", populate_by_name=True)

    from_: str | None = Field(alias="from")
    to: str
    action: Literal["mkdir", "move", "unchanged", "refused"]
    reason: str | None


class MoveSummary(RenameSummary):
    """What a move plan holds: a rename plan's counts, the directories to create, and the
    entries moved to another file system (copied, then their source removed)."""

    mkdirs: int
    across: int = 0


class MovePlan(NamedTuple):
    rows: list[dict[str, Any]]
    steps: list[tuple[str, str, int]]
    mkdirs: list[str]
    summary: MoveSummary
    across: frozenset[int]  # rows whose target is on another file system: copied, then removed


def check_move(options: MoveOptions) -> None:
    """Raises ``PatternError`` or ``TemplateError`` (naming the position) before any walk."""
    _native.check_rename(_native_options(_rename_part(options), 0))


def _rename_part(options: MoveOptions) -> RenameOptions:
    return RenameOptions(**options.model_dump(exclude={"dest"}))


def plan_move(
    selection: Selection | str | Path | Sequence[str | Path],
    options: MoveOptions,
    *,
    max_errors: int = 1000,
    progress: _native.Progress | None = None,
    cancel: _native.CancelToken | None = None,
    beneath: Sequence[Path] = (),
) -> "MovePlan":
    """The plan's rows (``mkdir`` rows first, then the entries', shaped like ``MoveRow``), its
    steps (``(from, to, row)`` in a safe order, ``row`` the index of the entry's row), the
    directories to create (parents first), its summary, and the rows moved across file systems.
    Errors: as for ``analyze``."""
    selection = as_selection(selection)
    rows, steps, mkdirs, summary, across = _native.plan_move(
        selection.to_native(beneath=beneath),
        _native_options(_rename_part(options), max_errors),
        dest=options.dest,
        temp_tag=f"{os.getpid()}-{os.urandom(4).hex()}",
        progress=progress,
        cancel=cancel,
    )
    fields = summary_fields(summary, RenameSummary.model_fields.keys() - {"applied_op"})
    dirs = [os.fsdecode(d) for d in mkdirs]
    made = [{"from": None, "to": d, "action": "mkdir", "reason": None} for d in dirs]
    steps_ = [(os.fsdecode(a), os.fsdecode(b), len(made) + row) for a, b, row in steps]
    moved = MoveSummary.model_validate({**fields, "mkdirs": len(dirs), "across": len(across)})
    return MovePlan([*made, *rows], steps_, dirs, moved, frozenset(len(made) + r for r in across))

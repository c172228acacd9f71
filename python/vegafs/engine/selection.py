"""The Selection: which entries an operation sees. One model for every operation, every layer."""

from collections.abc import Sequence
from datetime import datetime
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_serializer

from vegafs.engine.plain import native_selection

EntryTypeName = Literal["file", "dir", "symlink", "other"]
ALL_TYPES: frozenset[EntryTypeName] = frozenset({"file", "dir", "symlink", "other"})
# What the core takes: sizes and depths are unsigned 64-bit numbers.
U64 = Annotated[int, Field(ge=0, le=2**64 - 1)]


class Selection(BaseModel):
    """Roots to walk and the filters applied while walking.

    ``include``, ``path_regex``, ``types``, the size and the mtime bounds choose which entries are
    reported; directories are walked whatever they say. ``exclude``, ``hidden``, ``ignore_files``,
    ``max_depth`` and ``one_file_system`` also decide which directories are walked.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    roots: list[Path] = Field(min_length=1, description="Directories (or files) to walk.")
    include: list[str] = Field(
        default=[],
        description="Globs an entry must match (any). No '/': matched against the name; "
        "with '/': against the path relative to its root.",
    )
    exclude: list[str] = Field(
        default=[], description="Globs that remove entries; a matching directory is not walked."
    )
    path_regex: str | None = Field(default=None, description="Regex searched in the whole path.")
    types: frozenset[EntryTypeName] = Field(default=ALL_TYPES, description="Entry types reported.")
    min_size: U64 | None = Field(default=None, description="Smallest size, bytes.")
    max_size: U64 | None = Field(default=None, description="Largest size, bytes.")
    newer_than: datetime | None = Field(default=None, description="mtime >= this (seconds).")
    older_than: datetime | None = Field(default=None, description="mtime < this (seconds).")
    hidden: bool = Field(default=True, description="Visit names starting with a dot.")
    ignore_files: bool = Field(
        default=False, description="Honour .gitignore, .ignore and .vegafsignore files."
    )
    max_depth: U64 | None = Field(
        default=None, description="Deepest level visited; a root is 0, its entries 1."
    )
    one_file_system: bool = Field(default=False, description="Do not walk into other file systems.")
    follow_symlinks: bool = Field(
        default=False, description="Follow symlinks; loops are reported, never walked twice."
    )

    @field_serializer("types")
    def _sorted_types(self, types: frozenset[EntryTypeName]) -> list[str]:
        """Sorted, so that equal selections serialise to equal JSON (cache keys, idempotency)."""
        return sorted(types)

    def check(self) -> None:
        """Raise SelectionError (naming the field) for what the core would refuse before
        walking: a bad glob or regex, an empty range, a value it cannot take."""
        from vegafs import _native
        from vegafs.errors import SelectionError

        try:
            _native.check_selection(self.to_native())
        except SelectionError:
            raise
        except (TypeError, ValueError, OverflowError) as e:  # values the core cannot hold
            raise SelectionError(str(e), "selection") from None

    def to_native(self, *, beneath: Sequence[Path] = ()) -> dict[str, Any]:
        """The dict ``vegafs._native`` takes: every field, times as whole seconds.

        ``beneath``: allowed roots (a job's ``VEGAFS_ROOTS``). When given, each root must lie
        inside one of them and is opened beneath it without following any symlink (the core
        raises PathNotAllowed otherwise); when empty, a root that is a symlink is followed.
        """
        return native_selection(
            roots=self.roots,
            include=self.include,
            exclude=self.exclude,
            path_regex=self.path_regex,
            types=self.types,
            min_size=self.min_size,
            max_size=self.max_size,
            newer_than=None if self.newer_than is None else self.newer_than.timestamp(),
            older_than=None if self.older_than is None else self.older_than.timestamp(),
            hidden=self.hidden,
            ignore_files=self.ignore_files,
            max_depth=self.max_depth,
            one_file_system=self.one_file_system,
            follow_symlinks=self.follow_symlinks,
            beneath=beneath,
        )


def as_selection(selection: "Selection | str | Path | Sequence[str | Path]") -> Selection:
    """A Selection as given, or one of the root path(s) given with every default."""
    if isinstance(selection, Selection):
        return selection
    roots = [selection] if isinstance(selection, str | Path) else list(selection)
    return Selection(roots=[Path(r) for r in roots])


def check_stream_args(batch_size: int, max_errors: int) -> None:
    """ValueError for what no row stream takes."""
    if batch_size < 1:
        raise ValueError("batch_size must be >= 1")
    if max_errors < 0:
        raise ValueError("max_errors must be >= 0")

"""search(): lines matching a pattern in the selected regular files, streamed in batches, and
its summary (schema 1).

The core searches with ripgrep's crates on every core without the interpreter. Rows stay plain
dicts, as the core sends them (``SearchRow`` documents them). With ``text=True`` the core
formats the output lines itself (``path:N:line`` and so on, see ``vegafs_core::search``) and each
batch is a list of ``bytes``, whole files each: what ``vegafs search`` writes to stdout as it is.
"""

from collections.abc import Sequence
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from vegafs import _native
from vegafs.engine.analysis import EntryError
from vegafs.engine.selection import Selection, as_selection, check_stream_args
from vegafs.engine.summary import CoreSummary

SearchMode = Literal["lines", "count", "files_with_matches", "files_without_match"]


class SearchOptions(BaseModel):
    """The pattern and how to match it; the fields of ``vegafs search``'s options."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    patterns: list[str] = Field(min_length=1)  # a line matches when any of them does
    fixed_strings: bool = False
    ignore_case: bool = False
    smart_case: bool = False  # case-insensitive unless a pattern has an upper-case letter
    word_regexp: bool = False
    line_regexp: bool = False
    multiline: bool = False
    before_context: int = Field(0, ge=0)
    after_context: int = Field(0, ge=0)
    mode: SearchMode = "lines"
    max_count: int | None = Field(None, ge=0)  # matching lines per file
    only_matching: bool = False  # text output: each match on its own line
    binary: bool = False  # search files with a NUL byte to the end, NUL ending a line (rg --binary)


class SearchRow(BaseModel):
    """One row of ``search``. ``type``: ``match`` / ``context`` (a line, with ``line_number``,
    ``byte_offset``, ``line`` and, for a match, ``submatches`` as [start, end) byte offsets in the
    line), ``count`` (mode count: ``count`` matching lines) or ``file`` (modes
    files_with_matches, files_without_match)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    type: Literal["match", "context", "count", "file"]
    path: str  # the root as given joined with the names below it; surrogate escapes
    line_number: int | None = None
    byte_offset: int | None = None
    line: str | None = None  # without its terminator; bytes that are not UTF-8 as U+FFFD
    submatches: list[tuple[int, int]] | None = None
    count: int | None = None


class SearchSummary(CoreSummary):
    """What a finished ``search`` stream saw: ``SearchSummary.model_validate(s.summary())``."""

    schema_version: Literal[1] = 1
    roots: list[str]
    files_searched: int  # regular files opened and searched (binary ones included)
    files_matched: int
    files_without_match: int
    matched_lines: int  # at most max_count per file
    binary_files: int  # files with a NUL byte in what was read (searched no further by default)
    bytes_searched: int  # st_size of the searched files
    error_count: int
    errors: list[EntryError]  # the first max_errors, in byte-wise path order
    elapsed_s: float


def check_pattern(options: SearchOptions) -> None:
    """Raises ``PatternError`` if the pattern does not compile (syntax, size or nesting limit)."""
    _native.check_pattern(_native_options(options, max_errors=0))


def search(
    selection: Selection | str | Path | Sequence[str | Path],
    options: SearchOptions | str,
    *,
    text: bool = False,
    batch_size: int = 1024,
    max_errors: int = 1000,
    progress: _native.Progress | None = None,
    cancel: _native.CancelToken | None = None,
    beneath: Sequence[Path] = (),
) -> _native.RowStream:
    """Start searching the selected regular files; returns at once (a bad pattern raises
    ``PatternError`` here).

    ``options``: a ``SearchOptions`` or one regex. Iterate the stream for batches (lists of at
    most ``batch_size`` row dicts shaped like ``SearchRow``; with ``text``, lists of ``bytes``),
    then call ``summary()`` (``SearchSummary.model_validate(stream.summary())``). Errors, closing
    and ``beneath``: as for ``list_entries``.
    """
    selection = as_selection(selection)
    if isinstance(options, str):
        options = SearchOptions(patterns=[options])
    check_stream_args(batch_size, max_errors)
    return _native.search(
        selection.to_native(beneath=beneath),
        _native_options(options, max_errors=max_errors),
        text=text,
        batch_size=batch_size,
        progress=progress,
        cancel=cancel,
    )


def _native_options(options: SearchOptions, *, max_errors: int) -> dict[str, Any]:
    return {**options.model_dump(), "max_errors": max_errors}

# Stubs of the Rust extension; `make test` checks them against the built module (mypy.stubtest).
from collections.abc import Sequence
from os import PathLike
from pathlib import Path
from types import TracebackType
from typing import Any, Final, final

__all__ = [
    "Analysis",
    "CancelToken",
    "CopySummary",
    "DupesSummary",
    "HashSummary",
    "ListSummary",
    "PipelineSummary",
    "Progress",
    "RenameSummary",
    "ReplaceSummary",
    "RowStream",
    "SearchSummary",
    "ValidateSummary",
    "VerifySummary",
    "__version__",
    "analyze",
    "blake3_digests",
    "check_copy",
    "check_pattern",
    "check_rename",
    "check_replace",
    "check_schema",
    "check_selection",
    "check_steps",
    "content_digests",
    "copies_done",
    "copy_steps",
    "dir_states",
    "dupe_files",
    "find_dupes",
    "find_dupes_among",
    "hash_files",
    "identities",
    "list_entries",
    "make_dirs",
    "moved_done",
    "pipeline",
    "plan_copy",
    "plan_move",
    "plan_moves",
    "plan_rename",
    "plan_replace",
    "plan_tree_moves",
    "remove_copies",
    "remove_empty_dirs",
    "remove_files",
    "remove_moved",
    "rename_steps",
    "replace_files",
    "restore_files",
    "restore_moved",
    "roll_back",
    "search",
    "sizes",
    "sync_parents",
    "validate_files",
    "verify_files",
]

__version__: Final[str]

@final
class CancelToken:
    def __new__(cls) -> CancelToken: ...
    def cancel(self) -> None: ...
    @property
    def cancelled(self) -> bool: ...

@final
class Progress:
    def __new__(cls) -> Progress: ...
    def snapshot(self) -> tuple[int, int, int, int]: ...
    def add(self, entries: int = 0, dirs: int = 0, bytes: int = 0, errors: int = 0) -> None: ...

@final
class Analysis:
    """What ``analyze`` found; tables are lists of tuples (``vegafs.engine.analyze`` names their
    fields). Paths and extensions that are not UTF-8 come as surrogate escapes."""

    @property
    def files(self) -> int: ...
    @property
    def dirs(self) -> int: ...
    @property
    def symlinks(self) -> int: ...
    @property
    def other(self) -> int: ...
    @property
    def apparent_bytes(self) -> int: ...
    @property
    def disk_bytes(self) -> int: ...
    @property
    def file_bytes(self) -> int: ...
    @property
    def repeated_links(self) -> int: ...
    @property
    def by_kind(self) -> list[tuple[str, int, int]]:
        """(kind, files, bytes) of every kind."""
    @property
    def by_extension(self) -> list[tuple[str, str, int, int]]:
        """(extension, kind, files, bytes), in no particular order."""
    @property
    def unlisted_extensions(self) -> tuple[int, int]:
        """(files, bytes)"""
    @property
    def size_histogram(self) -> list[tuple[int, int | None, int, int]]:
        """(min_bytes, max_bytes or None, files, bytes) of the buckets holding files."""
    @property
    def age_histogram(self) -> list[tuple[str, int | None, int, int]]:
        """(bucket, max_age_s or None, files, bytes) of every bucket."""
    @property
    def by_owner(self) -> list[tuple[int, int, int]]:
        """(uid, files, bytes), in no particular order."""
    @property
    def largest_files(self) -> list[tuple[str, int]]:
        """(path, bytes), largest first."""
    @property
    def largest_dirs(self) -> list[tuple[str, int]]: ...
    @property
    def root_totals(self) -> list[tuple[str, int]]:
        """(path, bytes) of each root directory: the apparent bytes below it, itself included."""
    @property
    def linked(self) -> list[tuple[int, int, int, int, int, int, bool, str, str, str, str]]:
        """With ``defer_links``: (dev, ino, size, disk, uid, mtime, is_file, path, counted_in,
        extension, kind) of each multiply-linked entry counted; else empty."""
    @property
    def error_count(self) -> int: ...
    @property
    def errors(self) -> list[tuple[str, str, str]]:
        """(path, kind, message) of the first ``max_errors`` errors."""
    @property
    def elapsed_s(self) -> float: ...

def analyze(
    selection: dict[str, Any],
    *,
    top: int,
    max_errors: int,
    now: int,
    progress: Progress | None = None,
    cancel: CancelToken | None = None,
    defer_links: bool = False,
) -> Analysis: ...
def check_selection(selection: dict[str, Any]) -> None: ...

@final
class RowStream:
    """Batches of rows from a call running on its own thread. Iterating yields lists of at
    most ``batch_size`` rows; the call's error (FileNotFoundError, SelectionError,
    Cancelled...) is raised by ``__next__``. ``close()`` or dropping the stream stops the call."""

    def __iter__(self) -> RowStream: ...
    def __next__(self) -> list[Any]:
        """Row dicts; ``bytes`` (ready lines of text) from ``search(..., text=True)``."""
    def summary(self) -> Any:
        """The summary once every batch is read (the call's own: ``list_entries``: a
        ``ListSummary``, ``hash_files``: a ``HashSummary``, ``find_dupes``: a ``DupesSummary``,
        ``search``: a ``SearchSummary``); RuntimeError before, the call's error if it failed."""
    def close(self) -> None: ...
    def __enter__(self) -> RowStream: ...
    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc_value: BaseException | None,
        traceback: TracebackType | None,
    ) -> None: ...

@final
class ListSummary:
    """What a finished ``list_entries`` stream saw: the fields of ``vegafs.engine.ListSummary``,
    errors as (path, kind, message)."""

    @property
    def roots(self) -> list[str]: ...
    @property
    def entries(self) -> int: ...
    @property
    def files(self) -> int: ...
    @property
    def dirs(self) -> int: ...
    @property
    def symlinks(self) -> int: ...
    @property
    def other(self) -> int: ...
    @property
    def file_bytes(self) -> int: ...
    @property
    def error_count(self) -> int: ...
    @property
    def errors(self) -> list[tuple[str, str, str]]: ...
    @property
    def elapsed_s(self) -> float: ...

def list_entries(
    selection: dict[str, Any],
    *,
    batch_size: int,
    max_errors: int,
    progress: Progress | None = None,
    cancel: CancelToken | None = None,
) -> RowStream:
    """Rows ``{"path": str, "type": "file"|"dir"|"symlink"|"other", "size": int, "mtime": int}``,
    one per selected entry; summary: the fields of ``vegafs.engine.ListSummary``."""

@final
class DupesSummary:
    """What a finished ``find_dupes`` stream saw: the fields of ``vegafs.engine.DupesSummary``,
    each stage as (groups, files, bytes), errors as (path, kind, message)."""

    @property
    def roots(self) -> list[str]: ...
    @property
    def files(self) -> int: ...
    @property
    def bytes(self) -> int: ...
    @property
    def hard_links(self) -> int: ...
    @property
    def by_size(self) -> tuple[int, int, int]: ...
    @property
    def by_edges(self) -> tuple[int, int, int]: ...
    @property
    def by_content(self) -> tuple[int, int, int]: ...
    @property
    def duplicate_groups(self) -> int: ...
    @property
    def duplicate_files(self) -> int: ...
    @property
    def reclaimable_bytes(self) -> int: ...
    @property
    def hashed_bytes(self) -> int: ...
    @property
    def error_count(self) -> int: ...
    @property
    def errors(self) -> list[tuple[str, str, str]]: ...
    @property
    def elapsed_s(self) -> float: ...

def find_dupes(
    selection: dict[str, Any],
    *,
    batch_size: int,
    max_errors: int,
    progress: Progress | None = None,
    cancel: CancelToken | None = None,
) -> RowStream:
    """Rows ``{"hash": str, "size": int, "count": int, "wasted_bytes": int, "paths": [str]}``,
    one per group of duplicates, largest waste first; summary: the fields of
    ``vegafs.engine.DupesSummary``."""

def dupe_files(
    selection: dict[str, Any],
    *,
    batch_size: int,
    max_errors: int,
    progress: Progress | None = None,
    cancel: CancelToken | None = None,
) -> RowStream:
    """The walk of ``find_dupes`` alone (a shard's): rows ``{"path": str, "size": int, "dev":
    int, "ino": int}``, one per regular file kept; summary: a ``DupesSummary`` counting files,
    bytes and errors, its stages 0."""

def find_dupes_among(
    selection: dict[str, Any],
    files: list[tuple[str, int, int, int]],
    *,
    batch_size: int,
    max_errors: int,
    progress: Progress | None = None,
    cancel: CancelToken | None = None,
) -> RowStream:
    """The stages of ``find_dupes`` over ``files`` ``(path, size, dev, ino)`` that walks found
    below ``selection``'s roots: rows and summary as ``find_dupes``'s."""

@final
class HashSummary:
    """What a finished ``hash_files`` stream did: the fields of ``vegafs.engine.HashSummary``,
    errors as (path, kind, message)."""

    @property
    def roots(self) -> list[str]: ...
    @property
    def algorithm(self) -> str: ...
    @property
    def files(self) -> int: ...
    @property
    def bytes(self) -> int: ...
    @property
    def error_count(self) -> int: ...
    @property
    def errors(self) -> list[tuple[str, str, str]]: ...
    @property
    def elapsed_s(self) -> float: ...

def hash_files(
    selection: dict[str, Any],
    *,
    algorithm: str,
    batch_size: int,
    max_errors: int,
    progress: Progress | None = None,
    cancel: CancelToken | None = None,
) -> RowStream:
    """Rows ``{"path": str, "size": int, "digest": str}``, one per selected regular file;
    summary: the fields of ``vegafs.engine.HashSummary``."""

@final
class SearchSummary:
    """What a finished ``search`` stream saw: the fields of ``vegafs.engine.SearchSummary``,
    errors as (path, kind, message)."""

    @property
    def roots(self) -> list[str]: ...
    @property
    def files_searched(self) -> int: ...
    @property
    def files_matched(self) -> int: ...
    @property
    def files_without_match(self) -> int: ...
    @property
    def matched_lines(self) -> int: ...
    @property
    def binary_files(self) -> int: ...
    @property
    def bytes_searched(self) -> int: ...
    @property
    def error_count(self) -> int: ...
    @property
    def errors(self) -> list[tuple[str, str, str]]: ...
    @property
    def elapsed_s(self) -> float: ...

def check_pattern(options: dict[str, Any]) -> None:
    """Raises ``vegafs.errors.PatternError`` when the pattern does not compile."""

def search(
    selection: dict[str, Any],
    options: dict[str, Any],
    *,
    text: bool,
    batch_size: int,
    progress: Progress | None = None,
    cancel: CancelToken | None = None,
) -> RowStream:
    """Rows shaped like ``vegafs.engine.SearchRow`` (``text``: ``bytes`` of formatted lines,
    whole files each); summary: the fields of ``vegafs.engine.SearchSummary``."""

@final
class PipelineSummary:
    """What a finished ``pipeline`` stream did: the fields of ``vegafs.engine.pipeline
    .PipelineSummary``, each step's counts as (files in, files out), errors as (path, kind,
    message)."""

    @property
    def roots(self) -> list[str]: ...
    @property
    def files(self) -> int: ...
    @property
    def steps(self) -> list[tuple[int, int]]: ...
    @property
    def rows(self) -> int: ...
    @property
    def bytes(self) -> int: ...
    @property
    def error_count(self) -> int: ...
    @property
    def errors(self) -> list[tuple[str, str, str]]: ...
    @property
    def elapsed_s(self) -> float: ...

def check_steps(steps: list[dict[str, Any]]) -> None:
    """Raises ``vegafs.errors.PatternError`` (naming the step) when a pattern does not compile."""

def pipeline(
    selection: dict[str, Any],
    steps: list[dict[str, Any]],
    *,
    batch_size: int,
    max_errors: int,
    progress: Progress | None = None,
    cancel: CancelToken | None = None,
) -> RowStream:
    """Rows ``{"path": str, "size": int, "digest": str | None}``, one per selected regular file
    that went through every step; summary: ``PipelineSummary``."""

@final
class RenameSummary:
    """What a rename plan holds: the fields of ``vegafs.engine.renaming.RenameSummary``, errors
    as (path, kind, message)."""

    @property
    def matched(self) -> int: ...
    @property
    def moves(self) -> int: ...
    @property
    def unchanged(self) -> int: ...
    @property
    def refused(self) -> int: ...
    @property
    def steps(self) -> int: ...
    @property
    def ok(self) -> bool: ...
    @property
    def error_count(self) -> int: ...
    @property
    def errors(self) -> list[tuple[str, str, str]]: ...
    @property
    def elapsed_s(self) -> float: ...

def check_rename(options: dict[str, Any]) -> None:
    """Raises ``PatternError`` or ``TemplateError`` when the regex or the template is bad."""

def plan_rename(
    selection: dict[str, Any],
    options: dict[str, Any],
    *,
    temp_tag: str,
    progress: Progress | None = None,
    cancel: CancelToken | None = None,
) -> tuple[
    list[dict[str, Any]],
    list[tuple[str, str, int]],
    RenameSummary,
    list[tuple[int, int, int] | None],
]:
    """The plan's rows (``{"from", "to", "action", "reason"}``), steps, summary, and each row's
    entry's identity as the walk saw it (None: a target set aside); changes nothing."""

def rename_steps(
    steps: list[tuple[str, str]],
    cancel: CancelToken | None = None,
    *,
    beneath: Sequence[str | Path] = ...,
) -> tuple[int, tuple[int, str] | None]:
    """Runs the renames, never replacing a target: (done, (errno, message) | None): in order,
    or the steps of different directories in parallel when that keeps the plan's order
    (``vegafs_core::apply::rename_all``); steps after the first ``done`` may be done too.
    ``beneath`` (jobs): each directory is opened beneath one of these roots, no symlink
    followed."""

def roll_back(
    steps: list[tuple[str, str, tuple[int, int, int]]], *, beneath: Sequence[str | Path] = ...
) -> tuple[int, int, tuple[int, str] | None]:
    """Reverses (from, to, identity) steps, last first, each only if its entry is at its
    target: (reversed, not done, (errno, message) | None)."""

def sync_parents(paths: list[str], *, beneath: Sequence[str | Path] = ...) -> None:
    """fsyncs the directories holding the paths."""

def identities(
    paths: list[str], *, beneath: Sequence[str | Path] = ...
) -> list[tuple[int, int, int] | None]:
    """(device, inode, stamp) of each path's entry, None where there is none."""

def sizes(paths: list[str], *, beneath: Sequence[str | Path] = ...) -> list[int | None]:
    """The size in bytes of each path's entry (a symlink's own), None where there is none."""

def remove_files(
    entries: list[tuple[str, tuple[int, int, int]]], *, beneath: Sequence[str | Path] = ...
) -> list[bool]:
    """Deletes each (path, identity) entry that is still that entry (a file or a symlink,
    never a directory), by its name in its parent opened beneath ``beneath``: whether each
    was deleted."""

def make_dirs(
    paths: list[str],
    cancel: CancelToken | None = None,
    *,
    exist_ok: bool = False,
    beneath: Sequence[str | Path] = ...,
) -> tuple[int, tuple[int, str] | None]:
    """Creates the directories in order: (done, (errno, message) | None). ``exist_ok``: a
    directory already there counts as made. ``beneath``: as for ``rename_steps``."""

def remove_empty_dirs(
    paths: list[str], cancel: CancelToken | None = None, *, beneath: Sequence[str | Path] = ...
) -> tuple[int, tuple[int, str] | None]:
    """Removes each path that is an empty directory, in order; others are left:
    (done, (errno, message) | None)."""

def remove_moved(
    steps: list[tuple[str, str, str, tuple[int, int, int], bytes | None]],
    cancel: CancelToken | None = None,
    *,
    beneath: Sequence[str | Path] = ...,
) -> tuple[int, tuple[int, str] | None]:
    """Removes each (from, to, temp, identity, digest) step's source once its copy at ``to``
    is verified and durable, in order: (done, (errno, message) | None)."""

def restore_moved(
    steps: list[tuple[str, str, str, tuple[int, int, int], bytes | None]],
    *,
    beneath: Sequence[str | Path] = ...,
) -> tuple[int, tuple[int, str] | None]:
    """Copies each step's target back (through ``temp``) where its source is gone, last
    first: (done, (errno, message) | None)."""

def moved_done(
    steps: list[tuple[str, str, str, tuple[int, int, int], bytes | None]],
    *,
    beneath: Sequence[str | Path] = ...,
) -> list[bool]:
    """Whether each step is done: its source gone, its copy there."""

def dir_states(paths: list[str], *, beneath: Sequence[str | Path] = ...) -> list[str]:
    """What is at each path, no symlink followed: "missing", "empty", "full" (a directory
    with entries) or "other"."""

@final
class ReplaceSummary:
    """What a replace plan holds: the fields of ``vegafs.engine.replacing.ReplaceSummary``,
    errors as (path, kind, message)."""

    @property
    def files_scanned(self) -> int: ...
    @property
    def files_changed(self) -> int: ...
    @property
    def replacements(self) -> int: ...
    @property
    def refused(self) -> int: ...
    @property
    def error_count(self) -> int: ...
    @property
    def errors(self) -> list[tuple[str, str, str]]: ...
    @property
    def elapsed_s(self) -> float: ...

def check_replace(options: dict[str, Any]) -> None:
    """Raises ``PatternError`` when the pattern is bad (syntax, size or nesting limit)."""

def plan_replace(
    selection: dict[str, Any],
    options: dict[str, Any],
    *,
    progress: Progress | None = None,
    cancel: CancelToken | None = None,
) -> tuple[list[dict[str, Any]], ReplaceSummary]:
    """The plan's rows (``{"path", "target", "action", "reason", "replacements", "diff", "dev",
    "ino", "stamp", "size", "digest"}``), by path, and its summary; changes nothing."""

def replace_files(
    options: dict[str, Any] | None,
    steps: list[tuple[str, str, str, tuple[int, int, int], int | None, bytes, str | None]],
    cancel: CancelToken | None = None,
    *,
    beneath: Sequence[str | Path] = ...,
) -> tuple[int, tuple[int, str] | None]:
    """Writes (path, temp, backup, identity, size, digest, source) steps in order, each file
    backed up first, every file reached beneath ``beneath`` if given: (done, (errno, message)
    | None)."""

def restore_files(
    steps: list[tuple[str, str, str, bytes]], *, beneath: Sequence[str | Path] = ...
) -> tuple[int, int, tuple[int, str] | None]:
    """Reverses (path, temp, backup, digest) steps, last first, each only if its file's content
    hashes to digest: (reversed, not done, (errno, message) | None)."""

def content_digests(paths: list[str], *, beneath: Sequence[str | Path] = ...) -> list[bytes | None]:
    """The BLAKE3 of each path's file content; None where there is no regular file."""

def plan_moves(
    moves: list[tuple[str, str]], on_conflict: str, temp_tag: str, same_dir: bool
) -> tuple[list[dict[str, Any]], list[tuple[str, str, int]], bool]:
    """The checked, ordered plan of (from, to) moves: rows, steps (from, to, row), whether it
    may be applied."""

def plan_move(
    selection: dict[str, Any],
    options: dict[str, Any],
    *,
    dest: str | None,
    temp_tag: str,
    progress: Progress | None = None,
    cancel: CancelToken | None = None,
) -> tuple[list[dict[str, Any]], list[tuple[str, str, int]], list[str], RenameSummary, list[int]]:
    """The plan of moving entries to template paths below ``dest`` (None: each one's root):
    rows, steps, the directories to create (parents first), summary, and the rows whose
    target is on another file system (copied, then removed); changes nothing."""

def plan_tree_moves(
    moves: list[tuple[str, str]], on_conflict: str, temp_tag: str
) -> tuple[list[dict[str, Any]], list[tuple[str, str, int]], list[str], bool]:
    """The checked, ordered plan of (from, to) moves across directories: rows, steps, the
    directories to create (parents first), whether it may be applied."""

@final
class CopySummary:
    """What a copy plan holds: the fields of ``vegafs.engine.copying.CopySummary``, errors as
    (path, kind, message)."""

    @property
    def matched(self) -> int: ...
    @property
    def copies(self) -> int: ...
    @property
    def already(self) -> int: ...
    @property
    def refused(self) -> int: ...
    @property
    def dirs(self) -> int: ...
    @property
    def bytes(self) -> int: ...
    @property
    def ok(self) -> bool: ...
    @property
    def error_count(self) -> int: ...
    @property
    def errors(self) -> list[tuple[str, str, str]]: ...
    @property
    def elapsed_s(self) -> float: ...

def check_copy(options: dict[str, Any]) -> None:
    """Raises ``TemplateError`` when the ``--to`` template is bad."""

def plan_copy(
    selection: dict[str, Any],
    options: dict[str, Any],
    *,
    progress: Progress | None = None,
    cancel: CancelToken | None = None,
) -> tuple[list[dict[str, Any]], list[str], list[tuple[int, int, int]], CopySummary]:
    """The plan's rows (``{"from", "to", "action", "reason", "size"}``), the directories to
    create (parents first), the (device, inode, stamp) of each row to copy as the walk saw it,
    and the summary; changes nothing."""

def copy_steps(
    steps: list[tuple[str, str, str, tuple[int, int, int], bytes | None]],
    cancel: CancelToken | None = None,
    *,
    beneath: Sequence[str | Path] = ...,
) -> tuple[int, tuple[int, str] | None]:
    """Copies (from, to, temp, identity, digest) steps in parallel, never replacing a target:
    (done in order, (errno, message) | None). ``beneath``: a job's roots."""

def remove_copies(
    steps: list[tuple[str, str, str, tuple[int, int, int], bytes | None]],
    strict: bool,
    *,
    beneath: Sequence[str | Path] = ...,
) -> tuple[int, int, tuple[int, str] | None]:
    """Removes, last first, each step's temporary file and its copy if it still is the copy:
    (removed, not ours, (errno, message) | None)."""

def copies_done(
    steps: list[tuple[str, str, str, tuple[int, int, int], bytes | None]],
    *,
    beneath: Sequence[str | Path] = ...,
) -> list[bool]:
    """Whether each step's target is its copy."""

def blake3_digests(paths: list[str], *, beneath: Sequence[str | Path] = ...) -> list[bytes | None]:
    """The BLAKE3 digest (32 bytes) of each regular file; None for a symlink or anything else
    that is not a regular file (none followed)."""

@final
class VerifySummary:
    """What a finished ``verify_files`` stream found: the fields of
    ``vegafs.engine.VerifySummary``, errors as (path, kind, message)."""

    @property
    def manifest(self) -> str: ...
    @property
    def algorithm(self) -> str: ...
    @property
    def algorithm_from(self) -> str: ...
    @property
    def files(self) -> int: ...
    @property
    def ok(self) -> int: ...
    @property
    def changed(self) -> int: ...
    @property
    def missing(self) -> int: ...
    @property
    def unreadable(self) -> int: ...
    @property
    def bytes(self) -> int: ...
    @property
    def error_count(self) -> int: ...
    @property
    def errors(self) -> list[tuple[str, str, str]]: ...
    @property
    def hint(self) -> str | None: ...
    @property
    def elapsed_s(self) -> float: ...

def verify_files(
    manifest: str | Path,
    *,
    base: str | Path,
    algorithm: str | None,
    beneath: Sequence[str | Path],
    batch_size: int,
    max_errors: int,
    progress: Progress | None = None,
    cancel: CancelToken | None = None,
) -> RowStream:
    """Rows ``{"path": str, "status": str, "expected": str, "actual": str | None,
    "message": str | None}``, one per line of the manifest, in its order; summary: the fields of
    ``vegafs.engine.VerifySummary``. A line that is not a checksum line raises
    ``vegafs.errors.ManifestError`` while iterating, before any file is read."""

@final
@final
class ValidateSummary:
    """What a finished ``validate_files`` stream did: the fields of
    ``vegafs.engine.ValidateSummary``, errors as (path, kind, message)."""

    @property
    def roots(self) -> list[str]: ...
    @property
    def files(self) -> int: ...
    @property
    def ok(self) -> int: ...
    @property
    def failed(self) -> int: ...
    @property
    def skipped(self) -> int: ...
    @property
    def failures(self) -> int: ...
    @property
    def bytes(self) -> int: ...
    @property
    def by_format(self) -> dict[str, dict[str, int]]: ...
    @property
    def error_count(self) -> int: ...
    @property
    def errors(self) -> list[tuple[str, str, str]]: ...
    @property
    def elapsed_s(self) -> float: ...

def check_schema(path: str | PathLike[str]) -> None:
    """Raises OSError (naming the file) or ``vegafs.errors.SchemaError`` when the JSON Schema
    in ``path`` cannot be read or compiled."""

def validate_files(
    selection: dict[str, Any],
    *,
    format: str | None,
    header: bool,
    schema: str | PathLike[str] | None,
    batch_size: int,
    max_errors: int,
    progress: Progress | None = None,
    cancel: CancelToken | None = None,
) -> RowStream:
    """Rows ``{"path": str, "format": str, "line": int | None, "column": int | None,
    "message": str}``, one per failure; summary: the fields of
    ``vegafs.engine.ValidateSummary``. The schema is compiled before the walk starts."""

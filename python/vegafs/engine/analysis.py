"""analyze(): statistics of directory trees, and the result's JSON schema (version 1)."""

import heapq
import os
import time
from collections.abc import Callable, Hashable, Iterable, Sequence
from datetime import datetime
from pathlib import Path
from typing import Literal, NamedTuple, TypeVar

from pydantic import BaseModel, ConfigDict

from vegafs import _native
from vegafs.engine.plain import analysis_fields
from vegafs.engine.selection import Selection, as_selection

# As vegafs_core::analyze::MAX_EXTENSIONS: the most rows by_extension has.
MAX_EXTENSIONS = 10_000


class _Row(BaseModel):
    model_config = ConfigDict(frozen=True)


class Counts(_Row):
    files: int
    bytes: int  # each (device, inode) counted once


class KindRow(Counts):
    kind: str


class ExtensionRow(Counts):
    extension: str  # lower case, no dot; "" for none
    kind: str


class SizeBucket(Counts):
    min_bytes: int
    max_bytes: int | None  # exclusive; None: no upper bound


class AgeBucket(Counts):
    bucket: str
    max_age_s: int | None  # exclusive; None: no upper bound


class OwnerRow(Counts):
    uid: int
    user: str | None  # None when the uid has no name on this machine


class PathSize(_Row):
    path: str
    bytes: int


class EntryError(_Row):
    path: str
    kind: str  # permission_denied, vanished, loop, changed, io
    error: str


class AnalyzeSummary(_Row):
    """What ``analyze`` found but the listed errors (the ``analyze`` job's summary; its result
    rows are the errors). Field meanings and counting rules: docs/cli.md."""

    schema_version: Literal[1] = 1
    roots: list[str]
    now: int
    top: int
    max_errors: int
    files: int
    dirs: int
    symlinks: int
    other: int
    apparent_bytes: int
    disk_bytes: int
    file_bytes: int
    repeated_links: int
    by_kind: list[KindRow]
    by_extension: list[ExtensionRow]
    unlisted_extensions: Counts  # files whose extension did not fit in by_extension
    size_histogram: list[SizeBucket]
    age_histogram: list[AgeBucket]
    by_owner: list[OwnerRow]
    largest_files: list[PathSize]
    largest_dirs: list[PathSize]
    error_count: int
    elapsed_s: float


class AnalyzeResult(AnalyzeSummary):
    """What ``analyze`` found, with the first ``max_errors`` errors in byte-wise path order."""

    errors: list[EntryError]

    def merge(self, other: "AnalyzeResult") -> "AnalyzeResult":
        """The result over both trees. Exact when they are disjoint and share no hard-linked
        inode (its bytes would count once per side: see ``uncount_links``); both must use the
        same ``now``."""
        if other.now != self.now:
            raise ValueError(f"cannot merge analyses with different now: {self.now}, {other.now}")
        a, b = self, other
        extensions = _most_bytes_first(
            _add_up(a.by_extension + b.by_extension, lambda r: r.extension), lambda r: r.extension
        )
        top, max_errors = max(a.top, b.top), max(a.max_errors, b.max_errors)
        return AnalyzeResult(
            roots=a.roots + b.roots,
            now=a.now,
            top=top,
            max_errors=max_errors,
            files=a.files + b.files,
            dirs=a.dirs + b.dirs,
            symlinks=a.symlinks + b.symlinks,
            other=a.other + b.other,
            apparent_bytes=a.apparent_bytes + b.apparent_bytes,
            disk_bytes=a.disk_bytes + b.disk_bytes,
            file_bytes=a.file_bytes + b.file_bytes,
            repeated_links=a.repeated_links + b.repeated_links,
            by_kind=_add_up(a.by_kind + b.by_kind, lambda r: r.kind),
            by_extension=extensions[:MAX_EXTENSIONS],
            unlisted_extensions=_total(
                [a.unlisted_extensions, b.unlisted_extensions, *extensions[MAX_EXTENSIONS:]]
            ),
            size_histogram=sorted(
                _add_up(a.size_histogram + b.size_histogram, lambda r: r.min_bytes),
                key=lambda r: r.min_bytes,
            ),
            age_histogram=_add_up(a.age_histogram + b.age_histogram, lambda r: r.bucket),
            by_owner=_most_bytes_first(
                _add_up(a.by_owner + b.by_owner, lambda r: r.uid), lambda r: r.uid
            ),
            largest_files=_largest(a.largest_files + b.largest_files, top),
            largest_dirs=_largest(a.largest_dirs + b.largest_dirs, top),
            error_count=a.error_count + b.error_count,
            errors=sorted(a.errors + b.errors, key=lambda e: os.fsencode(e.path))[:max_errors],
            elapsed_s=max(a.elapsed_s, b.elapsed_s),
        )


class LinkedFile(NamedTuple):
    """A non-directory entry with more than one link whose bytes an analysis counted (with
    ``defer_links``: its extension, kind and place among the largest files not yet credited).
    A JSON list in a shard's summary."""

    dev: int
    ino: int
    size: int
    disk: int  # st_blocks * 512
    uid: int
    mtime: int
    is_file: bool  # else a symlink or special file: only apparent and disk bytes count
    path: str  # the smallest path among its links seen: the one named in the tables
    counted_in: str  # the directory whose total (and those above it) holds its bytes
    extension: str
    kind: str


def uncount_links(result: AnalyzeResult, links: Sequence[LinkedFile]) -> AnalyzeResult:
    """``result`` without the bytes of ``links``, counted by another analysis too (an inode with
    links in two shards), as the core's ``Analysis::merge`` takes them out: from the summary,
    histograms and owners, and the listed directories above each. Its files stay counted, as
    repeated links."""
    if not links:
        return result
    files = [lf for lf in links if lf.is_file]
    size_rows = {r.min_bytes: r for r in result.size_histogram}
    owners = {r.uid: r for r in result.by_owner}
    ages = list(result.age_histogram)
    dirs = list(result.largest_dirs)
    for lf in files:
        bucket = 0 if lf.size == 0 else 1 << (lf.size.bit_length() - 1)
        size_rows[bucket] = _less(size_rows[bucket], lf.size)
        owners[lf.uid] = _less(owners[lf.uid], lf.size)
        age = result.now - lf.mtime
        i = next(i for i, r in enumerate(ages) if r.max_age_s is None or age < r.max_age_s)
        ages[i] = _less(ages[i], lf.size)
    for lf in links:
        dirs = [_less(d, lf.size) if _holds(d.path, lf.counted_in) else d for d in dirs]
    return result.model_copy(
        update={
            "apparent_bytes": result.apparent_bytes - sum(lf.size for lf in links),
            "disk_bytes": result.disk_bytes - sum(lf.disk for lf in links),
            "file_bytes": result.file_bytes - sum(lf.size for lf in files),
            "repeated_links": result.repeated_links + len(links),
            "size_histogram": list(size_rows.values()),
            "age_histogram": ages,
            "by_owner": _most_bytes_first(list(owners.values()), lambda r: r.uid),
            "largest_dirs": _largest(dirs, len(dirs)),
        }
    )


def settle_links(result: AnalyzeResult, links: Iterable[LinkedFile], top: int) -> AnalyzeResult:
    """``result`` with each file of ``links`` credited to its extension and kind and offered to
    the ``top`` largest files, by its smallest path (the core's ``Analysis::settle_links``)."""
    extensions = {r.extension: r for r in result.by_extension}
    kinds = {r.kind: r for r in result.by_kind}
    unlisted = result.unlisted_extensions
    largest = list(result.largest_files)
    for lf in links:
        if not lf.is_file:
            continue
        if lf.extension in extensions:
            extensions[lf.extension] = _less(extensions[lf.extension], -lf.size)
        else:
            unlisted = _less(unlisted, -lf.size)
        kinds[lf.kind] = _less(kinds[lf.kind], -lf.size)
        largest.append(PathSize(path=lf.path, bytes=lf.size))
    return result.model_copy(
        update={
            "by_extension": _most_bytes_first(list(extensions.values()), lambda r: r.extension),
            "by_kind": list(kinds.values()),
            "unlisted_extensions": unlisted,
            "largest_files": _largest(largest, top),
        }
    )


R = TypeVar("R", bound=_Row)


def _less(row: R, size: int) -> R:
    return row.model_copy(update={"bytes": getattr(row, "bytes") - size})  # noqa: B009


def _holds(directory: str, path: str) -> bool:
    """Whether ``path`` is ``directory`` or below it."""
    return path == directory or path.startswith(directory.rstrip("/") + "/")


def analyze(
    selection: Selection | str | Path | Sequence[str | Path],
    *,
    top: int = 10,
    max_errors: int = 1000,
    now: datetime | float | None = None,
    progress: _native.Progress | None = None,
    cancel: _native.CancelToken | None = None,
    beneath: Sequence[Path] = (),
) -> AnalyzeResult:
    """Analyze the selected trees in one parallel pass.

    ``selection`` may be a Selection or just the root path(s). ``now`` pins the reference time of
    the age histogram (default: the current time). Raises FileNotFoundError / PermissionError
    naming a root that cannot be read, SelectionError for a bad filter, Cancelled when
    ``cancel`` is set, KeyboardInterrupt on Ctrl-C. ``beneath``: directories every root must be
    opened beneath, never through a symlink (PathNotAllowed otherwise); the service's roots.
    """
    return analyze_roots(
        selection,
        top=top,
        max_errors=max_errors,
        now=now,
        progress=progress,
        cancel=cancel,
        beneath=beneath,
    )[0]


def analyze_roots(
    selection: Selection | str | Path | Sequence[str | Path],
    *,
    top: int = 10,
    max_errors: int = 1000,
    now: datetime | float | None = None,
    progress: _native.Progress | None = None,
    cancel: _native.CancelToken | None = None,
    beneath: Sequence[Path] = (),
    defer_links: bool = False,
) -> tuple[AnalyzeResult, dict[str, int], list[LinkedFile]]:
    """``analyze()``, the total bytes of each root that is a directory (the weight its entry in
    ``largest_dirs`` would have below another root), and with ``defer_links`` the
    multiply-linked entries counted, left out of the extensions, kinds and largest files until
    ``settle_links``. A sharded job's shards report both, so that the directories above them
    get their totals and an inode linked from two shards counts once."""
    selection = as_selection(selection)
    if top < 0 or max_errors < 0:
        raise ValueError("top and max_errors must be >= 0")
    now_s = int(
        time.time() if now is None else now.timestamp() if isinstance(now, datetime) else now
    )
    raw = _native.analyze(
        selection.to_native(beneath=beneath),
        top=top,
        max_errors=max_errors,
        now=now_s,
        progress=progress,
        cancel=cancel,
        defer_links=defer_links,
    )
    names = [str(r) for r in selection.roots]
    fields = analysis_fields(raw, roots=names, now=now_s, top=top, max_errors=max_errors)
    linked = [LinkedFile(*row) for row in raw.linked]
    return AnalyzeResult.model_validate(fields), dict(raw.root_totals), linked


def _largest(rows: list[PathSize], top: int) -> list[PathSize]:
    return heapq.nsmallest(top, rows, key=lambda r: (-r.bytes, os.fsencode(r.path)))


C = TypeVar("C", bound=Counts)


def _most_bytes_first(rows: list[C], then: Callable[[C], str | int]) -> list[C]:
    """A stable order for output and tests: most bytes first, ties by ``then``."""
    return sorted(rows, key=lambda r: (-r.bytes, then(r)))


def _total(rows: Sequence[Counts]) -> Counts:
    return Counts(files=sum(r.files for r in rows), bytes=sum(r.bytes for r in rows))


def _add_up(rows: Iterable[C], key: Callable[[C], Hashable]) -> list[C]:
    """Adds up files and bytes of the rows with equal keys, in first-seen order."""
    totals: dict[Hashable, C] = {}
    for row in rows:
        k = key(row)
        seen = totals.get(k)
        totals[k] = (
            row
            if seen is None
            else seen.model_copy(
                update={"files": seen.files + row.files, "bytes": seen.bytes + row.bytes}
            )
        )
    return list(totals.values())

"""analyze(): statistics of directory trees, and the result's JSON schema (version 1)."""

import heapq
import pwd
import time
from collections.abc import Iterable, Sequence
from datetime import datetime
from functools import cache
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict

from vegafs import _native
from vegafs.engine.selection import Selection

SCHEMA_VERSION = 1
KINDS = (
    "text", "code", "image", "audio", "video", "archive", "document", "data", "binary", "other"
)  # fmt: skip


class _Row(BaseModel):
    model_config = ConfigDict(frozen=True)


class KindRow(_Row):
    kind: str
    files: int
    bytes: int


class ExtensionRow(_Row):
    extension: str  # lower case, no dot; "" for none
    kind: str
    files: int
    bytes: int


class SizeBucket(_Row):
    min_bytes: int
    max_bytes: int | None  # exclusive; None: no upper bound
    files: int
    bytes: int


class AgeBucket(_Row):
    bucket: str
    max_age_s: int | None  # exclusive; None: no upper bound
    files: int
    bytes: int


class OwnerRow(_Row):
    uid: int
    user: str | None  # None when the uid has no name on this machine
    files: int
    bytes: int


class PathSize(_Row):
    path: str
    bytes: int


class EntryError(_Row):
    path: str
    kind: str  # permission_denied, vanished, loop, io
    error: str


class AnalyzeResult(_Row):
    """What ``analyze`` found. Field meanings and counting rules: docs/cli.md."""

    schema_version: Literal[1] = SCHEMA_VERSION
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
    size_histogram: list[SizeBucket]
    age_histogram: list[AgeBucket]
    by_owner: list[OwnerRow]
    largest_files: list[PathSize]
    largest_dirs: list[PathSize]
    error_count: int
    errors: list[EntryError]
    elapsed_s: float

    def merge(self, other: "AnalyzeResult") -> "AnalyzeResult":
        """The result over both trees. Exact when they are disjoint and share no hard-linked
        inode (its bytes would count once per side); both must use the same ``now``."""
        if other.now != self.now:
            raise ValueError(f"cannot merge analyses with different now: {self.now}, {other.now}")
        top, max_errors = max(self.top, other.top), max(self.max_errors, other.max_errors)
        sums = {
            field: getattr(self, field) + getattr(other, field)
            for field in (
                "files", "dirs", "symlinks", "other", "apparent_bytes", "disk_bytes",
                "file_bytes", "repeated_links", "error_count",
            )
        }  # fmt: skip
        return AnalyzeResult(
            roots=self.roots + other.roots,
            now=self.now,
            top=top,
            max_errors=max_errors,
            **sums,
            by_kind=[
                KindRow(kind=k, files=f, bytes=b)
                for (k,), (f, b) in _add_up(self.by_kind, other.by_kind, ("kind",))
            ],
            by_extension=_extension_rows(
                (e, k, f, b)
                for (e, k), (f, b) in _add_up(
                    self.by_extension, other.by_extension, ("extension", "kind")
                )
            ),
            size_histogram=sorted(
                (
                    SizeBucket(min_bytes=lo, max_bytes=hi, files=f, bytes=b)
                    for (lo, hi), (f, b) in _add_up(
                        self.size_histogram, other.size_histogram, ("min_bytes", "max_bytes")
                    )
                ),
                key=lambda r: r.min_bytes,
            ),
            age_histogram=[
                AgeBucket(bucket=n, max_age_s=m, files=f, bytes=b)
                for (n, m), (f, b) in _add_up(
                    self.age_histogram, other.age_histogram, ("bucket", "max_age_s")
                )
            ],
            by_owner=_owner_rows(
                (u, f, b) for (u,), (f, b) in _add_up(self.by_owner, other.by_owner, ("uid",))
            ),
            largest_files=_largest(self.largest_files + other.largest_files, top),
            largest_dirs=_largest(self.largest_dirs + other.largest_dirs, top),
            errors=sorted(self.errors + other.errors, key=lambda e: e.path)[:max_errors],
            elapsed_s=max(self.elapsed_s, other.elapsed_s),
        )


def analyze(
    selection: Selection | str | Path | Sequence[str | Path],
    *,
    top: int = 10,
    max_errors: int = 1000,
    now: datetime | float | None = None,
    progress: _native.Progress | None = None,
    cancel: _native.CancelToken | None = None,
) -> AnalyzeResult:
    """Analyze the selected trees in one parallel pass.

    ``selection`` may be a Selection or just the root path(s). ``now`` pins the reference time of
    the age histogram (default: the current time). Raises FileNotFoundError / PermissionError
    naming a root that cannot be read, SelectionError for a bad filter, Cancelled when
    ``cancel`` is set, KeyboardInterrupt on Ctrl-C.
    """
    if not isinstance(selection, Selection):
        roots = [selection] if isinstance(selection, str | Path) else list(selection)
        selection = Selection(roots=[Path(r) for r in roots])
    if top < 0 or max_errors < 0:
        raise ValueError("top and max_errors must be >= 0")
    now_s = int(time.time() if now is None else now.timestamp() if isinstance(now, datetime) else now)
    raw = _native.analyze(
        selection.to_native(),
        top=top,
        max_errors=max_errors,
        now=now_s,
        progress=progress,
        cancel=cancel,
    )
    return AnalyzeResult(
        roots=[str(r) for r in selection.roots],
        now=now_s,
        top=top,
        max_errors=max_errors,
        files=raw["files"],
        dirs=raw["dirs"],
        symlinks=raw["symlinks"],
        other=raw["other"],
        apparent_bytes=raw["apparent_bytes"],
        disk_bytes=raw["disk_bytes"],
        file_bytes=raw["file_bytes"],
        repeated_links=raw["repeated_links"],
        by_kind=[KindRow(kind=k, files=f, bytes=b) for k, f, b in raw["by_kind"]],
        by_extension=_extension_rows(raw["by_extension"]),
        size_histogram=[
            SizeBucket(min_bytes=lo, max_bytes=hi, files=f, bytes=b)
            for lo, hi, f, b in raw["size_histogram"]
        ],
        age_histogram=[
            AgeBucket(bucket=n, max_age_s=m, files=f, bytes=b)
            for n, m, f, b in raw["age_histogram"]
        ],
        by_owner=_owner_rows(raw["by_owner"]),
        largest_files=[PathSize(path=p, bytes=b) for p, b in raw["largest_files"]],
        largest_dirs=[PathSize(path=p, bytes=b) for p, b in raw["largest_dirs"]],
        error_count=raw["error_count"],
        errors=[EntryError(path=p, kind=k, error=m) for p, k, m in raw["errors"]],
        elapsed_s=raw["elapsed_s"],
    )


@cache
def user_name(uid: int) -> str | None:
    try:
        return pwd.getpwuid(uid).pw_name
    except KeyError:
        return None


def _extension_rows(rows: Iterable[tuple[str, str, int, int]]) -> list[ExtensionRow]:
    """Most bytes first, then by extension: a stable order for output and tests."""
    out = [ExtensionRow(extension=e, kind=k, files=f, bytes=b) for e, k, f, b in rows]
    return sorted(out, key=lambda r: (-r.bytes, r.extension))


def _owner_rows(rows: Iterable[tuple[int, int, int]]) -> list[OwnerRow]:
    out = [OwnerRow(uid=u, user=user_name(u), files=f, bytes=b) for u, f, b in rows]
    return sorted(out, key=lambda r: (-r.bytes, r.uid))


def _largest(rows: list[PathSize], top: int) -> list[PathSize]:
    return heapq.nsmallest(top, rows, key=lambda r: (-r.bytes, r.path))


def _add_up(
    mine: Sequence[BaseModel], theirs: Sequence[BaseModel], key: tuple[str, ...]
) -> list[tuple[tuple[object, ...], tuple[int, int]]]:
    """Adds files and bytes of rows with the same key; keeps first-seen key order."""
    totals: dict[tuple[object, ...], tuple[int, int]] = {}
    for row in (*mine, *theirs):
        k = tuple(getattr(row, f) for f in key)
        files, size = totals.get(k, (0, 0))
        totals[k] = (files + getattr(row, "files"), size + getattr(row, "bytes"))
    return list(totals.items())

"""What the core takes and gives, as plain values (dicts, lists, ints), without pydantic.

The models build on these (``Selection.to_native``, ``analyze``), and so does the command
line's quick path (``vegafs.cli.quick``), which runs a local command without importing pydantic:
both send the core the same arguments and print the same result, by construction.
"""

import pwd
from collections.abc import Iterable, Sequence
from functools import cache
from math import floor
from pathlib import Path
from typing import Any

from vegafs import _native


def native_selection(
    *,
    roots: Sequence[str | Path],
    include: Sequence[str],
    exclude: Sequence[str],
    path_regex: str | None,
    types: Iterable[str],
    min_size: int | None,
    max_size: int | None,
    newer_than: float | None,
    older_than: float | None,
    hidden: bool,
    ignore_files: bool,
    max_depth: int | None,
    one_file_system: bool,
    follow_symlinks: bool,
    beneath: Sequence[str | Path] = (),
) -> dict[str, Any]:
    """The dict ``vegafs._native`` takes for a Selection: times as whole seconds since the epoch,
    ``beneath`` as for ``Selection.to_native``. Every field is required: the defaults are the
    Selection model's."""
    return {
        "roots": [str(p) for p in roots],
        "include": list(include),
        "exclude": list(exclude),
        "path_regex": path_regex,
        "types": sorted(set(types)),
        "min_size": min_size,
        "max_size": max_size,
        "newer_than": None if newer_than is None else floor(newer_than),
        "older_than": None if older_than is None else floor(older_than),
        "hidden": hidden,
        "ignore_files": ignore_files,
        "max_depth": max_depth,
        "one_file_system": one_file_system,
        "follow_symlinks": follow_symlinks,
        "beneath": [str(p) for p in beneath],
    }


def analysis_fields(
    raw: _native.Analysis, *, roots: Sequence[str], now: int, top: int, max_errors: int
) -> dict[str, Any]:
    """The fields of an ``AnalyzeResult`` (in its order, its JSON values) from the core's
    analysis: rows sorted as documented, owners named."""
    return {
        "schema_version": 1,
        "roots": list(roots),
        "now": now,
        "top": top,
        "max_errors": max_errors,
        "files": raw.files,
        "dirs": raw.dirs,
        "symlinks": raw.symlinks,
        "other": raw.other,
        "apparent_bytes": raw.apparent_bytes,
        "disk_bytes": raw.disk_bytes,
        "file_bytes": raw.file_bytes,
        "repeated_links": raw.repeated_links,
        "by_kind": [{"files": f, "bytes": b, "kind": k} for k, f, b in raw.by_kind],
        "by_extension": _most_bytes_first(
            [
                {"files": f, "bytes": b, "extension": e, "kind": k}
                for e, k, f, b in raw.by_extension
            ],
            "extension",
        ),
        "unlisted_extensions": {
            "files": raw.unlisted_extensions[0],
            "bytes": raw.unlisted_extensions[1],
        },
        "size_histogram": [
            {"files": f, "bytes": b, "min_bytes": lo, "max_bytes": hi}
            for lo, hi, f, b in raw.size_histogram
        ],
        "age_histogram": [
            {"files": f, "bytes": b, "bucket": n, "max_age_s": m}
            for n, m, f, b in raw.age_histogram
        ],
        "by_owner": _most_bytes_first(
            [{"files": f, "bytes": b, "uid": u, "user": user_name(u)} for u, f, b in raw.by_owner],
            "uid",
        ),
        "largest_files": [{"path": p, "bytes": b} for p, b in raw.largest_files],
        "largest_dirs": [{"path": p, "bytes": b} for p, b in raw.largest_dirs],
        "error_count": raw.error_count,
        "elapsed_s": raw.elapsed_s,
        "errors": error_dicts(raw.errors),
    }


def error_dicts(errors: Iterable[tuple[str, str, str]]) -> list[dict[str, str]]:
    """The core's listed errors, ``(path, kind, message)``, as the ``{path, kind, error}`` rows
    of every summary."""
    return [{"path": p, "kind": k, "error": m} for p, k, m in errors]


def summary_fields(native: Any, names: Iterable[str]) -> dict[str, Any]:
    """The fields ``names`` of a summary model read from the core's summary object, which has
    the same attribute names (``schema_version`` aside), its errors as ``error_dicts``."""
    out = {n: getattr(native, n) for n in names if n != "schema_version"}
    if "errors" in out:
        out["errors"] = error_dicts(out["errors"])
    return out


def _most_bytes_first(rows: list[dict[str, Any]], then: str) -> list[dict[str, Any]]:
    """A stable order for output and tests: most bytes first, ties by ``then``."""
    return sorted(rows, key=lambda r: (-r["bytes"], r[then]))


@cache
def user_name(uid: int) -> str | None:
    try:
        return pwd.getpwuid(uid).pw_name
    except KeyError:
        return None


def analyze(
    selection: dict[str, Any],
    *,
    top: int,
    max_errors: int,
    now: int,
    progress: _native.Progress | None = None,
) -> dict[str, Any]:
    """``analyze`` in plain values: ``selection`` has every Selection field (times in seconds),
    the answer the fields of an ``AnalyzeResult``. Raises as ``vegafs.engine.analyze`` does."""
    raw = _native.analyze(
        native_selection(**selection), top=top, max_errors=max_errors, now=now, progress=progress
    )
    roots = [str(r) for r in selection["roots"]]
    return analysis_fields(raw, roots=roots, now=now, top=top, max_errors=max_errors)


def list_entries(
    selection: dict[str, Any], *, max_errors: int, progress: _native.Progress | None = None
) -> _native.RowStream:
    """``list_entries`` in plain values (``selection`` as for ``analyze`` here): the stream of
    batches of rows, in batches of 1,024 as ``vegafs.engine.list_entries`` sends them."""
    return _native.list_entries(
        native_selection(**selection), batch_size=1024, max_errors=max_errors, progress=progress
    )


def find_dupes(
    selection: dict[str, Any], *, max_errors: int, progress: _native.Progress | None = None
) -> _native.RowStream:
    """``find_dupes`` in plain values (``selection`` as for ``analyze`` here): the stream of
    batches of groups, in batches of 256 as ``vegafs.engine.find_dupes`` sends them."""
    return _native.find_dupes(
        native_selection(**selection), batch_size=256, max_errors=max_errors, progress=progress
    )


def hash_files(
    selection: dict[str, Any],
    *,
    algorithm: str,
    max_errors: int,
    progress: _native.Progress | None = None,
) -> _native.RowStream:
    """``hash_files`` in plain values (``selection`` as for ``analyze`` here), in batches of
    1,024 rows as ``vegafs.engine.hash_files`` sends them."""
    return _native.hash_files(
        native_selection(**selection),
        algorithm=algorithm,
        batch_size=1024,
        max_errors=max_errors,
        progress=progress,
    )


def search(
    selection: dict[str, Any],
    options: dict[str, Any],
    *,
    text: bool,
    progress: _native.Progress | None = None,
) -> _native.RowStream:
    """``search`` in plain values (``selection`` as for ``analyze`` here; ``options`` every field
    of ``_native.search``'s, ``max_errors`` included): ready lines of text in chunks sent at once
    (``text``), or rows in batches of 1,024, as ``vegafs.ops.search`` asks for them."""
    return _native.search(
        native_selection(**selection),
        options,
        text=text,
        batch_size=1 if text else 1024,
        progress=progress,
    )


def plan_replace(
    selection: dict[str, Any],
    options: dict[str, Any],
    *,
    max_errors: int,
    progress: _native.Progress | None = None,
    cancel: _native.CancelToken | None = None,
) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    """``plan_replace`` in plain values (``selection``: the core's, as ``native_selection``
    makes it; ``options``: pattern, replacement, fixed_strings, ignore_case, word_regexp): the
    planned files, and the summary's fields as ``ReplaceSummary`` has them."""
    rows, summary = _native.plan_replace(
        selection,
        {**options, "max_errors": max_errors},
        progress=progress,
        cancel=cancel,
    )
    fields = ("files_scanned", "files_changed", "replacements", "refused", "error_count",
              "errors", "elapsed_s")  # fmt: skip
    return rows, summary_fields(summary, fields)


def validate_files(
    selection: dict[str, Any],
    *,
    format: str | None,
    header: bool,
    schema: str | None,
    max_errors: int,
    progress: _native.Progress | None = None,
) -> _native.RowStream:
    """``validate_files`` in plain values (``selection`` as for ``analyze`` here), in batches
    of 1,024 rows as ``vegafs.engine.validate_files`` sends them."""
    return _native.validate_files(
        native_selection(**selection),
        format=format,
        header=header,
        schema=schema,
        batch_size=1024,
        max_errors=max_errors,
        progress=progress,
    )

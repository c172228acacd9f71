"""The readable analysis report, and the CSV of its tables."""

import csv
from collections.abc import Iterator
from typing import TextIO

from rich.console import Console
from rich.table import Table
from rich.text import Text

from vegafs.cli.values import human_bytes, show_path
from vegafs.engine.analysis import AnalyzeResult, SizeBucket

BAR_WIDTH = 24
UNWRAPPED = 100_000  # columns of a report written to a file or pipe


class ReportConsole(Console):
    """Rich's console, but a file or a pipe gets lines as long as they are (paths are never
    split at 80 columns), and a reader that went away ends the process as a closed pipe does."""

    def __init__(self) -> None:
        super().__init__(highlight=False)
        if not self.is_terminal:
            self.width = UNWRAPPED

    def on_broken_pipe(self) -> None:
        from vegafs.cli.output import closed_pipe

        closed_pipe()


def print_report(r: AnalyzeResult, console: Console | None = None) -> None:
    console = console or ReportConsole()
    roots = ", ".join(show_path(p) for p in r.roots)
    console.print(Text(f"VegaFS analysis of {roots}", style="bold"))
    entries = r.files + r.dirs + r.symlinks + r.other
    summary = _table("", "")
    summary.add_row("entries", f"{entries:,}  ({r.files:,} files, {r.dirs:,} dirs, "
                    f"{r.symlinks:,} symlinks, {r.other:,} other)")  # fmt: skip
    summary.add_row("apparent size", f"{human_bytes(r.apparent_bytes)}  ({r.apparent_bytes:,} B; "
                    f"files {human_bytes(r.file_bytes)})")  # fmt: skip
    summary.add_row("on disk", f"{human_bytes(r.disk_bytes)}  ({r.disk_bytes:,} B)")
    if r.repeated_links:
        summary.add_row("hard links", f"{r.repeated_links:,} more links to files counted once")
    summary.add_row("errors", f"{r.error_count:,}")
    summary.add_row("time", f"{r.elapsed_s:.3f} s")
    console.print(summary)

    total = max(r.file_bytes, 1)
    kinds = _table("kind", "", "files", "bytes", "share")
    top_kind = max((k.bytes for k in r.by_kind), default=0) or 1
    for k in sorted(r.by_kind, key=lambda k: -k.bytes):
        if k.files:
            kinds.add_row(k.kind, _bar(k.bytes, top_kind), f"{k.files:,}", human_bytes(k.bytes),
                          f"{100 * k.bytes / total:.1f}%")  # fmt: skip
    _section(console, "By kind", kinds)

    exts = _table("extension", "kind", "files", "bytes")
    for e in r.by_extension[:15]:
        exts.add_row(e.extension or "(none)", e.kind, f"{e.files:,}", human_bytes(e.bytes))
    if r.unlisted_extensions.files:
        u = r.unlisted_extensions
        exts.add_row("(unlisted)", "", f"{u.files:,}", human_bytes(u.bytes))
    more = len(r.by_extension) - 15
    _section(console, "Top extensions" + (f" ({more} more in --json)" if more > 0 else ""), exts)

    sizes = _table("size", "", "files", "bytes")
    top_size = max((b.files for b in r.size_histogram), default=1)
    for b in r.size_histogram:
        sizes.add_row(
            _bucket_name(b), _bar(b.files, top_size), f"{b.files:,}", human_bytes(b.bytes)
        )
    _section(console, "Sizes", sizes)

    ages = _table("modified", "", "files", "bytes")
    top_age = max((b.files for b in r.age_histogram), default=1) or 1
    for a in r.age_histogram:
        ages.add_row(a.bucket, _bar(a.files, top_age), f"{a.files:,}", human_bytes(a.bytes))
    _section(console, "Ages", ages)

    owners = _table("owner", "uid", "files", "bytes")
    for o in r.by_owner[:10]:
        owners.add_row(o.user or "?", str(o.uid), f"{o.files:,}", human_bytes(o.bytes))
    _section(console, "Owners", owners)

    for title, rows in (
        ("Largest files", r.largest_files),
        ("Largest directories", r.largest_dirs),
    ):
        t = _table("bytes", "path")
        for p in rows:
            t.add_row(human_bytes(p.bytes), Text(show_path(p.path)))
        _section(console, title, t)

    if r.errors:
        t = _table("kind", "path", "error")
        for err in r.errors:
            t.add_row(err.kind, Text(show_path(err.path)), err.error)
        shown = (
            f" (first {len(r.errors):,} of {r.error_count:,})"
            if r.error_count > len(r.errors)
            else ""
        )
        _section(console, f"Errors{shown}", t)


def write_csv(r: AnalyzeResult, out: TextIO) -> None:
    """All tables as rows of ``table,key,files,bytes``."""
    w = csv.writer(out, lineterminator="\n")
    w.writerow(["table", "key", "files", "bytes"])
    for row in _csv_rows(r):
        w.writerow(row)


def _csv_rows(r: AnalyzeResult) -> Iterator[tuple[str, str, int | str, int]]:
    yield ("summary", "all", r.files, r.apparent_bytes)
    for k in r.by_kind:
        yield ("kind", k.kind, k.files, k.bytes)
    for e in r.by_extension:
        yield ("extension", e.extension, e.files, e.bytes)
    yield ("unlisted_extensions", "", r.unlisted_extensions.files, r.unlisted_extensions.bytes)
    for b in r.size_histogram:
        yield ("size", _bucket_name(b), b.files, b.bytes)
    for a in r.age_histogram:
        yield ("age", a.bucket, a.files, a.bytes)
    for o in r.by_owner:
        yield ("owner", o.user or str(o.uid), o.files, o.bytes)
    for p in r.largest_files:
        yield ("largest_file", p.path, "", p.bytes)
    for p in r.largest_dirs:
        yield ("largest_dir", p.path, "", p.bytes)


def _bucket_name(b: SizeBucket) -> str:
    if b.max_bytes is None:
        return f">= {human_bytes(b.min_bytes)}"
    if b.max_bytes == 1:
        return "0 B"
    return f"< {human_bytes(b.max_bytes)}"


def _bar(value: int, top: int) -> str:
    eighths = round(BAR_WIDTH * 8 * value / top) if top else 0
    full, part = divmod(eighths, 8)
    return "█" * full + (" ▏▎▍▌▋▊▉"[part] if part else "")


def _table(*columns: str) -> Table:
    t = Table(box=None, show_header=any(columns), padding=(0, 2, 0, 0), pad_edge=False)
    for c in columns:
        numeric = c in ("files", "bytes", "share", "uid")
        t.add_column(c, justify="right" if numeric else "left", overflow="fold")
    return t


def _section(console: Console, title: str, table: Table) -> None:
    console.print()
    console.print(Text(title, style="bold"))
    console.print(table)

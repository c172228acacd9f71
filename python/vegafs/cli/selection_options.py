"""The Selection's command-line options, shared by every command that walks trees."""

from collections.abc import Callable
from pathlib import Path
from typing import Annotated, TypeVar

import typer

from vegafs.cli.values import parse_size, parse_time
from vegafs.engine import EntryTypeName, Selection
from vegafs.engine.selection import ALL_TYPES

PANEL = "Selection"
T = TypeVar("T")

# readable=False: an unreadable root is the core's to report (a listed error), not click's.
Paths = Annotated[
    list[Path],
    typer.Argument(
        help="Directories or files to walk.", metavar="PATH...", show_default=False, readable=False
    ),
]
Include = Annotated[
    list[str] | None,
    typer.Option("--include", "-g", help="Only entries matching this glob (repeatable). No '/': "
                 "matches the name; with '/': the path below the root.", rich_help_panel=PANEL),
]  # fmt: skip
Exclude = Annotated[
    list[str] | None,
    typer.Option("--exclude", "-E", help="Skip entries matching this glob; matching directories "
                 "are not walked (repeatable).", rich_help_panel=PANEL),
]  # fmt: skip
Regex = Annotated[
    str | None,
    typer.Option("--regex", help="Only entries whose path contains a match of this regex.",
                 rich_help_panel=PANEL),
]  # fmt: skip
Types = Annotated[
    list[str] | None,
    typer.Option("--type", "-t", help="Only these entry types: file, dir, symlink, other "
                 "(repeatable).", rich_help_panel=PANEL),
]  # fmt: skip
MinSize = Annotated[
    str | None,
    typer.Option("--min-size", help="Only files at least this big (500, 10k, 1.5M, 2G).",
                 rich_help_panel=PANEL),
]  # fmt: skip
MaxSize = Annotated[
    str | None,
    typer.Option("--max-size", help="Only files at most this big.", rich_help_panel=PANEL),
]
Newer = Annotated[
    str | None,
    typer.Option("--newer", help="Only entries modified at or after this time (2024-05-01, "
                 "@1714557600) or within this age (7d, 12h).", rich_help_panel=PANEL),
]  # fmt: skip
Older = Annotated[
    str | None,
    typer.Option("--older", help="Only entries modified before this time or age.",
                 rich_help_panel=PANEL),
]  # fmt: skip
Hidden = Annotated[
    bool,
    typer.Option("--hidden/--no-hidden", help="Visit names starting with a dot.",
                 rich_help_panel=PANEL),
]  # fmt: skip
IgnoreFiles = Annotated[
    bool,
    typer.Option("--ignore-files/--no-ignore-files", help="Honour .gitignore, .ignore and "
                 ".vegafsignore files (off: count what is on disk).", rich_help_panel=PANEL),
]  # fmt: skip
MaxDepth = Annotated[
    int | None,
    typer.Option("--max-depth", "-d", min=0, help="Deepest level visited (a root's entries are 1).",
                 rich_help_panel=PANEL),
]  # fmt: skip
OneFileSystem = Annotated[
    bool,
    typer.Option("--one-file-system", "-x", help="Do not walk into other file systems.",
                 rich_help_panel=PANEL),
]  # fmt: skip
Follow = Annotated[
    bool,
    typer.Option("--follow", "-L", help="Follow symlinks (loops are reported, never walked twice).",
                 rich_help_panel=PANEL),
]  # fmt: skip


def build_selection(
    paths: list[Path],
    include: list[str] | None,
    exclude: list[str] | None,
    regex: str | None,
    types: list[str] | None,
    min_size: str | None,
    max_size: str | None,
    newer: str | None,
    older: str | None,
    hidden: bool,
    ignore_files: bool,
    max_depth: int | None,
    one_file_system: bool,
    follow: bool,
    now: float | None = None,
) -> Selection:
    """The Selection the options describe; typer.BadParameter naming the option otherwise."""
    return Selection(
        roots=paths,
        include=include or [],
        exclude=exclude or [],
        path_regex=regex,
        types=_types(types),
        min_size=_checked(parse_size, min_size, "--min-size"),
        max_size=_checked(parse_size, max_size, "--max-size"),
        newer_than=_checked(lambda t: parse_time(t, now), newer, "--newer"),
        older_than=_checked(lambda t: parse_time(t, now), older, "--older"),
        hidden=hidden,
        ignore_files=ignore_files,
        max_depth=max_depth,
        one_file_system=one_file_system,
        follow_symlinks=follow,
    )


def _types(values: list[str] | None) -> frozenset[EntryTypeName]:
    if not values:
        return ALL_TYPES
    chosen: set[EntryTypeName] = set()
    for value in values:
        for name in value.split(","):
            match name.strip():
                case "f" | "file":
                    chosen.add("file")
                case "d" | "dir":
                    chosen.add("dir")
                case "l" | "symlink":
                    chosen.add("symlink")
                case "o" | "other":
                    chosen.add("other")
                case bad:
                    raise typer.BadParameter(
                        f"unknown type {bad!r} (file, dir, symlink, other)", param_hint="--type"
                    )
    return frozenset(chosen)


def _checked(parse: Callable[[str], T], text: str | None, option: str) -> T | None:
    if text is None:
        return None
    try:
        return parse(text)
    except ValueError as e:
        raise typer.BadParameter(str(e), param_hint=option) from None

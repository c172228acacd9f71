"""The Selection's command-line options, declared once for every command that walks trees.

Each row of ``SELECTION_OPTIONS`` names the Selection field it fills, its flags, its help and how
its text is read; ``vegafs.cli.commands`` turns the rows into options and errors about a field
back into the flag the user typed.
"""

import re
from collections.abc import Callable
from typing import Any, NamedTuple

from vegafs.cli.values import parse_size, parse_time

PANEL = "Selection"


class Flag(NamedTuple):
    """One command-line option that fills one field. (A named tuple: the quick path reads this
    table, and ``dataclasses`` alone costs it several milliseconds.)"""

    field: str  # the field it fills
    flags: tuple[str, ...]  # "--min-size" or ("--type", "-t"); a switch: "--hidden/--no-hidden"
    help: str
    # "value": one value; "many": repeatable; "switch": a boolean flag.
    kind: str = "value"
    # text -> value; `now` is the reference time of relative ages (seconds, or None: now)
    parse: Callable[[str, float | None], Any] | None = None
    metavar: str | None = None

    @property
    def name(self) -> str:
        """The flag as users know it: ``--min-size``."""
        return self.flags[0].split("/")[0]

    @property
    def shown(self) -> str:
        """Every spelling: ``-t/--type``."""
        return "/".join(sorted((f.split("/")[0] for f in self.flags), key=len))


def _size(text: str, _now: float | None) -> int:
    return parse_size(text)


def _types(text: str, _now: float | None) -> list[str]:
    chosen: list[str] = []
    for name in text.split(","):
        match name.strip():
            case "f" | "file":
                chosen.append("file")
            case "d" | "dir":
                chosen.append("dir")
            case "l" | "symlink":
                chosen.append("symlink")
            case "o" | "other":
                chosen.append("other")
            case bad:
                raise ValueError(f"unknown type {bad!r} (file, dir, symlink, other)")
    return chosen


SELECTION_OPTIONS: tuple[Flag, ...] = (
    Flag("include", ("--include", "-g"), "Only entries matching this glob (repeatable). No '/': "
         "matches the name; with '/': the path below the root.", "many", metavar="GLOB"),
    Flag("exclude", ("--exclude", "-E"), "Skip entries matching this glob; matching directories "
         "are not walked (repeatable).", "many", metavar="GLOB"),
    Flag("path_regex", ("--regex",), "Only entries whose path contains a match of this regex.",
         metavar="RE"),
    Flag("types", ("--type", "-t"), "Only these entry types: file, dir, symlink, other "
         "(repeatable or comma-separated).", "many", _types, metavar="T"),
    Flag("min_size", ("--min-size",), "Only files at least this big (500, 10k, 1.5M, 2G).",
         parse=_size, metavar="SIZE"),
    Flag("max_size", ("--max-size",), "Only files at most this big.", parse=_size,
         metavar="SIZE"),
    Flag("newer_than", ("--newer",), "Only entries modified at or after this time (2024-05-01, "
         "@1714557600) or within this age (7d, 12h).", parse=parse_time, metavar="TIME"),
    Flag("older_than", ("--older",), "Only entries modified before this time or age.",
         parse=parse_time, metavar="TIME"),
    Flag("hidden", ("--hidden/--no-hidden",), "Visit names starting with a dot.", "switch"),
    Flag("ignore_files", ("--ignore-files/--no-ignore-files",), "Honour .gitignore, .ignore and "
         ".vegafsignore files (off: count what is on disk).", "switch"),
    Flag("max_depth", ("--max-depth", "-d"), "Deepest level visited (a root's entries are 1).",
         parse=lambda text, _now: int(text), metavar="N"),
    Flag("one_file_system", ("--one-file-system", "-x"), "Do not walk into other file systems.",
         "switch"),
    Flag("follow_symlinks", ("--follow", "-L"), "Follow symlinks (loops are reported, never "
         "walked twice).", "switch"),
)  # fmt: skip

BY_FIELD = {flag.field: flag for flag in SELECTION_OPTIONS}


def selection_flag(field: str) -> str | None:
    """The option that fills Selection field ``field``, every spelling (``-t/--type``; the roots
    are ``PATH``); None when no option fills it."""
    if field == "roots":
        return "PATH"
    flag = BY_FIELD.get(field)
    return flag.shown if flag else None


_FIELD_WORDS = re.compile(r"\b(" + "|".join(BY_FIELD) + r")\b")


def in_cli_terms(message: str) -> str:
    """A core message about Selection fields with the fields named by their options:
    'is larger than max_size 10' -> 'is larger than --max-size 10'."""
    return _FIELD_WORDS.sub(lambda m: BY_FIELD[m.group(1)].name, message)

"""Checksum lines as ``b3sum``, ``sha256sum`` and ``xxhsum -H3`` write them.

A line is ``DIGEST  PATH`` (two spaces; BLAKE3 and SHA-256) or ``XXH3 (PATH) = DIGEST`` (what
``xxhsum -H3`` writes: its 16 digits alone would read as XXH64). The path is written as the bytes
it is, as given on the command line joined with the names below it. A name holding a newline or
a backslash (SHA-256: also a carriage return) is escaped as these tools do: the line starts with
a backslash and the name has ``\\\\``, ``\\n`` (``\\r``) in their place, so that every file is one
line and ``b3sum --check`` / ``sha256sum -c`` read it back.

Plain Python: the quick path (``vegafs.cli.quick``) prints them too.
"""

from typing import Any

# What each tool escapes in a name (coreutils 9 escapes CR too; b3sum does not) and what makes it
# escape a name (xxhsum writes a backslash as it is: only a newline must go).
_ESCAPED = {"blake3": "\\\n", "sha256": "\\\n\r", "xxh3": "\\\n"}
_TRIGGERS = {"blake3": "\\\n", "sha256": "\\\n\r", "xxh3": "\n"}
_ESCAPES = {"\\": "\\\\", "\n": "\\n", "\r": "\\r"}


def line_for(algorithm: str, path: str, digest: str) -> str:
    """One checksum line, newline included, for ``path`` (a str from ``os.fsdecode``: encode
    the lines with ``surrogateescape`` to get the name's bytes back)."""
    prefix = ""
    if any(c in path for c in _TRIGGERS[algorithm]):
        prefix = "\\"
        for c in _ESCAPED[algorithm]:
            path = path.replace(c, _ESCAPES[c])
    if algorithm == "xxh3":
        return f"{prefix}XXH3 ({path}) = {digest}\n"
    return f"{prefix}{digest}  {path}\n"


def lines_for(algorithm: str, rows: list[dict[str, Any]]) -> bytes:
    """The checksum lines of a batch of rows, as bytes."""
    text = "".join(line_for(algorithm, r["path"], r["digest"]) for r in rows)
    return text.encode("utf-8", "surrogateescape")

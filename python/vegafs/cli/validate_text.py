"""``vegafs validate``'s output, in plain Python (no typer, no pydantic): the presenter
(``validate_output.ValidateLines``) and the quick path (``vegafs.cli.quick``) both print with it.

A line per failure as compilers write them, ``path:line:column: format: message``
(``path:line:`` when the column is not known, ``path:`` when the line is not either); at the
end, the files that could not be read on stderr, and the exit code: 0 every file passed, 1 a
file failed, 2 an error (as rg: an error wins, since the unread files were not checked).
"""

import sys
from collections.abc import Iterable
from typing import Any

from vegafs.cli import exits
from vegafs.cli.output import print_errors, write_shown

FAILED = 1
ERROR = exits.USAGE


def row_line(row: dict[str, Any]) -> str:
    where = str(row["path"])
    if row["line"] is not None:
        where += f":{row['line']}"
        if row["column"] is not None:
            where += f":{row['column']}"
    return f"{where}: {row['format']}: {row['message']}"


def write_lines(batch: Iterable[dict[str, Any]]) -> None:
    write_shown(row_line(row) for row in batch)


def finish(summary: dict[str, Any], *, as_json: bool) -> int:
    """The listed errors and the counts on stderr; the exit code."""
    errors = summary.get("errors") or ()
    print_errors(errors)
    unread = int(summary.get("error_count") or 0)
    failed = int(summary.get("failed") or 0)
    if failed and not as_json:
        files = int(summary.get("files") or 0)
        print(f"vegafs: {failed:,} of {files:,} files failed validation", file=sys.stderr)
    if unread:
        what = "entry" if unread == 1 else "entries"
        print(f"vegafs: {unread:,} {what} could not be read", file=sys.stderr)
        return ERROR
    return FAILED if failed else exits.OK

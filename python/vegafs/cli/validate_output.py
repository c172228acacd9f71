"""How ``vegafs validate`` shows its outcome: a line per failure as compilers write them
(``path:line:column: format: message``), or its JSON with ``--json``; the files that could not be
read on stderr; exit 0 when every file passed, 1 when one failed, 2 on an error (as rg and
``vegafs search``: an error wins over a failure, since the unread files were not checked).
"""

import sys
from typing import Annotated, Any, ClassVar

import typer

from vegafs.cli import exits
from vegafs.cli.commands import OPTIONS_PANEL, Param
from vegafs.cli.output import print_errors
from vegafs.cli.present import JSON_ROWS_HELP, RowLines

FAILED = 1
ERROR = exits.USAGE


class ValidateLines(RowLines):
    params: ClassVar[list[Param]] = [
        Param("o_json", Annotated[bool, typer.Option("--json", help=JSON_ROWS_HELP,
              rich_help_panel=OPTIONS_PANEL)], False),
    ]  # fmt: skip
    exit_codes: ClassVar[str | None] = (
        "Exit code 0: every file validated passed; 1: a file failed; 2: an error (bad usage, a "
        "schema that cannot be read or compiled, a root or a file that could not be read; the "
        "failures found are still printed, the errors go to stderr); 130: interrupted."
    )

    def finish(self, summary: dict[str, Any]) -> None:
        errors = summary.get("errors") or ()
        print_errors(errors)
        unread = int(summary.get("error_count") or 0)
        failed = int(summary.get("failed") or 0)
        if failed and not self.as_json:
            files = int(summary.get("files") or 0)
            print(f"vegafs: {failed:,} of {files:,} files failed validation", file=sys.stderr)
        if unread:
            what = "entry" if unread == 1 else "entries"
            print(f"vegafs: {unread:,} {what} could not be read", file=sys.stderr)
            raise typer.Exit(ERROR)
        if failed:
            raise typer.Exit(FAILED)

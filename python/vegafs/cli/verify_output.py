"""How ``vegafs verify`` shows its outcome: a line per manifest line as it is checked, in the
manifest's order (``PATH: OK``, ``PATH: CHANGED``, ``PATH: MISSING (why)``, ``PATH: UNREADABLE
(why)``; ``--quiet``: only the ones that are not OK, as ``sha256sum -c --quiet``), or its JSON
with ``--json``. When something is not OK, a count and any hint on stderr, and exit 1.
"""

import sys
from typing import Annotated, Any, ClassVar

import typer

from vegafs import ops
from vegafs.cli import exits
from vegafs.cli.commands import OPTIONS_PANEL, Param
from vegafs.cli.output import write_json_rows, write_shown
from vegafs.cli.present import JSON_ROWS_HELP, Presenter
from vegafs.cli.values import show_path


def line_for(row: dict[str, Any]) -> str:
    """``PATH: STATUS``, and why for a file missing or unreadable (not yet shown)."""
    status = row["status"].upper()
    if row.get("message"):
        return f"{row['path']}: {status} ({row['message']})"
    return f"{row['path']}: {status}"


class VerifyLines(Presenter):
    params: ClassVar[list[Param]] = [
        Param("o_json", Annotated[bool, typer.Option("--json", help=JSON_ROWS_HELP,
              rich_help_panel=OPTIONS_PANEL)], False),
        Param("o_quiet", Annotated[bool, typer.Option("--quiet", "-q", help="Show only the "
              "files that are not OK (as sha256sum -c --quiet); nothing when all are.",
              rich_help_panel=OPTIONS_PANEL)], False),
    ]  # fmt: skip
    exit_codes: ClassVar[str | None] = (
        "Exit code 0: every file listed is OK; 1: a file changed, is missing or cannot be read; "
        "2: bad usage, or a manifest that cannot be read or has a line that is not a checksum "
        "line (named by its number; nothing is checked); 130: interrupted."
    )

    def __init__(self, op: ops.Operation, values: dict[str, Any]) -> None:
        super().__init__(op, values)
        self.quiet = bool(values.get("o_quiet"))

    @property
    def progress_line(self) -> bool:
        return not sys.stdout.isatty()

    def rows(self, batch: ops.Rows) -> None:
        if self.quiet:
            batch = [row for row in batch if row["status"] != "ok"]
        if self.as_json:
            write_json_rows(batch)
        else:
            # show_path escapes the name only: "PATH: STATUS (why)" has no control character
            write_shown(line_for(row) for row in batch)

    def finish(self, summary: dict[str, Any]) -> None:
        manifest = show_path(str(summary.get("manifest", "?")))
        files = int(summary.get("files") or 0)
        ok = int(summary.get("ok") or 0)
        if ok == files:
            return
        counts = [f"{summary[k]:,} {k}" for k in ("changed", "missing", "unreadable") if summary[k]]
        noun = "file" if files == 1 else "files"
        print(f"vegafs: {manifest}: {', '.join(counts)} of {files:,} {noun} ({ok:,} ok)",
              file=sys.stderr)  # fmt: skip
        if summary.get("hint"):
            print(f"vegafs: hint: {summary['hint']}", file=sys.stderr)
        raise SystemExit(exits.ERRORS_LISTED)

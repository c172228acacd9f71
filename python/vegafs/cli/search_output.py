"""How ``vegafs search`` shows its outcome.

A local run without ``--json`` writes the lines the core formatted (``RunContext.lines``) as they
come: ``path:N:line`` per matching line (``path-N-line`` for context, ``--`` between groups),
``path:count`` with ``-c``, ``path`` with ``-l`` / ``--files-without-match``, paths shown as
``show_path`` shows them. Rows (``--json``, or a job's rows with ``--submit --wait``) are
formatted here the same way. Exit codes are rg's: 0 found, 1 nothing found, 2 an error.
"""

import sys
from typing import Annotated, Any, ClassVar

import typer

from vegafs import ops
from vegafs.cli import exits
from vegafs.cli.commands import OPTIONS_PANEL, Param
from vegafs.cli.output import print_errors, write, write_bytes, write_json_rows
from vegafs.cli.present import JSON_ROWS_HELP, Presenter
from vegafs.cli.values import show_path

NOTHING_FOUND = 1
ERROR = exits.USAGE  # rg's 2: an error, bad usage included


class SearchLines(Presenter):
    params: ClassVar[list[Param]] = [
        Param("o_json", Annotated[bool, typer.Option("--json", help=JSON_ROWS_HELP,
              rich_help_panel=OPTIONS_PANEL)], False),
    ]  # fmt: skip
    exit_codes: ClassVar[str | None] = (
        "Exit code (as rg's) 0: something found (with --files-without-match: a file listed); "
        "1: nothing found; 2: an error (bad usage or pattern, a root or a file that could not be "
        "read; what was found is still printed, the errors go to stderr); 130: interrupted."
    )

    def __init__(self, op: ops.Operation, values: dict[str, Any]) -> None:
        super().__init__(op, values)
        self.without_match = bool(values.get("p_files_without_match"))
        self.only_matching = bool(values.get("p_only_matching"))
        self.context = any(
            values.get(k) for k in ("p_context", "p_before_context", "p_after_context")
        )
        self.last: tuple[str, int] | None = None  # the last line printed from rows
        if not self.as_json:
            self.core_lines = write_bytes

    @property
    def progress_line(self) -> bool:
        return not sys.stdout.isatty()

    def rows(self, batch: ops.Rows) -> None:
        if self.as_json:
            write_json_rows(batch)
            return
        lines = [line for row in batch for line in self.text(row)]
        if lines:
            write("\n".join(lines) + "\n")

    def text(self, row: dict[str, Any]) -> list[str]:
        """A row (of a job) as the lines a local run prints for it."""
        path = show_path(row["path"])
        kind = row["type"]
        if kind == "count":
            return [f"{path}:{row['count']}"]
        if kind == "file":
            return [path]
        n, line = row["line_number"], row["line"]
        out = []
        if self.context and self.last is not None and self.last != (row["path"], n - 1):
            out.append("--")
        self.last = (row["path"], n)
        if kind == "context":
            return [*out, f"{path}-{n}-{line}"]
        if self.only_matching:
            raw = line.encode("utf-8", "surrogateescape")
            spans = row["submatches"] or []
            return out + [f"{path}:{n}:{raw[s:e].decode('utf-8', 'replace')}" for s, e in spans]
        return [*out, f"{path}:{n}:{line}"]

    def finish(self, summary: dict[str, Any]) -> None:
        errors = summary.get("errors") or ()
        print_errors(errors)
        failed = int(summary.get("error_count") or 0)
        if failed > len(errors):
            print(f"vegafs: {failed:,} entries could not be read", file=sys.stderr)
        found = summary["files_without_match"] if self.without_match else summary["matched_lines"]
        if failed:
            raise typer.Exit(ERROR)
        if not found:
            raise typer.Exit(NOTHING_FOUND)

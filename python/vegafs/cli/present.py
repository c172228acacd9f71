"""How a command shows an operation's outcome: rows as they arrive, then the summary.

The same presenter serves a local run and a job's result fetched from a server (``--submit
--wait``), so both print the same thing. ``RowLines`` serves every operation: a line of text (or
of JSON) per row. ``analyze`` has its own: one report (or JSON object, or CSV) at the end.
"""

import importlib
import json
import sys
from typing import Annotated, Any, ClassVar

import typer

from vegafs import ops
from vegafs.cli import exits
from vegafs.cli.commands import OPTIONS_PANEL, Param
from vegafs.cli.dupes_text import group_paragraphs, totals_line
from vegafs.cli.output import (
    exit_if_unreadable,
    report_errors,
    to_stdout,
    write,
    write_json_rows,
    write_shown,
)

JSON_ROWS_HELP = "Rows as JSON lines (NDJSON), as `vegafs jobs results` gives them."


class Presenter:
    """Shows rows as they come and the summary at the end; its class lists its output options."""

    params: ClassVar[list[Param]] = []
    # The exit codes in the command's help; None: the generic ones.
    exit_codes: ClassVar[str | None] = None
    # Where an operation that formats its own text in the core writes it (RunContext.lines).
    core_lines: ops.LineSink | None = None

    def __init__(self, op: ops.Operation, values: dict[str, Any]) -> None:
        self.op = op
        self.as_json = bool(values.get("o_json"))

    def check(self, *, submit: bool, wait: bool) -> None:
        """Refuse output options that do not go together (exit 2)."""

    @property
    def progress_line(self) -> bool:
        """Whether a progress line may be drawn on stderr (not over rows on the same terminal)."""
        return True

    def rows(self, batch: ops.Rows) -> None:
        raise NotImplementedError

    def finish(self, summary: dict[str, Any]) -> None:
        raise NotImplementedError


class RowLines(Presenter):
    """A line per row as it arrives: the operation's text of it, or its JSON with ``--json``;
    at the end, the errors on stderr."""

    params: ClassVar[list[Param]] = [
        Param("o_json", Annotated[bool, typer.Option("--json", help=JSON_ROWS_HELP,
              rich_help_panel=OPTIONS_PANEL)], False),
    ]  # fmt: skip

    @property
    def progress_line(self) -> bool:
        return not sys.stdout.isatty()

    def rows(self, batch: ops.Rows) -> None:
        text = self.op.text
        if self.as_json or text is None:
            write_json_rows(batch)
        else:
            write_shown(text(row) for row in batch)

    def finish(self, summary: dict[str, Any]) -> None:
        report_errors(summary)


class AnalyzeReport(Presenter):
    """The analysis at the end: a report, one JSON object (``--json``) or CSV (``--csv``)."""

    params: ClassVar[list[Param]] = [
        Param("o_json", Annotated[bool, typer.Option("--json", help="One JSON object (schema: "
              "docs/cli.md).", rich_help_panel=OPTIONS_PANEL)], False),
        Param("o_csv", Annotated[bool, typer.Option("--csv", help="The tables as CSV: "
              "table,key,files,bytes.", rich_help_panel=OPTIONS_PANEL)], False),
    ]  # fmt: skip

    def __init__(self, op: ops.Operation, values: dict[str, Any]) -> None:
        super().__init__(op, values)
        self.as_csv = bool(values.get("o_csv"))
        self.errors: ops.Rows = []

    def check(self, *, submit: bool, wait: bool) -> None:
        if self.as_json and self.as_csv:
            exits.fail("choose one of --json and --csv", exits.USAGE)
        if submit and self.as_csv and not wait:
            exits.fail("--csv with --submit needs --wait", exits.USAGE)

    def rows(self, batch: ops.Rows) -> None:
        self.errors.extend(batch)  # at most max_errors

    def finish(self, summary: dict[str, Any]) -> None:
        from pydantic import ValidationError

        from vegafs.engine.analysis import AnalyzeResult

        try:
            result = AnalyzeResult.model_validate({**summary, "errors": self.errors})
        except ValidationError as e:
            exits.fail(f"not an analyze result: {exits.describe(e)}", exits.UNAVAILABLE)
        if self.as_json:
            # ASCII: a name that is not UTF-8 appears as \udcXX (Python's surrogateescape).
            write(json.dumps(result.model_dump(mode="json"), separators=(",", ":")) + "\n")
        elif self.as_csv:
            from vegafs.cli.report import write_csv

            # Paths are written as the bytes they are, like find and fd do.
            sys.stdout.reconfigure(errors="surrogateescape")  # type: ignore[union-attr]
            with to_stdout():
                write_csv(result, sys.stdout)
        else:
            from vegafs.cli.report import print_report  # rich: loaded only for the report

            with to_stdout():
                print_report(result)
        exit_if_unreadable(result.error_count)


class DupeGroups(RowLines):
    """``dupes``: a paragraph per group and the totals (``vegafs.cli.dupes_text``); ``--json``:
    a JSON line per group, as ``RowLines`` writes it."""

    def rows(self, batch: ops.Rows) -> None:
        if self.as_json:
            super().rows(batch)
        elif batch:
            write(group_paragraphs(batch))

    def finish(self, summary: dict[str, Any]) -> None:
        if not self.as_json:
            s = summary
            write(totals_line(s["duplicate_groups"], s["duplicate_files"], s["reclaimable_bytes"]))
        super().finish(summary)


# Operation -> "module:class" of its presenter (imported when used); the others get RowLines.
PRESENTERS = {
    "analyze": "vegafs.cli.present:AnalyzeReport",
    "copy": "vegafs.cli.plan_text:CopyPlanLines",
    "dupes": "vegafs.cli.present:DupeGroups",
    "hash": "vegafs.cli.manifest:ManifestLines",
    "move": "vegafs.cli.plan_text:MovePlanLines",
    "rename": "vegafs.cli.plan_text:PlanLines",
    "replace": "vegafs.cli.replace_text:ReplacePlan",
    "search": "vegafs.cli.search_output:SearchLines",
    "undo": "vegafs.cli.plan_text:UndoLines",
    "verify": "vegafs.cli.verify_output:VerifyLines",
    "validate": "vegafs.cli.validate_output:ValidateLines",
}


def presenter_for(op: ops.Operation) -> type[Presenter]:
    target = PRESENTERS.get(op.name)
    # A plugin's operation (an object of vegafs.ops.plugins, loaded when it was made).
    plugins = sys.modules.get("vegafs.ops.plugins")
    if target is None and plugins is not None and isinstance(op, plugins.PluginOperation):
        target = "vegafs.cli.plugins:PluginLines"
    if target is None:
        return RowLines
    module, _, name = target.partition(":")
    found: type[Presenter] = getattr(importlib.import_module(module), name)
    return found

"""``vegafs analyze``: statistics of directory trees."""

import json
import sys
from typing import Annotated

import typer
from pydantic import ValidationError

from vegafs import ops
from vegafs.cli import exits
from vegafs.cli.progress import ProgressLine
from vegafs.cli.selection_options import (
    Exclude,
    Follow,
    Hidden,
    IgnoreFiles,
    Include,
    MaxDepth,
    MaxSize,
    MinSize,
    Newer,
    Older,
    OneFileSystem,
    Paths,
    Regex,
    Types,
    build_selection,
)
from vegafs.cli.values import parse_time, show_path
from vegafs.engine.analyze import AnalyzeResult
from vegafs.errors import SelectionError
from vegafs.ops.analyze import AnalyzeSpec


def analyze(
    paths: Paths,
    top: Annotated[
        int, typer.Option("--top", "-n", min=0, help="Largest files and directories listed.")
    ] = 10,
    as_json: Annotated[
        bool, typer.Option("--json", help="One JSON object (schema: docs/cli.md).")
    ] = False,
    as_csv: Annotated[
        bool, typer.Option("--csv", help="The tables as CSV: table,key,files,bytes.")
    ] = False,
    now: Annotated[
        str | None,
        typer.Option(
            "--now",
            help="Reference time of the age histogram (ISO time or @seconds; default: now).",
        ),
    ] = None,
    max_errors: Annotated[
        int, typer.Option("--max-errors", min=0, help="Errors listed (all are counted).")
    ] = 1000,
    include: Include = None,
    exclude: Exclude = None,
    regex: Regex = None,
    types: Types = None,
    min_size: MinSize = None,
    max_size: MaxSize = None,
    newer: Newer = None,
    older: Older = None,
    hidden: Hidden = True,
    ignore_files: IgnoreFiles = False,
    max_depth: MaxDepth = None,
    one_file_system: OneFileSystem = False,
    follow: Follow = False,
) -> None:
    """Sizes, counts, kinds, ages, owners, largest files and directories, and errors.

    Exit code 0: done; 1: done, with entries that could not be read (listed); 2: bad usage or a
    root that cannot be read; 130: interrupted.
    """
    if as_json and as_csv:
        raise typer.BadParameter("choose one of --json and --csv", param_hint="--json")
    try:
        reference = parse_time(now) if now is not None else None
    except ValueError as e:
        raise typer.BadParameter(str(e), param_hint="--now") from None
    try:
        selection = build_selection(
            paths, include, exclude, regex, types, min_size, max_size, newer, older, hidden,
            ignore_files, max_depth, one_file_system, follow,
            now=reference.timestamp() if reference else None,
        )  # fmt: skip
        spec = AnalyzeSpec(selection=selection, top=top, max_errors=max_errors, now=reference)
    except ValidationError as e:
        exits.fail(exits.describe(e), exits.USAGE)
    ctx = ops.RunContext()
    try:
        with ProgressLine(ctx.progress):
            result = ops.run("analyze", spec, ctx)
    except KeyboardInterrupt:
        exits.fail("interrupted", exits.INTERRUPTED)
    except OSError as e:
        where = show_path(str(e.filename)) if e.filename is not None else "?"
        exits.fail(f"{where}: {e.strerror or e}", exits.USAGE)
    except SelectionError as e:
        exits.fail(str(e), exits.USAGE)
    assert isinstance(result, AnalyzeResult)
    _print(result, as_json, as_csv)
    if result.error_count:
        n = result.error_count
        print(
            f"vegafs: {n:,} {'entry' if n == 1 else 'entries'} could not be read", file=sys.stderr
        )
        raise typer.Exit(exits.ERRORS_LISTED)


def _print(result: AnalyzeResult, as_json: bool, as_csv: bool) -> None:
    # The report's modules (rich) load only when used: --json starts faster without them.
    from vegafs.cli.report import print_report, write_csv

    if as_json:
        # ASCII output: a name that is not UTF-8 appears as \udcXX (Python's surrogateescape).
        json.dump(result.model_dump(mode="json"), sys.stdout, separators=(",", ":"))
        sys.stdout.write("\n")
    elif as_csv:
        # Paths are written as the bytes they are, like find and fd do.
        sys.stdout.reconfigure(errors="surrogateescape")  # type: ignore[union-attr]
        write_csv(result, sys.stdout)
    else:
        print_report(result)

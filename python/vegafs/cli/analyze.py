"""``vegafs analyze``: statistics of directory trees."""

import json
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer
from pydantic import ValidationError

from vegafs import ops
from vegafs.cli import exits
from vegafs.cli.client import DEFAULT_SERVER, PANEL, UNAVAILABLE, ApiKey, Server
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

if TYPE_CHECKING:
    from vegafs.cli.client import Client


Top = Annotated[
    int, typer.Option("--top", "-n", min=0, help="Largest files and directories listed.")
]
Now = Annotated[
    str | None,
    typer.Option(
        "--now", help="Reference time of the age histogram (ISO time or @seconds; default: now)."
    ),
]
MaxErrors = Annotated[
    int, typer.Option("--max-errors", min=0, help="Errors listed (all are counted).")
]
Submit = Annotated[
    bool,
    typer.Option("--submit", help="Run it as a job on the server instead of here; prints the "
                 "job's id and URL (docs/cli.md: Jobs on a server).", rich_help_panel=PANEL),
]  # fmt: skip
Wait = Annotated[
    bool,
    typer.Option("--wait", help="With --submit: watch the job, then print its result as a local "
                 "run would (exit 3: cancelled, 4: server unreachable).", rich_help_panel=PANEL),
]  # fmt: skip


def analyze(
    paths: Paths,
    top: Top = 10,
    as_json: Annotated[
        bool, typer.Option("--json", help="One JSON object (schema: docs/cli.md).")
    ] = False,
    as_csv: Annotated[
        bool, typer.Option("--csv", help="The tables as CSV: table,key,files,bytes.")
    ] = False,
    now: Now = None,
    max_errors: MaxErrors = 1000,
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
    submit: Submit = False,
    wait: Wait = False,
    server: Server = DEFAULT_SERVER,
    api_key: ApiKey = None,
) -> None:
    """Sizes, counts, kinds, ages, owners, largest files and directories, and errors.

    Exit code 0: done; 1: done, with entries that could not be read (listed); 2: bad usage or a
    root that cannot be read; 130: interrupted. With --submit, see docs/cli.md for 3 and 4.
    """
    if as_json and as_csv:
        raise typer.BadParameter("choose one of --json and --csv", param_hint="--json")
    if wait and not submit:
        raise typer.BadParameter("--wait needs --submit", param_hint="--wait")
    if submit and as_csv and not wait:
        raise typer.BadParameter("--csv with --submit needs --wait", param_hint="--csv")
    if submit:
        paths = [p.absolute() for p in paths]  # as the server must see them
    spec = build_spec(
        paths, top, now, max_errors, include, exclude, regex, types, min_size, max_size, newer,
        older, hidden, ignore_files, max_depth, one_file_system, follow,
    )  # fmt: skip
    if submit:
        _submit(spec, server, api_key, wait, as_json, as_csv)
        return
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
    _finish(result, as_json, as_csv)


def build_spec(
    paths: list[Path],
    top: int,
    now: str | None,
    max_errors: int,
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
) -> AnalyzeSpec:
    """The AnalyzeSpec the options describe (`vegafs analyze` and `vegafs jobs submit analyze`);
    exit 2 naming the option otherwise."""
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
        return AnalyzeSpec(selection=selection, top=top, max_errors=max_errors, now=reference)
    except ValidationError as e:
        exits.fail(exits.describe(e), exits.USAGE)


def _submit(
    spec: AnalyzeSpec, server: str, api_key: str | None, wait: bool, as_json: bool, as_csv: bool
) -> None:
    """--submit: the job on the server; with --wait, its result printed as a local run's."""
    from vegafs.cli.jobs import result_rows, run_remote

    def on_success(client: "Client", job: dict[str, Any]) -> None:
        rows = result_rows(client, job["id"]) if job["result_rows"] else []
        try:
            result = AnalyzeResult.model_validate({**job["summary"], "errors": rows})
        except ValidationError as e:
            exits.fail(f"the server sent no analyze result: {exits.describe(e)}", UNAVAILABLE)
        _finish(result, as_json, as_csv)

    run_remote(
        "analyze",
        spec.model_dump(mode="json"),
        server=server,
        api_key=api_key,
        wait=wait,
        as_json=as_json,
        on_success=on_success,
    )


def _finish(result: AnalyzeResult, as_json: bool, as_csv: bool) -> None:
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

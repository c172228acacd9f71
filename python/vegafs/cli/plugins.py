"""Plugins on the command line: ``vegafs run --plugin MODULE:FUNCTION PATH...``, and how every
plugin's outcome is shown (its rows, then its errors with their tracebacks).

``run --plugin`` is the one way to run a function that no package registered, and it runs only
here: a server runs the plugins installed on it, by their names (``vegafs NAME --submit``), and
never a ``module:function`` from a request. The ``run`` command itself (``vegafs.cli.run``) also
runs pipeline documents: with ``--plugin`` every argument is a PATH, without it the first is
the document.
"""

import json
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Annotated, Any

import typer
from pydantic import BaseModel, ValidationError

from vegafs.cli import exits
from vegafs.cli.commands import (
    OPTIONS_PANEL,
    Param,
    build_params,
    operation_params,
    paths_param,
    require_paths,
    selection_params,
)
from vegafs.cli.present import RowLines
from vegafs.cli.values import show_path
from vegafs.ops.plugins import PluginOperation, PluginParams, PluginSummary, plugin_operation

RUN_EXIT_CODES = (
    "Exit code 0: done; 1: done, with files or batches the plugin could not handle (listed on "
    "stderr); 2: bad usage, a MODULE:FUNCTION that cannot be imported, or a root that cannot be "
    "read; 130: interrupted."
)


class PluginLines(RowLines):
    """A plugin's rows as they come (its text form, or JSON); at the end its errors on stderr:
    ``vegafs: PATH: message``, a failed batch's traceback under it; exit 1 if there were any."""

    def finish(self, summary: dict[str, Any]) -> None:
        for error in summary.get("errors") or ():
            print(f"vegafs: {show_path(error['path'])}: {_described(error)}", file=sys.stderr)
            if error.get("traceback"):
                sys.stderr.write(_indented(error["traceback"]))
        count = int(summary.get("error_count") or 0)
        if count:
            failed = int(summary.get("failed_files") or 0)
            also = f" ({failed:,} {_files(failed)} in failed batches)" if failed else ""
            print(f"vegafs: {count:,} {'error' if count == 1 else 'errors'}{also}", file=sys.stderr)
            raise SystemExit(exits.ERRORS_LISTED)


def _described(error: dict[str, Any]) -> str:
    files = len(error.get("files") or ())
    if error["kind"] in ("exception", "timeout", "crashed", "bad-row"):
        return f"{error['error']} (a batch of {files:,} {_files(files)}, none with rows)"
    return str(error["error"])


def _files(n: int) -> str:
    return "file" if n == 1 else "files"


def _indented(text: str) -> str:
    return "".join(f"    {line}\n" for line in text.rstrip("\n").splitlines())


# ---- vegafs run --plugin MODULE:FUNCTION PATH... -------------------------------------------------

# Stands for any plugin while the command line is read: the options every plugin takes.
TEMPLATE = PluginOperation(
    name="run",
    summary="Run a Python function on batches of the selected files, in worker processes.",
    params=PluginParams,
    result=PluginSummary,
    row=None,
    run=lambda spec, ctx: PluginSummary.model_validate(spec),  # never run
)


def run_params() -> list[Param]:
    plugin = typer.Option(
        "--plugin",
        metavar="MODULE:FUNCTION",
        show_default=False,
        help="The function to run, as Python imports it; the current directory is searched "
        "first, as `python -m` does (docs/plugins.md).",
    )
    own = typer.Option(
        "--param",
        metavar="NAME=VALUE",
        show_default=False,
        rich_help_panel=OPTIONS_PANEL,
        help="A parameter the plugin declares (@plugin(params=...)); VALUE is read as JSON, "
        "else as text. Repeatable.",
    )
    return [
        Param("r_plugin", Annotated[str | None, plugin], None, flag="--plugin"),
        paths_param(),
        *operation_params(TEMPLATE),
        Param("r_param", Annotated[list[str] | None, own], None, flag="--param"),
        *RowLines.params,
        *selection_params(TEMPLATE),
    ]


def run_plugin(ctx: typer.Context, params: list[Param], values: dict[str, Any]) -> None:
    """``vegafs run --plugin MODULE:FUNCTION PATH...`` (``params``: ``run_params()`` and the
    command's others): import it, run it here, show its rows and errors."""
    target = values["r_plugin"]
    require_paths(ctx, values["paths"])
    op = plugin_operation("run", target, import_plugin(target))
    spec = with_own_params(op, build_params(TEMPLATE, params, values), values["r_param"])
    from vegafs.cli.operations import run_here

    run_here(op, spec, PluginLines(op, values))


def import_plugin(target: str) -> Callable[..., Any]:
    """The function ``target`` names, imported as its worker processes will; exit 2 saying
    why not."""
    from vegafs.plugins._child import load

    module = target.partition(":")[0]
    here = str(Path.cwd())
    if here not in sys.path:
        sys.path.insert(0, here)  # as `python -m` does; the worker processes get this path too
    try:
        return load(target)
    except ModuleNotFoundError as e:
        if e.name is not None and module.startswith(e.name):
            exits.fail(f"--plugin {target}: no module named {e.name!r}", exits.USAGE)
        exits.fail(f"--plugin {target}: importing {module} failed: {e}", exits.USAGE)
    except AttributeError:
        exits.fail(f"--plugin {target}: {module} has no {target.partition(':')[2]!r}", exits.USAGE)
    except (ValueError, TypeError) as e:
        exits.fail(f"invalid --plugin: {e}", exits.USAGE)
    except Exception as e:
        exits.fail(f"--plugin {target}: importing {module} failed: {e!r}", exits.USAGE)


def with_own_params(op: PluginOperation, spec: BaseModel, given: list[str] | None) -> BaseModel:
    """``spec`` with the plugin's own params (``--param NAME=VALUE``) beside the common ones."""
    own = op.info.params
    if not given:
        return spec if own is None else op.params.model_validate(spec.model_dump())
    if own is None:
        exits.fail(f"--param: {op.target} declares no parameters", exits.USAGE)
    values: dict[str, Any] = {}
    for text in given:
        name, eq, value = text.partition("=")
        if not eq or name not in own.model_fields:
            known = ", ".join(own.model_fields) or "none"
            exits.fail(f"invalid --param {text!r}: expected NAME=VALUE, NAME one of: {known}",
                       exits.USAGE)  # fmt: skip
        try:
            values[name] = json.loads(value)
        except ValueError:
            values[name] = value
    try:
        return op.params.model_validate({**spec.model_dump(), **values})
    except ValidationError as e:
        first = e.errors()[0]
        where = ".".join(str(x) for x in first["loc"])
        exits.fail(f"invalid --param {where}: {first['msg']}", exits.USAGE)

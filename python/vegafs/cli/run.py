"""``vegafs run FILE [PATH...]``: run a pipeline document (YAML or JSON) here, or as a job with
``--submit``. The document holds the ``pipeline`` operation's params: a ``selection`` and its
``steps``; PATH arguments, when given, replace the selection's roots.

``vegafs run --plugin MODULE:FUNCTION PATH...``: run a Python function on batches of files,
here only (``vegafs.cli.plugins``). With ``--plugin`` every argument is a PATH."""

from pathlib import Path
from typing import Annotated, Any

import typer
from pydantic import ValidationError

from vegafs import ops
from vegafs.cli import exits
from vegafs.cli.commands import Param, item_place, make_command, server_params
from vegafs.cli.present import RowLines

DOC = """Run a pipeline document (steps over one walk), or a Python function on batches of files.

vegafs run FILE [PATH...]: FILE is YAML or JSON, {selection: {roots: [...], include: [...]},
steps: [{match: ERROR}, {hash: {algo: sha256}}]}; PATH arguments replace its roots; --submit
runs it as a job (docs/cli.md: run).

vegafs run --plugin MODULE:FUNCTION PATH...: the function on batches of the selected files, in
worker processes, here only (docs/plugins.md); the Options and Selection panels apply to it.

Exit code 0: done; 1: done, with files (or a plugin's batches) that could not be handled
(listed); 2: bad usage, a bad document (its place named), a plugin that cannot be imported, or a
root that cannot be read; 130: interrupted."""


def _params() -> list[Param]:
    from vegafs.cli.plugins import run_params

    mine = run_params()
    for i, p in enumerate(mine):
        if p.key == "paths":  # FILE first, unless --plugin: then every argument is a PATH
            argument = typer.Argument(help="FILE [PATH]..., or with --plugin PATH...",
                                      metavar="FILE|PATH", show_default=False)  # fmt: skip
            mine[i] = Param("paths", Annotated[list[Path] | None, argument], None, p.field,
                            flag="PATH")  # fmt: skip
    return [*mine, *server_params(submit_flags=True)]


PARAMS = _params()
# What only --plugin takes: its own options and the Selection's.
PLUGIN_ONLY = [p for p in PARAMS if p.key.startswith(("p_", "s_")) or p.key == "r_param"]


def read_document(path: Path) -> Any:
    """The document's data; exit 2 naming the file (and the line of a syntax error)."""
    import yaml

    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as e:
        exits.fail(f"{path}: cannot read the pipeline: {getattr(e, 'strerror', None) or e}",
                   exits.USAGE)  # fmt: skip
    try:
        data = yaml.safe_load(text)  # JSON is YAML too
    except yaml.YAMLError as e:
        mark = getattr(e, "problem_mark", None)
        where = f"line {mark.line + 1}, column {mark.column + 1}: " if mark else ""
        problem = getattr(e, "problem", None) or str(e)
        exits.fail(f"{path}: {where}not YAML or JSON: {problem}", exits.USAGE)
    if not isinstance(data, dict):
        exits.fail(f"{path}: a pipeline is a mapping with selection and steps", exits.USAGE)
    return data


def pipeline_params(path: Path, data: dict[str, Any], paths: list[Path]) -> Any:
    """The pipeline's params from its document; exit 2 naming the place of the first error."""
    op = ops.get("pipeline")
    if paths:
        selection = data.get("selection")
        data["selection"] = {**(selection if isinstance(selection, dict) else {}),
                             "roots": [str(p) for p in paths]}  # fmt: skip
    try:
        return op.params.model_validate(data)
    except ValidationError as e:
        first = e.errors()[0]
        loc = first["loc"]
        place = ".".join(str(x) for x in loc[:1])
        below = item_place(loc[1:])
        where = place + (f", {below}" if below else "")
        exits.fail(f"{path}: {where}: {first['msg']}", exits.USAGE)


def _body(ctx: typer.Context, values: dict[str, Any]) -> None:
    from vegafs.cli.operations import refuse_for_jobs, run_here

    submit, wait = values["j_submit"], values["j_wait"]
    if wait and not submit:
        exits.fail("--wait needs --submit", exits.USAGE)
    if values["j_fresh"] and not submit:
        exits.fail("--fresh needs --submit", exits.USAGE)
    if values["r_plugin"] is not None:
        if submit:
            exits.fail("--plugin runs here only: a server runs the plugins installed on it, by "
                       "name (vegafs NAME --submit)", exits.USAGE)  # fmt: skip
        from vegafs.cli.plugins import run_plugin

        run_plugin(ctx, PARAMS, values)
        return
    given = [p.flag or p.key for p in PLUGIN_ONLY if values.get(p.key) not in (None, p.default)]
    if given:
        exits.fail(f"{given[0]} applies to --plugin; a pipeline document holds its selection "
                   "and steps", exits.USAGE)  # fmt: skip
    op = ops.get("pipeline")
    arguments: list[Path] = values["paths"] or []
    if not arguments:
        exits.fail("missing FILE: the pipeline document (or --plugin MODULE:FUNCTION)",
                   exits.USAGE)  # fmt: skip
    path, paths = arguments[0], arguments[1:]
    data = read_document(path)
    spec = pipeline_params(path, data, paths)
    presenter = RowLines(op, values)
    if not submit:
        run_here(op, spec, presenter)
        return
    refuse_for_jobs(spec)
    from vegafs.cli.jobs import run_remote

    params = spec.model_dump(mode="json")
    # The server resolves paths as it sees them: send them absolute.
    params["selection"]["roots"] = [str(Path(r).absolute()) for r in params["selection"]["roots"]]
    run_remote(
        op.name,
        params,
        server=values["j_server"],
        api_key=values["j_api_key"],
        wait=wait,
        fresh=values["j_fresh"],
        presenter=presenter,
    )


run = make_command(PARAMS, DOC, _body)

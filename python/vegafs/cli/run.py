"""``vegafs run FILE [PATH...]``: run a pipeline document (YAML or JSON) here, or as a job with
``--submit``. The document holds the ``pipeline`` operation's params: a ``selection`` and its
``steps``; PATH arguments, when given, replace the selection's roots."""

from pathlib import Path
from typing import Annotated, Any

import typer
from pydantic import ValidationError

from vegafs import ops
from vegafs.cli import exits
from vegafs.cli.commands import Param, item_place, make_command, server_params
from vegafs.cli.present import RowLines

DOC = """Run a pipeline document: a Selection and its steps, in one walk (docs/cli.md: run).

FILE is YAML or JSON: {selection: {roots: [...], include: [...], ...}, steps: [{match: ERROR},
{hash: {algo: sha256}}]}. PATH arguments replace the document's roots.

Exit code 0: done; 1: done, with files that could not be read (listed); 2: a bad document
(its place named) or a root that cannot be read; 130: interrupted."""


def _params() -> list[Param]:
    file = typer.Argument(help="The pipeline document (YAML or JSON).", metavar="FILE",
                          show_default=False)  # fmt: skip
    paths = typer.Argument(help="Directories or files to walk instead of the document's roots.",
                           metavar="[PATH]...", show_default=False)  # fmt: skip
    return [
        Param("a_file", Annotated[Path, file], ...),
        Param("paths", Annotated[list[Path] | None, paths], None),
        *RowLines.params,
        *server_params(submit_flags=True),
    ]


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

    op = ops.get("pipeline")
    submit, wait = values["j_submit"], values["j_wait"]
    if wait and not submit:
        exits.fail("--wait needs --submit", exits.USAGE)
    if values["j_fresh"] and not submit:
        exits.fail("--fresh needs --submit", exits.USAGE)
    path: Path = values["a_file"]
    data = read_document(path)
    paths: list[Path] = values["paths"] or []
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


run = make_command(_params(), DOC, _body)

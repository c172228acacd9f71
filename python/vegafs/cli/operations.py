"""The commands of the operations, made from their declarations: ``vegafs OP PATH...`` (here, or
as a job with ``--submit``) and ``vegafs jobs submit OP PATH...``."""

from collections.abc import Callable
from pathlib import Path
from typing import Any

import typer
from pydantic import BaseModel

from vegafs import ops
from vegafs.cli import exits
from vegafs.cli.commands import (
    Param,
    build_params,
    flag_for,
    job_params,
    make_command,
    operation_params,
    paths_param,
    positional_param,
    require_paths,
    selection_params,
    server_params,
    take_last_path,
    take_positional,
    walks,
)
from vegafs.cli.present import Presenter, presenter_for
from vegafs.ops.registry import can_split

EXIT_CODES = (
    "Exit code 0: done; 1: done, with entries that could not be read (listed); 2: bad usage or "
    "a root that cannot be read; 130: interrupted. With --submit, see docs/cli.md for 3 and 4."
)


def local_params(op: ops.Operation) -> list[Param]:
    """The arguments and options of ``vegafs OP``."""
    return [
        *positional_param(op),
        *walk_params(op, paths_param()),
        *operation_params(op),
        *presenter_for(op).params,
        *walk_params(op, *selection_params(op)),
        *server_params(submit_flags=True, shards=can_split(op.name)),
    ]


def walk_params(op: ops.Operation, *params: Param) -> list[Param]:
    """``params`` (PATH, the Selection's options) for an operation that walks; none else."""
    return list(params) if walks(op) else []


def absolute_paths(op: ops.Operation, values: dict[str, Any]) -> None:
    """Relative paths made absolute, as the server must see them: the PATHs, or the path
    fields of an operation that walks nothing (given or default: verify's base ``.``)."""
    if walks(op):
        values["paths"] = [p.absolute() for p in values["paths"]]
        if op.last_path is not None and values.get(f"p_{op.last_path}") is not None:
            values[f"p_{op.last_path}"] = str(Path(values[f"p_{op.last_path}"]).absolute())
        return
    for name, info in op.params.model_fields.items():
        if info.annotation is Path:
            given = values.get(f"p_{name}")
            values[f"p_{name}"] = str(Path(given if given is not None else info.default).absolute())


def local_command(op: ops.Operation) -> Callable[..., None]:
    """``vegafs OP PATH... [options]``."""
    presenter_class = presenter_for(op)
    params = local_params(op)

    def body(ctx: typer.Context, values: dict[str, Any]) -> None:
        take_positional(ctx, op, values)
        take_last_path(ctx, op, values)
        if walks(op):
            require_paths(ctx, values["paths"])
        submit, wait = values["j_submit"], values["j_wait"]
        if wait and not submit:
            exits.fail("--wait needs --submit", exits.USAGE)
        if values["j_fresh"] and not submit:
            exits.fail("--fresh needs --submit", exits.USAGE)
        if values.get("j_shards") is not None and not submit:
            exits.fail("--shards needs --submit", exits.USAGE)
        presenter = presenter_class(op, values)
        presenter.check(submit=submit, wait=wait)
        if submit:
            absolute_paths(op, values)
        spec = build_params(op, params, values)
        if not submit:
            run_here(op, spec, presenter)
            return
        refuse_for_jobs(spec)
        from vegafs.cli.jobs import run_remote

        run_remote(
            op.name,
            spec.model_dump(mode="json"),
            server=values["j_server"],
            api_key=values["j_api_key"],
            wait=wait,
            fresh=values["j_fresh"],
            presenter=presenter,
            shards=values.get("j_shards"),
        )

    exit_codes = presenter_class.exit_codes or EXIT_CODES
    return make_command(params, f"{op.summary}\n\n{exit_codes}", body)


def submit_command(op: ops.Operation) -> Callable[..., None]:
    """``vegafs jobs submit OP PATH... [options]``: the local command's options, as a job."""
    params = [
        *positional_param(op),
        *walk_params(op, paths_param()),
        *operation_params(op),
        *walk_params(op, *selection_params(op)),
        *job_params(shards=can_split(op.name)),
        *server_params(submit_flags=False),
    ]

    def body(ctx: typer.Context, values: dict[str, Any]) -> None:
        take_positional(ctx, op, values)
        take_last_path(ctx, op, values)
        if walks(op):
            require_paths(ctx, values["paths"])
        absolute_paths(op, values)
        spec = build_params(op, params, values)
        refuse_for_jobs(spec)
        from vegafs.cli.jobs import submit_and_report

        submit_and_report(
            op.name,
            spec.model_dump(mode="json"),
            server=values["j_server"],
            api_key=values["j_api_key"],
            priority=values["j_priority"],
            max_attempts=values["j_max_attempts"],
            fresh=values["j_fresh"],
            shards=values.get("j_shards"),
            idempotency_key=values["j_idempotency_key"],
            wait=values["j_wait"],
            as_json=values["j_json"],
            quiet=values["j_quiet"],
        )

    what = "PATH..." if walks(op) else (op.positional or "").upper()
    doc = (
        f"`vegafs {op.name} {what}` as a job: the same options. Relative paths are made "
        "absolute here; the server must see them, inside its VEGAFS_ROOTS."
    )
    return make_command(params, doc, body)


def refuse_for_jobs(spec: BaseModel) -> None:
    """What no server accepts, said in the user's terms before anything is sent."""
    selection = getattr(spec, "selection", None)
    if selection is not None and selection.follow_symlinks:
        exits.fail(
            f"{flag_for('selection.follow_symlinks')}: a job cannot follow symlinks "
            "(a link could lead out of the server's roots)",
            exits.USAGE,
        )


def run_here(op: ops.Operation, spec: BaseModel, presenter: Presenter) -> None:
    """Run the operation in this process: rows to the presenter as they come, then the summary."""
    from vegafs.cli.progress import ProgressLine

    ctx = ops.RunContext(rows=presenter.rows, lines=presenter.core_lines)
    with exits.local_run_errors(), ProgressLine(ctx.progress, enabled=presenter.progress_line):
        summary = op.run(spec, ctx)
    presenter.finish(summary.model_dump(mode="json"))


def command_for(name: str, make: Callable[[ops.Operation], Callable[..., None]]) -> Any:
    """The click command of operation ``name`` (None: no such operation)."""
    try:
        op = ops.get(name)
    except KeyError:
        return None
    app = typer.Typer(add_completion=False, pretty_exceptions_enable=False)
    app.command(name=name, no_args_is_help=True, help=None)(make(op))
    return typer.main.get_command(app)

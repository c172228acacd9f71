"""``vegafs recover`` and ``vegafs ops list|show``: the journal of the writing operations."""

from collections.abc import Callable
from functools import wraps
from typing import Annotated, ParamSpec

import typer

from vegafs.cli import exits
from vegafs.journal import open_journal

P = ParamSpec("P")

ops_app = typer.Typer(
    help="The writing operations in the journal (rename --apply...).",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)


def _reported(command: Callable[P, None]) -> Callable[P, None]:
    """``command``, run so that what it meets is said as the command line says it
    (``local_run_errors``): a setting that is not valid, a database that cannot be reached,
    exit 2 with one line."""

    @wraps(command)
    def run(*args: P.args, **kwargs: P.kwargs) -> None:
        with exits.local_run_errors():
            command(*args, **kwargs)

    return run


@_reported
def recover() -> None:
    """Finish what an interrupted writing operation left: roll it back (or, if every step had
    been done, mark it committed). Safe to run any time, and twice. Exit 1 if a rollback could
    not finish (the message says why; nothing was overwritten)."""
    from vegafs.journal.runner import recover as run_recovery

    outcomes = run_recovery(open_journal())
    if not outcomes:
        typer.echo("vegafs: nothing to recover", err=True)
        return
    failed = False
    for o in outcomes:
        typer.echo(f"operation {o.op_id}: {o.state.replace('_', ' ')}")
        failed = failed or o.state == "failed"
    if failed:
        raise SystemExit(exits.ERRORS_LISTED)


@ops_app.command("forget")
@_reported
def forget_op(op_id: Annotated[int, typer.Argument(help="The operation's id.")]) -> None:
    """Delete an operation's backups (the files replace kept to roll back and undo, the files
    rename and move --on-conflict overwrite set aside), and mark it forgotten: it can no longer be
    undone. Refused (exit 2) for an unknown operation, or one
    still to recover. Backups are kept until this is run (no automatic retention)."""
    from vegafs.journal.backups import ForgetError, forget

    try:
        deleted = forget(open_journal(), op_id)
    except ForgetError as e:
        exits.fail(str(e), exits.USAGE)
    typer.echo(f"vegafs: operation {op_id} forgotten: {deleted:,} backups deleted", err=True)


@ops_app.command("list")
@_reported
def list_ops(
    limit: Annotated[int, typer.Option("--limit", min=1, help="The newest N.")] = 20,
) -> None:
    """The newest writing operations, newest first, tab-separated: id, state, operation, steps
    done/total, created (UTC, e.g. 2026-12-02T01:40:05Z)."""

    for op in open_journal().all(limit):
        created = op.created_at.strftime("%Y-%m-%dT%H:%M:%SZ")
        typer.echo(
            f"{op.id}\t{op.state}\t{op.operation}\t{op.steps_done}/{op.steps_total}\t{created}"
        )


@ops_app.command("show")
@_reported
def show_op(op_id: Annotated[int, typer.Argument(help="The operation's id.")]) -> None:
    """One operation: its state, params, error, and its steps (from -> to; mkdir DIR, rmdir
    DIR; a file replace rewrote: PATH: new content (backup B)), in order."""
    from vegafs.cli.values import show_path

    journal = open_journal()
    op = journal.get(op_id)
    if op is None:
        exits.fail(f"no writing operation {op_id}", exits.USAGE)
    typer.echo(f"operation {op.id}: {op.operation}, {op.state.replace('_', ' ')}, "
               f"{op.steps_done}/{op.steps_total} steps")  # fmt: skip
    if op.error:
        typer.echo(f"error: {op.error}")
    for step in journal.steps(op_id):
        if step.kind in ("mkdir", "rmdir"):  # a directory made, or removed if empty
            typer.echo(f"{step.kind} {show_path(step.dst)}")
        elif step.kind == "replace":  # a file's new content; its backup, while kept
            typer.echo(
                f"{show_path(step.src)}: new content (backup {show_path(step.backup or '')})"
            )
        else:
            typer.echo(f"{show_path(step.src)} -> {show_path(step.dst)}")

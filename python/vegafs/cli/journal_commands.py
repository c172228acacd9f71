"""``vegafs recover`` and ``vegafs ops list|show``: the journal of the writing operations."""

from typing import Annotated

import typer

from vegafs.cli import exits

ops_app = typer.Typer(
    help="The writing operations in the journal (rename --apply...).",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)


def recover() -> None:
    """Finish what an interrupted writing operation left: roll it back (or, if every step had
    been done, mark it committed). Safe to run any time, and twice. Exit 1 if a rollback could
    not finish (the message says why; nothing was overwritten)."""
    from vegafs.journal import open_journal
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


def undo(
    op_id: Annotated[int, typer.Argument(help="The operation's id (vegafs ops list).")],
    apply: Annotated[
        bool, typer.Option("--apply", help="Undo it; without this, the plan is shown only.")
    ] = False,
) -> None:
    """Undo a committed writing operation: each entry it moved goes back, if it is still where
    the operation left it (others are refused with the reason and stay); each copy it made is
    removed if unchanged since, then the directories it made if empty. Shows the plan;
    --apply runs it, journaled, all or nothing. Exit 1 if entries were refused or it could not
    be applied; 2 if the operation cannot be undone (not committed, or undone already)."""
    from vegafs.cli.output import write_shown
    from vegafs.journal import open_journal
    from vegafs.journal.runner import recover as run_recovery
    from vegafs.journal.undo import UndoError, apply_undo, plan_undo

    journal = open_journal()
    run_recovery(journal)
    try:
        plan = plan_undo(journal, op_id)
    except UndoError as e:
        exits.fail(str(e), exits.USAGE)
    if plan.operation == "copy":
        from vegafs.ops.copy import undo_text

        write_shown(undo_text(row) for row in plan.rows)
        what = f"{sum(row['action'] == 'remove' for row in plan.rows):,} to remove"
    else:
        from vegafs.ops.rename import text

        write_shown(_undo_text(row) if row["from"] == row["to"] else text(row) for row in plan.rows)
        write_shown(f"rmdir {d} (if empty)" for d in plan.rmdirs)
        moves = sum(row["action"] == "move" for row in plan.rows)
        restores = sum(row["action"] == "restore" for row in plan.rows)
        what = f"{restores:,} to restore" if plan.sources else f"{moves:,} to move back"
    summary = f"vegafs: undo of operation {op_id}: {what}, {plan.refused:,} refused"
    if not apply:
        typer.echo(f"{summary}; nothing was changed (--apply to undo).", err=True)
    else:
        with exits.local_run_errors():
            applied = apply_undo(journal, plan)
        typer.echo(f"{summary}; applied as operation {applied.op_id}.", err=True)
    if plan.refused:
        raise SystemExit(exits.ERRORS_LISTED)


def _undo_text(row: dict[str, object]) -> str:
    """A file an undo writes back: ``PATH: restore`` or ``PATH: refused, REASON``."""
    from vegafs.cli.values import show_path

    path = show_path(str(row["from"]))
    if row["action"] == "refused":
        return f"{path}: refused, {row['reason']}"
    return f"{path}: {row['action']} its content from before the operation"


@ops_app.command("forget")
def forget_op(op_id: Annotated[int, typer.Argument(help="The operation's id.")]) -> None:
    """Delete an operation's backups (the files replace kept to roll back and undo, the files
    rename and move --on-conflict overwrite set aside), and mark it forgotten: it can no longer be
    undone. Refused (exit 2) for an unknown operation, or one
    still to recover. Backups are kept until this is run (no automatic retention)."""
    from vegafs.journal import open_journal
    from vegafs.journal.backups import ForgetError, forget

    try:
        deleted = forget(open_journal(), op_id)
    except ForgetError as e:
        exits.fail(str(e), exits.USAGE)
    typer.echo(f"vegafs: operation {op_id} forgotten: {deleted:,} backups deleted", err=True)


@ops_app.command("list")
def list_ops(
    limit: Annotated[int, typer.Option("--limit", min=1, help="The newest N.")] = 20,
) -> None:
    """The newest writing operations: id, state, operation, steps done/total, created (UTC)."""
    from vegafs.journal import open_journal

    for op in open_journal().all(limit):
        typer.echo(f"{op.id}\t{op.state}\t{op.operation}\t{op.steps_done}/{op.steps_total}")


@ops_app.command("show")
def show_op(op_id: Annotated[int, typer.Argument(help="The operation's id.")]) -> None:
    """One operation: its state, params, error, and its steps (from -> to; mkdir DIR, rmdir
    DIR; a file replace rewrote: PATH: new content (backup B)), in order."""
    from vegafs.cli.values import show_path
    from vegafs.journal import open_journal

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

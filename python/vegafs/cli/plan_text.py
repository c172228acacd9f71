"""How a writing operation's plan is shown: a line per entry as it will be changed (``from ->
to``, refusals with their reason), then on stderr what the plan would do and that nothing was
changed (or, with ``--apply``, the journal's operation). Exit 1 when the plan is refused (a
conflict with ``--on-conflict fail``): then nothing is applied."""

import sys
from typing import Any, ClassVar

from vegafs.cli import exits
from vegafs.cli.output import report_errors
from vegafs.cli.present import RowLines


class PlanLines(RowLines):
    verb: ClassVar[str] = "rename"  # "N to rename" in the summary line
    exit_codes: ClassVar[str | None] = (
        "Exit code 0: the plan is shown and may be applied; 1: refused renames (with "
        "--on-conflict fail), or entries that could not be read (listed); 2: bad usage, a bad "
        "regex or template (its position named), or a root that cannot be read; 130: "
        "interrupted. Without --apply nothing on disk changes."
    )

    def finish(self, summary: dict[str, Any]) -> None:
        s = summary
        verdict = "may be applied" if s["ok"] else "refused: see the reasons above"
        skipped = ", left where they are" if s["ok"] and s["refused"] else ""
        op = s.get("applied_op")
        outcome = (
            f"applied as operation {op} (vegafs ops show {op})."
            if op is not None
            else f"{verdict}. Nothing was changed."
        )
        # Plans that create directories (move) count them.
        mkdirs = f", {s['mkdirs']:,} directories to create" if s.get("mkdirs") else ""
        if s.get("across"):  # move: entries copied to another file system, then removed
            mkdirs += f", {s['across']:,} across file systems"
        print(
            f"vegafs: plan: {s['moves']:,} to {self.verb}{mkdirs}, {s['unchanged']:,} unchanged, "
            f"{s['refused']:,} refused{skipped} ({s['steps']:,} steps); {outcome}",
            file=sys.stderr,
        )
        report_errors(summary)
        if not s["ok"]:
            raise SystemExit(exits.ERRORS_LISTED)


class MovePlanLines(PlanLines):
    """``move``: ``mkdir DIR`` lines for the directories to create, then the entries' lines."""

    verb: ClassVar[str] = "move"
    exit_codes: ClassVar[str | None] = (
        "Exit code 0: the plan is shown and may be applied; 1: refused moves (with "
        "--on-conflict fail: a conflict, a bad path, a path through a file, another file "
        "system), or entries that could not be read (listed); 2: bad usage, a bad regex or "
        "template (its position named), or a root that cannot be read; 130: interrupted. "
        "Without --apply nothing on disk changes."
    )


class CopyPlanLines(RowLines):
    """``vegafs copy``'s plan: the directories to create, a line per file (``from -> to``,
    ``(already copied)``, refusals with their reason), then on stderr the totals."""

    exit_codes: ClassVar[str | None] = (
        "Exit code 0: the plan is shown and may be applied (or, with --apply, was applied); "
        "1: refused copies (with --on-conflict fail), entries that could not be read (listed), "
        "or an apply that failed and was rolled back (the message says why); 2: bad usage, a "
        "bad template (its position named), or a root that cannot be read; 130: interrupted. "
        "Without --apply nothing on disk changes."
    )

    def finish(self, summary: dict[str, Any]) -> None:
        s = summary
        verdict = "may be applied" if s["ok"] else "refused: see the reasons above"
        skipped = ", left out" if s["ok"] and s["refused"] else ""
        op = s.get("applied_op")
        outcome = (
            f"applied as operation {op} (vegafs ops show {op})."
            if op is not None
            else f"{verdict}. Nothing was changed."
        )
        print(
            f"vegafs: plan: {s['copies']:,} to copy ({s['bytes']:,} bytes), {s['already']:,} "
            f"already copied, {s['refused']:,} refused{skipped}, {s['dirs']:,} directories to "
            f"create; {outcome}",
            file=sys.stderr,
        )
        report_errors(summary)
        if not s["ok"]:
            raise SystemExit(exits.ERRORS_LISTED)


class UndoLines(RowLines):
    """``vegafs undo``: a line per entry (moved back, restored, removed, refused with its
    reason), then on stderr what the undo does and that nothing was changed (or, with
    ``--apply``, the journal's operation)."""

    exit_codes: ClassVar[str | None] = (
        "Exit code 0: the undo is shown (or, with --apply, applied) with nothing refused; 1: "
        "entries refused (changed since the operation: listed, left as they are; when all are, "
        "--apply changes nothing and the operation stays committed), or an apply that failed "
        "and was rolled back; 2: the operation cannot be undone (unknown, not "
        "committed, undone already, or forgotten); 130: interrupted. Without --apply nothing on "
        "disk changes."
    )

    def finish(self, summary: dict[str, Any]) -> None:
        s = summary
        if s["operation"] == "copy":
            what = f"{s['removes']:,} to remove"
        elif s["restores"] or s["operation"] == "replace":
            what = f"{s['restores']:,} to restore"
        else:
            what = f"{s['moves']:,} to move back"
        op = s.get("applied_op")
        if op is not None:
            outcome = f"applied as operation {op}."
        elif not s.get("ok", True):
            outcome = (
                f"every entry refused, nothing to undo: nothing was changed and operation "
                f"{s['undo_of']} stays committed."
            )
        else:
            outcome = "nothing was changed (--apply to undo)."
        print(
            f"vegafs: undo of operation {s['undo_of']}: {what}, {s['refused']:,} refused; "
            f"{outcome}",
            file=sys.stderr,
        )
        report_errors(summary)
        if s["refused"]:
            raise SystemExit(exits.ERRORS_LISTED)

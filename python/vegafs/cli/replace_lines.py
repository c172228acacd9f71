"""The text of ``vegafs replace``: a planned file as the plan shows it, and the summary line.
Without typer or pydantic: the command's presenter (``replace_text``) and its quick path
(``quick``) print with these."""

from collections.abc import Mapping
from typing import Any

from vegafs.cli.values import show_path


def plan_text(row: Mapping[str, Any]) -> bytes:
    """A planned file (the core's row) as the plan's text: its diff, or ``PATH: refused,
    REASON``."""
    if row["action"] == "refused":
        return f"{show_path(row['path'])}: refused, {row['reason']}\n".encode()
    diff: bytes = row["diff"]
    return diff


def summary_line(s: dict[str, Any]) -> str:
    """What the plan holds, and that nothing was changed or the journal's operation."""
    op = s.get("applied_op")
    outcome = (
        f"applied as operation {op} (vegafs ops show {op}; vegafs undo {op})."
        if op is not None
        else "nothing was changed."
    )
    refused = f", {s['refused']:,} refused (left as they are)" if s["refused"] else ""
    return (
        f"vegafs: plan: {s['files_scanned']:,} files scanned, {s['files_changed']:,} to "
        f"change ({s['replacements']:,} replacements){refused}; {outcome}"
    )

"""How ``vegafs replace`` shows its plan: a unified diff per file to change (``--- a/PATH``,
``+++ b/PATH``, 3 lines of context; the bytes as they are in the file) and ``PATH: refused,
REASON`` for a file left as it is, then on stderr what the plan holds and that nothing was
changed (or, with ``--apply``, the journal's operation)."""

import sys
from typing import Any, ClassVar

from vegafs import ops
from vegafs.cli.output import report_errors, write_bytes, write_json_rows, write_shown
from vegafs.cli.present import RowLines
from vegafs.cli.replace_lines import summary_line


class ReplacePlan(RowLines):
    exit_codes: ClassVar[str | None] = (
        "Exit code 0: the plan is shown (and applied with --apply); 1: files that could not be "
        "read (listed; the others are planned), or the plan could not be applied (rolled "
        "back: every file as it was); 2: bad usage, a bad pattern, or a root that cannot be "
        "read; 130: interrupted. Without --apply nothing on disk changes."
    )

    def __init__(self, op: ops.Operation, values: dict[str, Any]) -> None:
        super().__init__(op, values)
        if not self.as_json:
            self.core_lines = write_bytes

    def rows(self, batch: ops.Rows) -> None:
        text = self.op.text
        if self.as_json or text is None:
            write_json_rows(batch)
        else:
            write_shown(text(row) for row in batch)

    def finish(self, summary: dict[str, Any]) -> None:
        print(summary_line(summary), file=sys.stderr)
        report_errors(summary)

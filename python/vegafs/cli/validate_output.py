"""How ``vegafs validate`` shows its outcome, locally or from a job (``--submit --wait``): a
line per failure (``vegafs.cli.validate_text``), or its JSON with ``--json``; the files that
could not be read on stderr; exit 0, 1 (a file failed) or 2 (an error).
"""

from typing import Any, ClassVar

import typer

from vegafs import ops
from vegafs.cli.output import write_json_rows
from vegafs.cli.present import RowLines
from vegafs.cli.validate_text import finish, write_lines


class ValidateLines(RowLines):
    exit_codes: ClassVar[str | None] = (
        "Exit code 0: every file validated passed; 1: a file failed; 2: an error (bad usage, a "
        "schema that cannot be read or compiled, a root or a file that could not be read; the "
        "failures found are still printed, the errors go to stderr); 130: interrupted."
    )

    def rows(self, batch: ops.Rows) -> None:
        if self.as_json:
            write_json_rows(batch)
        else:
            write_lines(batch)

    def finish(self, summary: dict[str, Any]) -> None:
        code = finish(summary, as_json=self.as_json)
        if code:
            raise typer.Exit(code)

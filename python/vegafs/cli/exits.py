"""Exit codes scripts can rely on, as ripgrep and fd use them, and the one way to fail."""

import sys
from typing import TYPE_CHECKING, NoReturn

import typer

if TYPE_CHECKING:
    from pydantic import ValidationError

OK = 0
ERRORS_LISTED = 1  # done, but some entries could not be read (listed)
USAGE = 2  # bad usage, bad filter, or a root that cannot be looked at (message names it)
INTERRUPTED = 130  # Ctrl-C
# Commands that talk to a server; `jobs watch` and `--wait` exit with the job's outcome.
JOB_FAILED = 1  # the job failed (`analyze --submit --wait`: or listed unreadable entries)
JOB_CANCELLED = 3  # the job was cancelled
UNAVAILABLE = 4  # the server cannot be reached, timed out, or failed (5xx)


def fail(message: str, code: int) -> NoReturn:
    """``vegafs: error: MESSAGE`` on stderr, then exit with ``code``."""
    print(f"vegafs: error: {message}", file=sys.stderr)
    raise typer.Exit(code)


def describe(error: "ValidationError") -> str:
    """The first problem of a spec that does not validate, naming its field."""
    first = error.errors()[0]
    field = ".".join(str(part) for part in first["loc"]) or "value"
    return f"invalid {field}: {first['msg']}"

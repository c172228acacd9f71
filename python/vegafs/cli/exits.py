"""Exit codes scripts can rely on, as ripgrep and fd use them, and the one way to fail."""

import sys
from typing import NoReturn

import typer
from pydantic import ValidationError

OK = 0
ERRORS_LISTED = 1  # done, but some entries could not be read (listed)
USAGE = 2  # bad usage, bad filter, or a root that cannot be looked at (message names it)
INTERRUPTED = 130  # Ctrl-C


def fail(message: str, code: int) -> NoReturn:
    """``vegafs: error: MESSAGE`` on stderr, then exit with ``code``."""
    print(f"vegafs: error: {message}", file=sys.stderr)
    raise typer.Exit(code)


def describe(error: ValidationError) -> str:
    """The first problem of a spec that does not validate, naming its field."""
    first = error.errors()[0]
    field = ".".join(str(part) for part in first["loc"]) or "value"
    return f"invalid {field}: {first['msg']}"

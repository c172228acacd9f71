"""Writing to stdout as a Unix tool does, and the exit that says entries could not be read.

Plain Python (no typer, no pydantic): the presenters and the quick path (``vegafs.cli.quick``)
share it.
"""

import json
import os
import signal
import sys
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from typing import Any, NoReturn

from vegafs.cli import exits
from vegafs.cli.values import show_path


@contextmanager
def to_stdout() -> Iterator[None]:
    """Output to stdout, flushed at the end; a reader that went away (``| head``) ends the
    process as a closed pipe ends any Unix tool: quietly, by SIGPIPE."""
    try:
        yield
        sys.stdout.flush()
    except BrokenPipeError:
        closed_pipe()


def write(text: str) -> None:
    with to_stdout():
        sys.stdout.write(text)


def write_json_rows(batch: list[dict[str, Any]]) -> None:
    """Rows as JSON lines (NDJSON), as ``vegafs jobs results`` gives them."""
    if batch:
        write("\n".join(json.dumps(row, separators=(",", ":")) for row in batch) + "\n")


def write_shown(texts: Iterable[str]) -> None:
    """A line per text, shown as ``show_path`` shows names (never raw to a terminal)."""
    lines = [show_path(text) for text in texts]
    if lines:
        write("\n".join(lines) + "\n")


def write_bytes(data: bytes) -> None:
    """Bytes as they are (names that are not UTF-8 included), after any text written before."""
    with to_stdout():
        sys.stdout.flush()
        sys.stdout.buffer.write(data)


def closed_pipe() -> NoReturn:
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, sys.stdout.fileno())  # nothing more reaches the closed pipe
    signal.signal(signal.SIGPIPE, signal.SIG_DFL)
    os.kill(os.getpid(), signal.SIGPIPE)
    raise SystemExit(128 + signal.SIGPIPE)  # not reached


def report_errors(summary: dict[str, Any]) -> None:
    """The listed errors on stderr (``vegafs: PATH: reason``), then exit 1 if any entry could not
    be read; nothing when none."""
    print_errors(summary.get("errors") or ())
    exit_if_unreadable(int(summary.get("error_count") or 0))


def print_errors(errors: Iterable[dict[str, Any]]) -> None:
    """``vegafs: PATH: reason`` on stderr for each listed error."""
    for error in errors:
        print(f"vegafs: {show_path(error['path'])}: {error['error']}", file=sys.stderr)


def exit_if_unreadable(n: int) -> None:
    """``vegafs: N entries could not be read`` on stderr and exit 1, when N > 0."""
    if n:
        print(
            f"vegafs: {n:,} {'entry' if n == 1 else 'entries'} could not be read", file=sys.stderr
        )
        raise SystemExit(exits.ERRORS_LISTED)

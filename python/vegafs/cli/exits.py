"""Exit codes scripts can rely on, as ripgrep and fd use them, and the one way to fail.

No typer here: the quick path (``vegafs.cli.quick``) exits through it too."""

import sys
from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, NoReturn

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
    raise SystemExit(code)


def describe(error: "ValidationError") -> str:
    """The first problem of a spec that does not validate, naming its field."""
    first = error.errors()[0]
    field = ".".join(str(part) for part in first["loc"]) or "value"
    return f"invalid {field}: {first['msg']}"


@contextmanager
def local_run_errors() -> Iterator[None]:
    """What a run in this process raises, said as the command line says it: Ctrl-C exits 130; a
    root that cannot be looked at, or a bad filter, exits 2 naming the path or the option."""
    from vegafs.cli.selection_options import in_cli_terms, selection_flag
    from vegafs.cli.values import show_path
    from vegafs.errors import (
        ApplyError,
        DatabaseUnavailable,
        ManifestError,
        ParamsError,
        PatternError,
        PluginLoadError,
        SchemaError,
        SelectionError,
        SettingsError,
        TemplateError,
    )

    try:
        yield
    except KeyboardInterrupt:
        fail("interrupted", INTERRUPTED)
    except OSError as e:  # the core's errors name their path in the message
        where = f"{show_path(str(e.filename))}: " if e.filename is not None else ""
        fail(f"{where}{e.strerror or e}", USAGE)
    except ManifestError as e:  # verify's manifest: a line that is not a checksum line
        where = f"line {e.line}: " if e.line else ""
        fail(f"{show_path(e.path)}: {where}{e.message}", USAGE)
    except PatternError as e:  # search's pattern: does not compile, or over a limit
        fail(f"invalid pattern: {e}", USAGE)
    except TemplateError as e:  # a writing operation's --to
        fail(f"invalid --to: {e}", USAGE)
    except ApplyError as e:  # a writing operation's apply stopped
        if e.rolled_back:
            fail(f"not applied: {e}; every change was rolled back", ERRORS_LISTED)
        fail(f"not applied: {e}; run `vegafs recover` to finish rolling back", ERRORS_LISTED)
    except SchemaError as e:  # validate's --schema: cannot be read, not JSON, not a schema
        fail(f"{show_path(e.path)}: {e.message}", USAGE)
    except SelectionError as e:
        option = selection_flag(e.field) or f"selection.{e.field}"
        fail(f"invalid {option}: {in_cli_terms(e.message)}", USAGE)
    except SettingsError as e:  # a VEGAFS_* variable (the journal's database...)
        fail(str(e), USAGE)
    except DatabaseUnavailable as e:  # the journal's database, as `vegafs serve` says it
        fail(f"database unavailable: {e}", USAGE)
    except ParamsError as e:  # params that cannot be run (undo: an operation not undoable)
        fail(e.message, USAGE)
    except PluginLoadError as e:  # a plugin its worker processes could not import
        print(e.details.rstrip("\n"), file=sys.stderr)
        fail(str(e), USAGE)

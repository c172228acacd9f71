"""Exceptions of VegaFS.

I/O failures are the standard library's own classes (FileNotFoundError, PermissionError, ...,
with ``filename`` set); everything else VegaFS raises is a ``VegaFSError``.
"""


class VegaFSError(Exception):
    """Base of the errors VegaFS raises that are not plain OSErrors."""


class DatabaseUnavailable(Exception):
    """The database cannot be reached (down, restarting, connection lost)."""


class SelectionError(VegaFSError, ValueError):
    """A Selection field that cannot be used (bad glob, bad regex, empty range...)."""

    def __init__(self, message: str, field: str) -> None:
        super().__init__(f"invalid {field}: {message}")
        self.field = field
        self.message = message


class PathNotAllowed(VegaFSError, ValueError):
    """A path outside the allowed roots, or reached through a symlink where none may be."""

    def __init__(self, path: str, reason: str) -> None:
        super().__init__(f"{path}: {reason}")
        self.path = path
        self.reason = reason


class PathPermissionDenied(PathNotAllowed):
    """A path inside the allowed roots that the service is not permitted to look at."""

    def __init__(self, path: str) -> None:
        super().__init__(path, "permission denied (the service may not look at it)")


class Cancelled(VegaFSError):
    """The call was stopped through its CancelToken."""


class AlreadyApplied(VegaFSError):
    """A writing job whose earlier attempt had committed its operation before the job was lost
    (its worker died between the two): it is not applied a second time."""

    def __init__(self, op_id: int) -> None:
        super().__init__(
            f"an earlier attempt of this job applied it (operation {op_id}, committed); "
            "not applied again"
        )


class PatternError(VegaFSError, ValueError):
    """A search pattern that does not compile: bad syntax, or over the regex size or nesting
    limit. Raised before anything is read."""


class TemplateError(VegaFSError, ValueError):
    """A name template (``--to``) that does not parse, or names a capture group its regex does
    not have; the message names the position. Raised before anything is read."""


class SettingsError(VegaFSError, ValueError):
    """A ``VEGAFS_*`` variable whose value is not a valid setting (``variable`` names it)."""

    def __init__(self, variable: str, message: str) -> None:
        super().__init__(f"invalid {variable}: {message}")
        self.variable = variable
        self.message = message


class ParamsError(VegaFSError, ValueError):
    """Params that are valid alone but cannot be run here (``field``: the params field)."""

    def __init__(self, message: str, field: str) -> None:
        super().__init__(message)
        self.message = message
        self.field = field


class PluginLoadError(VegaFSError):
    """A plugin that a worker process could not import (or that died or hung on start):
    ``details`` holds what the process said (its traceback)."""

    def __init__(self, target: str, details: str) -> None:
        lines = details.strip().splitlines()
        super().__init__(
            f"{target}: cannot be loaded in a worker process: {lines[-1] if lines else '?'}"
        )
        self.target = target
        self.details = details


class ManifestError(VegaFSError, ValueError):
    """A checksum manifest (``verify``) with a line that is not a checksum line: its path, the
    line's number (from 1; 0: the manifest has no checksum line) and why. Raised before any
    file is read."""

    def __init__(self, path: str, line: int, message: str) -> None:
        super().__init__(f"{path}: {f'line {line}: ' if line else ''}{message}")
        self.path = path
        self.line = line
        self.message = message


class SchemaError(VegaFSError, ValueError):
    """A JSON Schema file (``validate --schema``) that is not JSON or not a valid schema. Raised
    before anything is read; ``path`` names the file, ``message`` says what is wrong with it."""

    def __init__(self, path: str, message: str) -> None:
        super().__init__(f"{path}: {message}")
        self.path = path
        self.message = message


class ApplyError(VegaFSError):
    """A writing operation's step failed or its run was cancelled: the steps done were rolled
    back (``rolled_back``), or, if the rollback stopped too, are left for ``vegafs recover``.
    Here, not in ``vegafs.journal``, so that catching it does not import the database layer
    (the command line's quick path)."""

    def __init__(self, message: str, *, rolled_back: bool) -> None:
        super().__init__(message)
        self.rolled_back = rolled_back

"""What a failed attempt means: its error record, whether to retry, and when."""

import random
from typing import Any

from pydantic import ValidationError

from vegafs.db import DatabaseUnavailable
from vegafs.errors import (
    ApplyError,
    Cancelled,
    ManifestError,
    PathNotAllowed,
    PathPermissionDenied,
    SelectionError,
    VegaFSError,
)

# Failures that the same attempt would meet again: retrying cannot help.
PERMANENT: tuple[type[BaseException], ...] = (
    VegaFSError,
    ValidationError,
    ValueError,
    TypeError,
    KeyError,
    FileNotFoundError,
    NotADirectoryError,
    IsADirectoryError,
    PermissionError,
)


def is_transient(error: BaseException) -> bool:
    return isinstance(error, DatabaseUnavailable) or not isinstance(error, PERMANENT)


def describe(error: BaseException) -> dict[str, Any]:
    """The error as the job records it: a stable ``type``, a message, the path when known."""
    record: dict[str, Any] = {"type": _type(error), "message": str(error) or type(error).__name__}
    if isinstance(error, OSError) and error.filename is not None:
        record["path"] = str(error.filename)
        record["message"] = error.strerror or record["message"]
    if isinstance(error, SelectionError):
        record["field"] = error.field
    if isinstance(error, PathNotAllowed):
        record["path"] = error.path
    if isinstance(error, ApplyError):  # a writing operation: whether its changes were undone
        record["rolled_back"] = error.rolled_back
    if isinstance(error, ManifestError):
        record["path"], record["line"] = error.path, error.line
    return record


def _type(error: BaseException) -> str:
    match error:
        case Cancelled():
            return "cancelled"
        case SelectionError():
            return "invalid-selection"
        case ManifestError():
            return "invalid-manifest"
        case PathPermissionDenied():
            return "permission-denied"
        case PathNotAllowed():
            return "path-not-allowed"
        case ValidationError():
            return "invalid-params"
        case FileNotFoundError():
            return "not-found"
        case NotADirectoryError():
            return "not-a-directory"
        case PermissionError():
            return "permission-denied"
        case DatabaseUnavailable():
            return "database-unavailable"
        case OSError():
            return "io-error"
        case _:
            return "internal-error"


def backoff_s(attempt: int, base_s: float, max_s: float) -> float:
    """Delay before attempt ``attempt + 1``: base * 2^(attempt-1), capped, plus 0-10% jitter."""
    delay = min(max_s, base_s * 2.0 ** max(0, attempt - 1))
    return delay * (1 + random.random() / 10)

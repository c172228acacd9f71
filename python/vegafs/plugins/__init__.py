"""Python plugins: a function that takes a batch of files and returns or yields result rows.

>>> from vegafs.plugins import File
>>> def sizes(files: list[File]) -> list[dict[str, object]]:
...     return [{"path": f.path, "kib": f.size // 1024} for f in files]

Registered through the entry-point group ``vegafs.operations`` it is an operation like the
built-in ones (``vegafs sizes PATH...``, a job type); ``vegafs run --plugin module:sizes PATH...``
runs it from the command line without registering it. The walk feeds it batches of files in a
pool of worker processes; docs/plugins.md has the whole contract.

This module is what plugin authors import, and what every worker process imports: it loads
nothing heavy (no pydantic).
"""

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, NamedTuple, TypeVar

__all__ = ["PLUGIN_ATTRIBUTE", "File", "FileError", "PluginInfo", "plugin"]


class File(NamedTuple):
    """One entry of a batch: a row of ``vegafs list`` (``lstat``'s view of it). ``path`` is the
    root as given joined with the names below it; a name that is not UTF-8 comes as surrogate
    escapes (``os.fsencode(path)`` gives its bytes back, and ``open(path)`` opens it)."""

    path: str
    type: str  # "file" unless the selection asks for others (--type): dir, symlink, other
    size: int  # st_size in bytes; a symlink's own size
    mtime: int  # seconds since the epoch


class FileError(NamedTuple):
    """Returned or yielded among the rows: this file could not be handled (unreadable, gone...).
    It is counted and listed with the run's errors, not sent as a row; the batch goes on."""

    path: str
    error: str


@dataclass(frozen=True)
class PluginInfo:
    """What ``@plugin(...)`` declares about a function; every field optional.

    - ``summary``: the one line of ``vegafs --help`` and ``GET /api/v1/operations`` (default:
      the first line of the function's docstring).
    - ``row``: a pydantic model of one row; the worker processes validate each row with it (and
      it is the operation's row schema). Default: free-form JSON objects.
    - ``params``: a pydantic model of the plugin's own parameters (options of its command, fields
      of its job's params); the function is then called as ``function(files, params)``.
    - ``text``: a row as one line of text, ``str.format`` fields (``"{lines} {path}"``) or a
      function of the row; default: the row's JSON.
    """

    summary: str | None = None
    row: Any = None  # type[pydantic.BaseModel] | None: no pydantic import here
    params: Any = None  # type[pydantic.BaseModel] | None
    text: str | Callable[[dict[str, Any]], str] | None = None


PLUGIN_ATTRIBUTE = "__vegafs_plugin__"

F = TypeVar("F", bound=Callable[..., Any])


def plugin(
    *,
    summary: str | None = None,
    row: Any = None,
    params: Any = None,
    text: str | Callable[[dict[str, Any]], str] | None = None,
) -> Callable[[F], F]:
    """Declares a plugin's summary, row model, parameters or text form (see ``PluginInfo``). The
    function itself is returned unchanged: it stays importable as ``module:function``."""
    info = PluginInfo(summary=summary, row=row, params=params, text=text)

    def declare(function: F) -> F:
        setattr(function, PLUGIN_ATTRIBUTE, info)
        return function

    return declare


def info_of(function: Callable[..., Any]) -> PluginInfo:
    """What ``@plugin`` declared about ``function``, or the defaults."""
    found = getattr(function, PLUGIN_ATTRIBUTE, None)
    return found if isinstance(found, PluginInfo) else PluginInfo()

# Stubs of the Rust extension; `make test` checks them against the built module (mypy.stubtest).
from types import TracebackType
from typing import Any, Final, final

__all__ = [
    "CancelToken",
    "Progress",
    "RowStream",
    "__version__",
    "analyze",
    "check_selection",
    "list_entries",
]

__version__: Final[str]

@final
class CancelToken:
    def __new__(cls) -> CancelToken: ...
    def cancel(self) -> None: ...
    @property
    def cancelled(self) -> bool: ...

@final
class Progress:
    def __new__(cls) -> Progress: ...
    def snapshot(self) -> tuple[int, int, int, int]: ...

def analyze(
    selection: dict[str, Any],
    *,
    top: int,
    max_errors: int,
    now: int,
    progress: Progress | None = None,
    cancel: CancelToken | None = None,
) -> dict[str, Any]: ...
def check_selection(selection: dict[str, Any]) -> None: ...

@final
class RowStream:
    """Batches of rows from a call running on its own thread. Iterating yields lists of at
    most ``batch_size`` row dicts; the call's error (FileNotFoundError, SelectionError,
    Cancelled...) is raised by ``__next__``. ``close()`` or dropping the stream stops the call."""

    def __iter__(self) -> RowStream: ...
    def __next__(self) -> list[dict[str, Any]]: ...
    def summary(self) -> dict[str, Any]:
        """The summary once every batch is read; RuntimeError before, the call's error if it
        failed."""
    def close(self) -> None: ...
    def __enter__(self) -> RowStream: ...
    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc_value: BaseException | None,
        traceback: TracebackType | None,
    ) -> None: ...

def list_entries(
    selection: dict[str, Any],
    *,
    batch_size: int,
    max_errors: int,
    progress: Progress | None = None,
    cancel: CancelToken | None = None,
) -> RowStream:
    """Rows ``{"path": str, "type": "file"|"dir"|"symlink"|"other", "size": int, "mtime": int}``,
    one per selected entry; summary: the fields of ``vegafs.engine.ListSummary``."""

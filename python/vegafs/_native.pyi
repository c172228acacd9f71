# Stubs of the Rust extension; `make test` checks them against the built module (mypy.stubtest).
from typing import Any, Final, final

__all__ = ["CancelToken", "Progress", "__version__", "analyze", "check_selection"]

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

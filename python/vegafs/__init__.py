"""VegaFS: process, analyse and reorganise huge file trees at native speed.

>>> from vegafs import analyze, Selection
>>> result = analyze(Selection(roots=["/data"], exclude=["*.tmp"]), top=5)
>>> result.files, result.apparent_bytes

The names below load when first used, so that ``import vegafs.cli`` (and the ``vegafs``
command) does not pay for the engine's models before it needs them.
"""

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from vegafs._native import CancelToken, Progress
    from vegafs.engine.analysis import AnalyzeResult, analyze
    from vegafs.engine.selection import Selection
    from vegafs.errors import Cancelled, SelectionError, VegaFSError

_WHERE = {
    "AnalyzeResult": "vegafs.engine.analysis",
    "CancelToken": "vegafs._native",
    "Progress": "vegafs._native",
    "Selection": "vegafs.engine.selection",
    "analyze": "vegafs.engine.analysis",
    "Cancelled": "vegafs.errors",
    "SelectionError": "vegafs.errors",
    "VegaFSError": "vegafs.errors",
}

__all__ = [
    "AnalyzeResult",
    "CancelToken",
    "Cancelled",
    "Progress",
    "Selection",
    "SelectionError",
    "VegaFSError",
    "__version__",
    "analyze",
]


def __getattr__(name: str) -> Any:
    value: Any
    if name == "__version__":
        from vegafs._native import __version__ as value
    elif name in _WHERE:
        value = getattr(importlib.import_module(_WHERE[name]), name)
    else:
        raise AttributeError(f"module 'vegafs' has no attribute {name!r}")
    globals()[name] = value
    return value

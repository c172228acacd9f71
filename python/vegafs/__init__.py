"""VegaFS: process, analyse and reorganise huge file trees at native speed.

    >>> from vegafs import analyze, Selection
    >>> result = analyze(Selection(roots=["/data"], exclude=["*.tmp"]), top=5)
    >>> result.files, result.apparent_bytes
"""

from vegafs.engine import (
    AnalyzeResult,
    CancelToken,
    Progress,
    Selection,
    analyze,
)
from vegafs.errors import Cancelled, SelectionError, VegaFSError

__version__: str
from vegafs.engine import __version__

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

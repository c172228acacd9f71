"""VegaFS: process, analyse and reorganise huge file trees at native speed.

>>> from vegafs import analyze, Selection
>>> result = analyze(Selection(roots=["/data"], exclude=["*.tmp"]), top=5)
>>> result.files, result.apparent_bytes
"""

from vegafs.engine import AnalyzeResult, CancelToken, Progress, Selection, __version__, analyze
from vegafs.errors import Cancelled, SelectionError, VegaFSError

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

"""The typed facade over the Rust core, and the only importer of ``vegafs._native``.

Every call here releases the interpreter while the core runs, so threads analyse in parallel;
Ctrl-C in the main thread stops a call within a fraction of a second (KeyboardInterrupt).
"""

from vegafs._native import CancelToken, Progress, __version__
from vegafs.engine.analyze import AnalyzeResult, analyze
from vegafs.engine.selection import EntryTypeName, Selection

__all__ = [
    "AnalyzeResult",
    "CancelToken",
    "EntryTypeName",
    "Progress",
    "Selection",
    "__version__",
    "analyze",
]

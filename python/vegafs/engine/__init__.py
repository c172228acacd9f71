"""The typed facade over the Rust core, and the only importer of ``vegafs._native``.

Every call here releases the interpreter while the core runs, so threads analyse in parallel;
Ctrl-C in the main thread stops a call within a fraction of a second (KeyboardInterrupt).
"""

from vegafs._native import CancelToken, Progress, RowStream, __version__
from vegafs.engine.analyze import AnalyzeResult, EntryError, analyze
from vegafs.engine.listing import EntryRow, ListSummary, list_entries
from vegafs.engine.selection import EntryTypeName, Selection

__all__ = [
    "AnalyzeResult",
    "CancelToken",
    "EntryError",
    "EntryRow",
    "EntryTypeName",
    "ListSummary",
    "Progress",
    "RowStream",
    "Selection",
    "__version__",
    "analyze",
    "list_entries",
]

"""The typed facade over the Rust core, and the only importer of ``vegafs._native``.

Every call here releases the interpreter while the core runs, so threads analyse in parallel;
Ctrl-C in the main thread stops a call within a fraction of a second (KeyboardInterrupt).

Each name loads its module when first used: ``vegafs list`` does not build analyze's models.
"""

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from vegafs._native import CancelToken, Progress, RowStream, __version__
    from vegafs.engine.analysis import AnalyzeResult, EntryError, analyze
    from vegafs.engine.copying import CopyOptions, CopyRow, CopySummary, plan_copy
    from vegafs.engine.dupes import DupeGroup, DupesSummary, find_dupes
    from vegafs.engine.hashing import HashRow, HashSummary, hash_files
    from vegafs.engine.listing import EntryRow, ListSummary, list_entries
    from vegafs.engine.pipeline import PipelineRow, PipelineSummary, run_pipeline
    from vegafs.engine.renaming import RenameOptions, RenameRow, RenameSummary, plan_rename
    from vegafs.engine.searching import (
        SearchOptions,
        SearchRow,
        SearchSummary,
        check_pattern,
        search,
    )
    from vegafs.engine.selection import EntryTypeName, Selection
    from vegafs.engine.validating import (
        ValidateFormat,
        ValidateRow,
        ValidateSummary,
        check_schema,
        validate_files,
    )
    from vegafs.engine.verifying import VerifyRow, VerifySummary, verify_files

_WHERE = {
    "CancelToken": "vegafs._native",
    "Progress": "vegafs._native",
    "RowStream": "vegafs._native",
    "__version__": "vegafs._native",
    "AnalyzeResult": "vegafs.engine.analysis",
    "EntryError": "vegafs.engine.analysis",
    "analyze": "vegafs.engine.analysis",
    "DupeGroup": "vegafs.engine.dupes",
    "DupesSummary": "vegafs.engine.dupes",
    "find_dupes": "vegafs.engine.dupes",
    "HashRow": "vegafs.engine.hashing",
    "HashSummary": "vegafs.engine.hashing",
    "hash_files": "vegafs.engine.hashing",
    "EntryRow": "vegafs.engine.listing",
    "ListSummary": "vegafs.engine.listing",
    "list_entries": "vegafs.engine.listing",
    "PipelineRow": "vegafs.engine.pipeline",
    "PipelineSummary": "vegafs.engine.pipeline",
    "run_pipeline": "vegafs.engine.pipeline",
    "CopyOptions": "vegafs.engine.copying",
    "CopyRow": "vegafs.engine.copying",
    "CopySummary": "vegafs.engine.copying",
    "plan_copy": "vegafs.engine.copying",
    "RenameOptions": "vegafs.engine.renaming",
    "RenameRow": "vegafs.engine.renaming",
    "RenameSummary": "vegafs.engine.renaming",
    "plan_rename": "vegafs.engine.renaming",
    "SearchOptions": "vegafs.engine.searching",
    "check_pattern": "vegafs.engine.searching",
    "SearchRow": "vegafs.engine.searching",
    "SearchSummary": "vegafs.engine.searching",
    "search": "vegafs.engine.searching",
    "EntryTypeName": "vegafs.engine.selection",
    "Selection": "vegafs.engine.selection",
    "VerifyRow": "vegafs.engine.verifying",
    "VerifySummary": "vegafs.engine.verifying",
    "verify_files": "vegafs.engine.verifying",
    "ValidateFormat": "vegafs.engine.validating",
    "ValidateRow": "vegafs.engine.validating",
    "ValidateSummary": "vegafs.engine.validating",
    "check_schema": "vegafs.engine.validating",
    "validate_files": "vegafs.engine.validating",
}

__all__ = [
    "AnalyzeResult",
    "CancelToken",
    "CopyOptions",
    "CopyRow",
    "CopySummary",
    "DupeGroup",
    "DupesSummary",
    "EntryError",
    "EntryRow",
    "EntryTypeName",
    "HashRow",
    "HashSummary",
    "ListSummary",
    "PipelineRow",
    "PipelineSummary",
    "Progress",
    "RenameOptions",
    "RenameRow",
    "RenameSummary",
    "RowStream",
    "SearchOptions",
    "SearchRow",
    "SearchSummary",
    "Selection",
    "ValidateFormat",
    "ValidateRow",
    "ValidateSummary",
    "VerifyRow",
    "VerifySummary",
    "__version__",
    "analyze",
    "check_pattern",
    "check_schema",
    "find_dupes",
    "hash_files",
    "list_entries",
    "plan_copy",
    "plan_rename",
    "run_pipeline",
    "search",
    "validate_files",
    "verify_files",
]


def __getattr__(name: str) -> Any:
    if name not in _WHERE:
        raise AttributeError(f"module 'vegafs.engine' has no attribute {name!r}")
    value = getattr(importlib.import_module(_WHERE[name]), name)
    globals()[name] = value
    return value

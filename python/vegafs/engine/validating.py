"""validate_files(): is each selected file well-formed in its format (and its JSON valid against
a JSON Schema)? One row per failure, streamed in batches, and a summary (schema 1).

Rows stay plain dicts on the hot path, as the core sends them; ``ValidateRow`` documents (and
in tests validates) their schema.
"""

import os
from collections.abc import Sequence
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict

from vegafs import _native
from vegafs.engine.analysis import EntryError
from vegafs.engine.selection import Selection, as_selection, check_stream_args
from vegafs.engine.summary import CoreSummary

ValidateFormat = Literal[
    "json", "jsonl", "csv", "tsv", "utf8", "xml", "toml", "yaml", "gzip", "zstd"
]


class ValidateRow(BaseModel):
    """One row of ``validate_files``: one failure of one file."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    path: str  # the root as given joined with the names below it; surrogate escapes for non-UTF-8
    format: ValidateFormat  # what failed: a compressed file's content fails as its own format
    line: int | None  # 1-based, where the parser knows it
    column: int | None  # 1-based, in bytes from the start of the line, where known
    message: str


class FormatOutcome(BaseModel):
    model_config = ConfigDict(frozen=True)

    ok: int
    failed: int


class ValidateSummary(CoreSummary):
    """What a finished ``validate_files`` stream did:
    ``ValidateSummary.model_validate(s.summary())``."""

    schema_version: Literal[1] = 1
    roots: list[str]
    files: int  # validated: ok + failed
    ok: int
    failed: int
    skipped: int  # regular files of no known format (not read)
    failures: int  # rows
    bytes: int  # bytes read, of the files as stored
    by_format: dict[str, FormatOutcome]  # the file's own format (gzip for data.json.gz)
    error_count: int
    errors: list[EntryError]  # the first max_errors, in byte-wise path order
    elapsed_s: float


def check_schema(path: str | os.PathLike[str]) -> None:
    """Raises what ``validate_files`` would for this JSON Schema file, before any walk:
    ``FileNotFoundError`` / ``PermissionError`` naming it, or ``vegafs.errors.SchemaError``."""
    _native.check_schema(path)


def validate_files(
    selection: Selection | str | Path | Sequence[str | Path],
    *,
    format: ValidateFormat | None = None,
    header: bool = False,
    schema: str | os.PathLike[str] | None = None,
    batch_size: int = 1024,
    max_errors: int = 1000,
    progress: _native.Progress | None = None,
    cancel: _native.CancelToken | None = None,
    beneath: Sequence[Path] = (),
) -> _native.RowStream:
    """Start validating the selected regular files; returns at once (after compiling
    ``schema``, whose errors are raised here).

    ``format``: every file is taken as this format; by default each file's extension says
    (docs/cli.md#validate), and files of no known format are skipped (counted). ``header``: CSV
    and TSV start with a header of non-empty, unique names. ``schema``: a JSON Schema file
    (draft 2020-12 unless its ``$schema`` says otherwise) every JSON document (each line of
    JSON lines) must match.

    Iterate the stream for batches of row dicts shaped like ``ValidateRow`` (one per failure),
    then call ``summary()`` (``ValidateSummary.model_validate(stream.summary())``). FIFOs,
    sockets and devices are never read. Files that cannot be read are listed in the summary's
    errors. ``beneath``: as for ``analyze``.
    """
    selection = as_selection(selection)
    check_stream_args(batch_size, max_errors)
    return _native.validate_files(
        selection.to_native(beneath=beneath),
        format=format,
        header=header,
        schema=schema,
        batch_size=batch_size,
        max_errors=max_errors,
        progress=progress,
        cancel=cancel,
    )

"""The ``validate`` operation: is each selected file well-formed in its format (JSON, JSON lines,
CSV, TSV, UTF-8 text, XML, TOML, YAML, gzip, zstd), and does its JSON match a JSON Schema? One
row per failure, streamed as the walk finds them; the command line prints them as a compiler
does (``path:line:column: format: message``, ``vegafs.cli.validate_text``).
"""

from collections.abc import Sequence
from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field

from vegafs import engine
from vegafs.engine.validating import ValidateFormat, ValidateRow, ValidateSummary
from vegafs.errors import SchemaError
from vegafs.ops.confine import confine, confine_selection
from vegafs.ops.fields import MaxErrors
from vegafs.ops.registry import Operation, RunContext, drain


class ValidateParams(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    selection: engine.Selection
    format: ValidateFormat | None = Field(
        default=None,
        description="Validate every file as this format (json, jsonl, csv, tsv, utf8, xml, toml, "
        "yaml, gzip, zstd); by default the extension says, and other files are skipped.",
    )
    header: bool = Field(
        False, description="CSV and TSV: the first record is a header of non-empty, unique names."
    )
    schema_file: str | None = Field(
        default=None,
        description="A JSON Schema (draft 2020-12) every JSON document and JSON line must match.",
    )
    max_errors: MaxErrors = 1000


def run_validate(params: ValidateParams, ctx: RunContext) -> ValidateSummary:
    stream = engine.validate_files(
        params.selection,
        format=params.format,
        header=params.header,
        schema=params.schema_file,
        max_errors=params.max_errors,
        progress=ctx.progress,
        cancel=ctx.cancel,
        beneath=ctx.beneath,
    )
    return ValidateSummary.model_validate(drain(stream, ctx))


def check_validate(params: ValidateParams) -> None:
    """The selection, and the schema file: it must be readable and a valid JSON Schema
    (``SchemaError`` naming it otherwise)."""
    params.selection.check()
    if params.schema_file is not None:
        try:
            engine.check_schema(params.schema_file)
        except OSError as e:
            raise SchemaError(params.schema_file, f"cannot be read: {e.strerror or e}") from None


def confine_validate(params: ValidateParams, roots: Sequence[Path]) -> ValidateParams:
    """The selection's roots and the schema file confined to ``roots``, as their real paths."""
    params = confine_selection(params, roots)
    if params.schema_file is None:
        return params
    return params.model_copy(update={"schema_file": str(confine(params.schema_file, roots))})


VALIDATE = Operation(
    name="validate",
    summary="Is each file well-formed JSON, JSON lines, CSV, TSV, UTF-8, XML, TOML, YAML, gzip "
    "or zstd (and does its JSON match a JSON Schema)?",
    params=ValidateParams,
    result=ValidateSummary,
    row=ValidateRow,
    run=run_validate,
    long_flags={"format": "--as", "schema_file": "--schema"},
    confine=confine_validate,
    check=check_validate,
    blocking_checks=True,
)

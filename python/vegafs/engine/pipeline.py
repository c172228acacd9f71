"""run_pipeline(): one walk, every selected regular file through a sequence of built-in steps in
the core, streamed in batches of rows, and its summary (schema 1).

A step is a one-key mapping, as a pipeline document writes it: ``{"match": {...}}`` keeps the
files with a line matching a pattern (``invert``: without one), ``{"hash": {"algo": ...}}`` adds
the file's digest, ``{"validate": {...}}`` checks its format (as ``validate`` does) and adds the
outcome, keeping all files, the valid ones or the invalid ones. A file a filter drops is not
read by the steps after it; the tree is walked once whatever the number of steps.
"""

from collections.abc import Sequence
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Discriminator,
    Field,
    Tag,
    TypeAdapter,
    field_validator,
    model_validator,
)

from vegafs import _native
from vegafs.engine.analysis import EntryError
from vegafs.engine.hashing import Algorithm
from vegafs.engine.plain import summary_fields
from vegafs.engine.searching import SearchOptions
from vegafs.engine.selection import Selection, as_selection, check_stream_args
from vegafs.engine.validating import ValidateFormat


class _Spec(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class MatchSpec(_Spec):
    """What ``match`` looks for; a plain string is one pattern."""

    patterns: list[str] = Field(min_length=1, description="A file passes when a line matches any.")
    fixed_strings: bool = False
    ignore_case: bool = False
    smart_case: bool = False
    word_regexp: bool = False
    line_regexp: bool = False
    multiline: bool = False
    invert: bool = Field(False, description="Keep the files WITHOUT a matching line instead.")

    @model_validator(mode="before")
    @classmethod
    def _one_pattern(cls, data: Any) -> Any:
        return {"patterns": [data]} if isinstance(data, str) else data

    @field_validator("patterns", mode="before")
    @classmethod
    def _pattern_list(cls, value: Any) -> Any:
        return [value] if isinstance(value, str) else value

    def search_options(self) -> SearchOptions:
        fields = self.model_dump(exclude={"invert"})
        return SearchOptions(**fields, mode="files_with_matches")


class HashSpec(_Spec):
    """How ``hash`` digests each file."""

    algo: Algorithm = "blake3"


class ValidateSpec(_Spec):
    """How ``validate`` checks each file (as the ``validate`` operation does) and which files it
    passes on."""

    model_config = ConfigDict(frozen=True, extra="forbid", populate_by_name=True)

    format: ValidateFormat | None = Field(
        None, alias="as", description="Every file as this format; by default its extension's."
    )
    header: bool = False  # CSV and TSV: a header of non-empty, unique names
    schema_file: str | None = Field(None, alias="schema", description="A JSON Schema file.")
    keep: Literal["all", "valid", "invalid"] = Field(
        "all",
        description="all: annotate every file (valid true/false; null when its format is "
        "unknown); valid / invalid: pass on only those (a file of unknown format is dropped).",
    )


class MatchStep(_Spec):
    match: MatchSpec


class HashStep(_Spec):
    hash: HashSpec = HashSpec()


class ValidateStep(_Spec):
    validate_: ValidateSpec = Field(ValidateSpec(), alias="validate")

    model_config = ConfigDict(frozen=True, extra="forbid", populate_by_name=True)


AnyStep = MatchStep | HashStep | ValidateStep
STEP_NAMES = ("match", "hash", "validate")


def _step_name(value: Any) -> str | None:
    if isinstance(value, dict) and len(value) == 1:
        return str(next(iter(value)))
    if isinstance(value, MatchStep | HashStep | ValidateStep):
        return step_name(value)
    return None


def _bare_name(value: Any) -> Any:
    """``- hash`` (a step's name alone) is the step with its defaults; ``hash: null`` too."""
    if isinstance(value, str):
        return {value: {}}
    if isinstance(value, dict) and len(value) == 1:
        name, spec = next(iter(value.items()))
        if spec is None:
            return {name: {}}
    return value


Step = Annotated[
    Annotated[MatchStep, Tag("match")]
    | Annotated[HashStep, Tag("hash")]
    | Annotated[ValidateStep, Tag("validate")],
    Discriminator(
        _step_name,
        custom_error_type="pipeline_step",
        custom_error_message="a step is one of "
        + ", ".join(STEP_NAMES)
        + ', written as a mapping with one key, e.g. {"hash": {"algo": "sha256"}}',
    ),
    BeforeValidator(_bare_name),
]


class PipelineRow(BaseModel):
    """A file that went through every step."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    path: str  # the root as given joined with the names below it; surrogate escapes
    size: int
    digest: str | None  # from a hash step (the last, if several); None without one
    valid: bool | None  # from a validate step; None: none, or a format it does not know
    problem: str | None  # the first failure: "json: line 3, column 7: expected value"


class StepCount(BaseModel):
    model_config = ConfigDict(frozen=True)

    step: str
    files_in: int
    files_out: int


class PipelineSummary(BaseModel):
    """What a finished ``run_pipeline`` stream did: per step, the files in and out."""

    model_config = ConfigDict(frozen=True)

    schema_version: Literal[1] = 1
    roots: list[str]
    files: int  # regular files the walk selected (the first step's files in)
    steps: list[StepCount]
    rows: int  # files that went through every step
    bytes: int  # their bytes
    error_count: int
    errors: list[EntryError]  # the first max_errors, in byte-wise path order
    elapsed_s: float


NATIVE_KEYS = ("options", "invert", "algorithm", "format", "header", "schema", "keep")


def native_steps(steps: Sequence[AnyStep]) -> list[dict[str, Any]]:
    """The steps as ``_native.pipeline`` takes them: every key present."""
    out: list[dict[str, Any]] = []
    for step in steps:
        native: dict[str, Any] = dict.fromkeys(NATIVE_KEYS)
        if isinstance(step, MatchStep):
            options = {**step.match.search_options().model_dump(), "max_errors": 0}
            native.update(step="match", options=options, invert=step.match.invert)
        elif isinstance(step, HashStep):
            native.update(step="hash", algorithm=step.hash.algo)
        else:
            v = step.validate_
            native.update(step="validate", format=v.format, header=v.header,
                          schema=v.schema_file, keep=v.keep)  # fmt: skip
        out.append(native)
    return out


def step_name(step: AnyStep) -> str:
    if isinstance(step, MatchStep):
        return "match"
    return "hash" if isinstance(step, HashStep) else "validate"


def check_steps(steps: Sequence[AnyStep]) -> None:
    """Raises ``PatternError`` (naming the step) if a pattern does not compile, ``SchemaError``
    or ``OSError`` (naming the file) if a schema cannot be read or compiled."""
    _native.check_steps(native_steps(steps))


def summary_of(native: Any, steps: Sequence[AnyStep]) -> PipelineSummary:
    """The summary of a finished stream, its steps named."""
    fields = summary_fields(native, PipelineSummary.model_fields)
    fields["steps"] = [
        StepCount(step=name, files_in=counts[0], files_out=counts[1])
        for name, counts in zip(map(step_name, steps), native.steps, strict=True)
    ]
    return PipelineSummary.model_validate(fields)


def run_pipeline(
    selection: Selection | str | Path | Sequence[str | Path],
    steps: Sequence[AnyStep | dict[str, Any] | str],
    *,
    batch_size: int = 1024,
    max_errors: int = 1000,
    progress: _native.Progress | None = None,
    cancel: _native.CancelToken | None = None,
    beneath: Sequence[Path] = (),
) -> _native.RowStream:
    """Start running the selected regular files through ``steps``; returns at once (a bad
    pattern raises ``PatternError`` here).

    Iterate the stream for batches of row dicts shaped like ``PipelineRow``, then call
    ``summary_of(stream.summary(), steps)``. Errors, closing and ``beneath``: as for
    ``list_entries``.
    """
    selection = as_selection(selection)
    check_stream_args(batch_size, max_errors)
    return _native.pipeline(
        selection.to_native(beneath=beneath),
        native_steps(parse_steps(steps)),
        batch_size=batch_size,
        max_errors=max_errors,
        progress=progress,
        cancel=cancel,
    )


_STEPS: TypeAdapter[list[AnyStep]] = TypeAdapter(list[Step])


def parse_steps(steps: Sequence[Any]) -> list[AnyStep]:
    """Steps as a document writes them (mappings, bare names) or as models, validated."""
    return _STEPS.validate_python(list(steps))

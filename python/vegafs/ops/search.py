"""The ``search`` operation: lines matching a regex (or fixed strings) in the selected regular
files, like ``rg -uuu``, with ripgrep's own crates in the core.

Rows are ``SearchRow`` dicts (jobs, ``--json``, the Python API). A caller that sets
``RunContext.lines`` (the local ``vegafs search``) gets the output lines formatted by the core
instead, as bytes, and no rows: formatting a row in Python costs more than finding it.
"""

from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field, model_validator

from vegafs import engine
from vegafs.engine.searching import SearchOptions, SearchRow, SearchSummary
from vegafs.ops.fields import MaxErrors
from vegafs.ops.registry import Operation, RunContext

Lines = Annotated[int | None, Field(ge=0)]
Flag = bool


class SearchParams(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    selection: engine.Selection
    patterns: list[str] = Field(
        min_length=1,
        description="A pattern; repeat for several (a line matches when any does). With it, "
        "every argument is a PATH.",
    )
    fixed_strings: Flag = Field(False, description="Patterns are literal strings, not regexes.")
    ignore_case: Flag = Field(False, description="Case-insensitive.")
    smart_case: Flag = Field(
        False, description="Case-insensitive unless a pattern has an upper-case letter."
    )
    word_regexp: Flag = Field(False, description="Match whole words only.")
    line_regexp: Flag = Field(False, description="Match whole lines only.")
    multiline: Flag = Field(False, description="Matches may span lines (\\n in the pattern).")
    context: Lines = Field(None, description="Lines of context before and after each match.")
    before_context: Lines = Field(None, description="Lines of context before each match.")
    after_context: Lines = Field(None, description="Lines of context after each match.")
    count: Flag = Field(False, description="Print path:count per file with matches (as rg -c).")
    files_with_matches: Flag = Field(False, description="Print the paths of files with matches.")
    files_without_match: Flag = Field(
        False, description="Print the paths of searched files without a match."
    )
    max_count: Lines = Field(None, description="At most this many matching lines per file.")
    only_matching: Flag = Field(False, description="Print each match alone, not its line.")
    binary: Flag = Field(
        False,
        description="Search files with a NUL byte to the end, a NUL ending a line (as rg "
        "--binary, which rg -uuu implies); by default their search stops at the first NUL read "
        "(rg's default). They are counted as binary either way.",
    )
    max_errors: MaxErrors = 1000

    @model_validator(mode="after")
    def _one_mode(self) -> "SearchParams":
        modes = [self.count, self.files_with_matches, self.files_without_match]
        if sum(modes) > 1:
            raise ValueError("choose one of count, files_with_matches and files_without_match")
        return self

    def options(self) -> SearchOptions:
        mode: Any = (
            "count"
            if self.count
            else "files_with_matches"
            if self.files_with_matches
            else "files_without_match"
            if self.files_without_match
            else "lines"
        )
        around = self.context or 0
        return SearchOptions(
            patterns=self.patterns,
            fixed_strings=self.fixed_strings,
            ignore_case=self.ignore_case,
            smart_case=self.smart_case,
            word_regexp=self.word_regexp,
            line_regexp=self.line_regexp,
            multiline=self.multiline,
            before_context=around if self.before_context is None else self.before_context,
            after_context=around if self.after_context is None else self.after_context,
            mode=mode,
            max_count=self.max_count,
            only_matching=self.only_matching,
            binary=self.binary,
        )


def run_search(params: SearchParams, ctx: RunContext) -> SearchSummary:
    text = ctx.lines is not None
    stream = engine.search(
        params.selection,
        params.options(),
        text=text,
        # Text batches hold whole chunks of ~64 KiB: send each at once.
        batch_size=1 if text else 1024,
        max_errors=params.max_errors,
        progress=ctx.progress,
        cancel=ctx.cancel,
        beneath=ctx.beneath,
    )
    try:
        for batch in stream:
            if ctx.lines is not None:
                ctx.lines(b"".join(batch))
            else:
                ctx.rows(batch)
    finally:
        stream.close()
    return SearchSummary.model_validate(stream.summary())


def check_search(params: SearchParams) -> None:
    params.selection.check()
    engine.check_pattern(params.options())


SEARCH = Operation(
    name="search",
    summary="Lines matching a regex or fixed strings in the files of the trees (like rg -uuu).",
    params=SearchParams,
    result=SearchSummary,
    row=SearchRow,
    run=run_search,
    positional="patterns",
    short_flags={
        "patterns": "-e",
        "fixed_strings": "-F",
        "ignore_case": "-i",
        "smart_case": "-S",
        "word_regexp": "-w",
        "line_regexp": "-x",
        "multiline": "-U",
        "context": "-C",
        "before_context": "-B",
        "after_context": "-A",
        "count": "-c",
        "files_with_matches": "-l",
        "max_count": "-m",
        "only_matching": "-o",
    },
    long_flags={"patterns": "--regexp"},
    check=check_search,
)

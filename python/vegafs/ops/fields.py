"""Params fields that several operations share, declared once."""

from typing import Annotated

from pydantic import Field

# Errors are listed up to this many; all are counted. The list is kept in memory while the walk
# runs.
MAX_LISTED_ERRORS = 1_000_000

MaxErrors = Annotated[
    int, Field(ge=0, le=MAX_LISTED_ERRORS, description="Errors listed (all are counted).")
]

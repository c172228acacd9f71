"""The ``verify`` operation: the files a checksum manifest lists (``b3sum``, ``sha256sum``,
``xxhsum -H3``, ``vegafs hash --manifest``), each ok, changed, missing or unreadable, as
``b3sum --check`` tells them.

It walks no Selection: its params name a manifest and the base its names are relative to, both
confined to the roots for a job, where every listed file is also opened beneath the roots.
"""

from collections.abc import Sequence
from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field

from vegafs import engine
from vegafs.engine.hashing import Algorithm
from vegafs.engine.verifying import VerifyRow, VerifySummary
from vegafs.ops.confine import confine
from vegafs.ops.fields import MaxErrors
from vegafs.ops.registry import Operation, RunContext, drain


class VerifyParams(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    manifest: Path = Field(
        description="The checksum file: lines of b3sum, sha256sum, xxhsum -H3 or vegafs hash."
    )
    base: Path = Field(
        default=Path(),
        description="The directory the manifest's relative names are in (a job: absolute).",
    )
    algo: Algorithm | None = Field(
        default=None,
        description="blake3, sha256 or xxh3 (default: from the lines' tags, else blake3 for "
        "64 hex digits, as b3sum).",
    )
    max_errors: MaxErrors = 1000


def run_verify(params: VerifyParams, ctx: RunContext) -> VerifySummary:
    stream = engine.verify_files(
        params.manifest,
        base=params.base,
        algorithm=params.algo,
        max_errors=params.max_errors,
        progress=ctx.progress,
        cancel=ctx.cancel,
        beneath=ctx.beneath,
    )
    return VerifySummary.model_validate(drain(stream, ctx))


def confine_verify(params: VerifyParams, roots: Sequence[Path]) -> VerifyParams:
    """The manifest and the base confined to the roots, as their real paths. The files the
    manifest lists are confined as they are opened (``beneath``)."""
    update = {"manifest": confine(params.manifest, roots), "base": confine(params.base, roots)}
    return params.model_copy(update=update)


def _no_check(params: VerifyParams) -> None:
    """Nothing to check before the run: the manifest is read (and its lines judged) when the
    job runs."""


VERIFY = Operation(
    name="verify",
    summary="Check the files a checksum manifest lists (b3sum, sha256sum, xxhsum -H3 lines).",
    params=VerifyParams,
    result=VerifySummary,
    row=VerifyRow,
    run=run_verify,
    positional="manifest",
    confine=confine_verify,
    check=_no_check,
)

"""The ``hash`` operation: a digest of every selected regular file (BLAKE3, SHA-256 or XXH3),
streamed as the walk finds them; the command line prints them as ``b3sum`` and ``sha256sum`` do.
"""

from pydantic import BaseModel, ConfigDict, Field

from vegafs import engine
from vegafs.engine.hashing import Algorithm, HashRow, HashSummary
from vegafs.ops.fields import MaxErrors
from vegafs.ops.registry import Operation, RunContext, drain


class HashParams(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    selection: engine.Selection
    algo: Algorithm = Field(
        default="blake3",
        description="blake3 (b3sum), sha256 (sha256sum) or xxh3 (xxhsum -H3; not for tampering).",
    )
    max_errors: MaxErrors = 1000


def run_hash(params: HashParams, ctx: RunContext) -> HashSummary:
    stream = engine.hash_files(
        params.selection,
        algorithm=params.algo,
        max_errors=params.max_errors,
        progress=ctx.progress,
        cancel=ctx.cancel,
        beneath=ctx.beneath,
    )
    return HashSummary.model_validate(drain(stream, ctx))


HASH = Operation(
    name="hash",
    summary="A digest of every file (BLAKE3, SHA-256 or XXH3), as b3sum and sha256sum print them.",
    params=HashParams,
    result=HashSummary,
    row=HashRow,
    run=run_hash,
)

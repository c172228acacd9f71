"""The roots a job's paths must lie in: the service's (``VEGAFS_ROOTS``) narrowed by the root of
the API key that submitted it (kept with the job). The worker checks a job against them at every
attempt, and ``POST /jobs/{id}/retry`` before queueing it again: the tree may have changed since
the job was submitted, or the row since it was written."""

import os
from collections.abc import Sequence
from pathlib import Path

from vegafs.errors import PathNotAllowed
from vegafs.ops.confine import inside


def narrowed_roots(roots: Sequence[Path], key_root: str | None) -> list[Path]:
    """``roots``, or only the key's root (its real path) when there is one; PathNotAllowed when
    the key's root lies outside ``roots`` (the service's roots changed since the key was made)."""
    if key_root is None:
        return list(roots)
    real = Path(os.path.realpath(key_root))
    if not any(inside(real, root) for root in roots):
        raise PathNotAllowed(
            str(real), "the API key's root is outside the service's roots (VEGAFS_ROOTS)"
        )
    return [real]

"""The plugins `bench/plugin.py` times, imported by VegaFS's worker processes as
`trivial_plugins:NAME`: nothing is imported here at run time, so their start-up is VegaFS's
alone."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from vegafs.plugins import File


def per_batch(files: list[File]) -> dict[str, int]:
    """One row per batch: its number of files."""
    return {"files": len(files)}


def per_file(files: list[File]) -> list[dict[str, object]]:
    """One row per file: its path and size."""
    return [{"path": f.path, "size": f.size} for f in files]

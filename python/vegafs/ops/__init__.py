"""Operations: one spec model, one run function, one result model each, listed in a registry that
the CLI, the API and the docs are driven from."""

from vegafs.ops.registry import Operation, RunContext, all_operations, get, run

# Importing the modules registers their operations.
from vegafs.ops import analyze as _analyze  # noqa: F401  # isort: skip

__all__ = ["Operation", "RunContext", "all_operations", "get", "run"]

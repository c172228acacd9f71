"""The ``vegafs`` command."""

import gc
import sys
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from vegafs.cli.app import app


def main() -> None:
    try:
        from vegafs.cli import quick

        quick.run(sys.argv[1:])  # exits when it ran the command; typer and pydantic not loaded
        from vegafs.cli.app import app

        app()
    finally:
        # The process ends here: its objects are left to the exit, out of reach of the cyclic
        # collector, whose last pass over all of them (the modules, a plan's rows) took a
        # tenth of a second after a replace of 20,000 files (docs/benchmarks.md).
        gc.freeze()


def __getattr__(name: str) -> Any:
    if name == "app":  # loaded on first use: the quick path does without typer
        from vegafs.cli.app import app

        return app
    raise AttributeError(f"module 'vegafs.cli' has no attribute {name!r}")


__all__ = ["app", "main"]

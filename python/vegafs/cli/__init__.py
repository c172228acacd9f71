"""The ``vegafs`` command."""

from vegafs.cli.app import app


def main() -> None:
    app()


__all__ = ["app", "main"]

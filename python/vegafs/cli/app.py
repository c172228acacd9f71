"""The ``vegafs`` command: a command per operation, made from its declaration, and the service's
commands. Each is imported when it is run, so ``vegafs analyze`` loads analyze alone."""

import importlib
from typing import Any

import typer

# Commands that are no operation: name -> "module:attribute" (a function or a Typer group).
SERVICE_COMMANDS = {
    "jobs": "vegafs.cli.jobs:jobs_app",
    "serve": "vegafs.cli.service:serve",
    "worker": "vegafs.cli.service:worker",
    "db": "vegafs.cli.service:db_app",
    "keys": "vegafs.cli.service:keys_app",
    "run": "vegafs.cli.run:run",
    "recover": "vegafs.cli.journal_commands:recover",
    "ops": "vegafs.cli.journal_commands:ops_app",
    "version": "vegafs.cli.app:version",
}


class VegafsGroup(typer.core.TyperGroup):
    """Finds a command when it is asked for: an operation's from the registry, else one of
    SERVICE_COMMANDS."""

    def list_commands(self, ctx: Any) -> list[str]:
        from vegafs import ops

        return [*ops.names(), *SERVICE_COMMANDS]

    def get_command(self, ctx: Any, cmd_name: str) -> Any:
        target = SERVICE_COMMANDS.get(cmd_name)
        if target is None:
            from vegafs.cli.operations import command_for, local_command

            return command_for(cmd_name, local_command)
        module, _, attribute = target.partition(":")
        found = getattr(importlib.import_module(module), attribute)
        if isinstance(found, typer.Typer):
            command = typer.main.get_group(found)  # a group even with one command (`db`)
            command.name = cmd_name
            return command
        single = typer.Typer(add_completion=False, pretty_exceptions_enable=False)
        single.command(name=cmd_name)(found)
        return typer.main.get_command(single)


app = typer.Typer(
    cls=VegafsGroup,
    name="vegafs",
    help="Process, analyse and reorganise huge file trees at native speed.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    context_settings={"help_option_names": ["-h", "--help"]},
)


@app.callback()
def _root() -> None:
    """Process, analyse and reorganise huge file trees at native speed."""


def version() -> None:
    """Print the version."""
    from vegafs import __version__

    typer.echo(__version__)

"""The typer application; each command lives in its own module."""

import typer

from vegafs.cli import analyze, jobs, service

app = typer.Typer(
    name="vegafs",
    help="Process, analyse and reorganise huge file trees at native speed.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    context_settings={"help_option_names": ["-h", "--help"]},
)
app.command(name="analyze", no_args_is_help=True)(analyze.analyze)
app.command(name="serve")(service.serve)
app.command(name="worker")(service.worker)
app.add_typer(service.db_app, name="db")
app.add_typer(service.keys_app, name="keys")
app.add_typer(jobs.jobs_app, name="jobs")


@app.command()
def version() -> None:
    """Print the version."""
    from vegafs import __version__

    typer.echo(__version__)

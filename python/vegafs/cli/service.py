"""``vegafs serve``, ``vegafs worker``, ``vegafs db upgrade`` and ``vegafs keys``."""

import copy
import logging
import os
import signal
import threading
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from vegafs.cli import exits

if TYPE_CHECKING:
    from vegafs.db import Database
    from vegafs.settings import Settings

db_app = typer.Typer(help="The database: migrations.", no_args_is_help=True)
keys_app = typer.Typer(help="API keys: create, list, revoke.", no_args_is_help=True)


LOG_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"


def _logging(verbose: bool) -> None:
    logging.basicConfig(level=logging.DEBUG if verbose else logging.INFO, format=LOG_FORMAT)
    logging.getLogger("alembic").setLevel(logging.WARNING)


def _uvicorn_log_config(verbose: bool) -> dict[str, Any]:
    """uvicorn's logging plus a root handler in `_logging`'s format. uvicorn applies it in every
    process, so with ``--workers`` the VegaFS loggers of the worker processes log as usual."""
    from uvicorn.config import LOGGING_CONFIG

    config = copy.deepcopy(LOGGING_CONFIG)
    config["formatters"]["vegafs"] = {"format": LOG_FORMAT}
    config["handlers"]["vegafs"] = {
        "class": "logging.StreamHandler",
        "formatter": "vegafs",
        "stream": "ext://sys.stderr",
    }
    config["root"] = {"handlers": ["vegafs"], "level": "DEBUG" if verbose else "INFO"}
    return config


def _settings(*, warn: bool = False) -> "Settings":
    """The VEGAFS_* settings, or a one-line error naming the variable (exit 2). Variables that
    look like settings but are none are reported, so that a typo does not go unnoticed."""
    from vegafs.errors import SettingsError
    from vegafs.settings import checked_settings, unknown_variables

    try:
        settings = checked_settings()
    except SettingsError as e:
        exits.fail(str(e), exits.USAGE)
    for name in unknown_variables() if warn else ():
        logging.getLogger("vegafs").warning("%s is not a VegaFS setting (ignored)", name)
    return settings


def _open_db(*, migrate: bool | None = None) -> "Database":
    """The configured database, migrated (by default on SQLite only: on a shared database,
    migrating is `vegafs db upgrade`'s job) or checked to be current (else exit 2)."""
    from vegafs.db import Database, DatabaseUnavailable
    from vegafs.db import migrate as migrations

    settings = _settings()
    if migrate is None:
        migrate = settings.embedded
    db = Database(settings.database)
    try:
        if migrate:
            migrations.upgrade(db)
        elif not migrations.is_current(db):
            exits.fail(
                f"the database schema is not current ({migrations.current(db) or 'empty'}, "
                f"needs {migrations.head()}): run `vegafs db upgrade`",
                exits.USAGE,
            )
    except DatabaseUnavailable as e:
        exits.fail(f"database unavailable: {e}", exits.USAGE)
    return db


@db_app.command("upgrade")
def db_upgrade() -> None:
    """Create or upgrade the tables (Alembic) of VEGAFS_DATABASE_URL."""
    from vegafs.db import migrate

    db = _open_db(migrate=True)
    typer.echo(f"database at revision {migrate.current(db)}")


def serve(
    host: Annotated[str, typer.Option(help="Address to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(min=0, max=65535, help="Port.")] = 8000,
    worker: Annotated[
        bool | None,
        typer.Option(
            "--worker/--no-worker",
            help="Run a worker in this process (default: yes on SQLite, no otherwise).",
            show_default=False,
        ),
    ] = None,
    concurrency: Annotated[
        int, typer.Option("--concurrency", "-j", min=1, help="Jobs the worker runs at once.")
    ] = 2,
    workers: Annotated[
        int,
        typer.Option(
            "--workers",
            min=1,
            help="Server processes sharing the port. More than one needs --no-worker: jobs then "
            "run in `vegafs worker` processes.",
        ),
    ] = 1,
    access_log: Annotated[
        bool,
        typer.Option(
            "--access-log/--no-access-log",
            help="Log every request (uvicorn's access log). Off by default: GET /metrics counts "
            "requests by route, status and latency.",
        ),
    ] = False,
    verbose: Annotated[bool, typer.Option("--verbose", "-v", help="Debug logging.")] = False,
) -> None:
    """Run the REST API (and, on the embedded SQLite default, a worker)."""
    import uvicorn

    from vegafs.api import create_app
    from vegafs.db import keys
    from vegafs.settings import is_loopback

    _logging(verbose)
    settings = _settings(warn=True)
    db = _open_db()
    if not is_loopback(host) and keys.active_count(db) == 0:
        exits.fail(
            f"refusing to listen on {host} without an API key: create one with "
            "`vegafs keys create --name NAME --scopes read,submit`",
            exits.USAGE,
        )
    db.dispose()
    if not settings.roots:
        logging.getLogger("vegafs").warning(
            "VEGAFS_ROOTS is empty: every path in a job will be refused"
        )
    # The app is open without a key only when bound to loopback: it must know where it listens,
    # and so must the processes of --workers, which build their app from the environment.
    os.environ["VEGAFS_BIND_HOST"] = host
    settings = settings.model_copy(update={"bind_host": host})
    run_worker = settings.embedded if worker is None else worker
    common: dict[str, Any] = {
        "host": host,
        "port": port,
        "log_level": "debug" if verbose else "info",
        "log_config": _uvicorn_log_config(verbose),
        "access_log": access_log,
    }
    if workers == 1:
        app = create_app(settings, worker_concurrency=concurrency if run_worker else 0)
        uvicorn.run(app, **common)
        return
    if run_worker:
        exits.fail(
            f"--workers {workers} starts {workers} server processes, and a job worker must not run "
            "in each: pass --no-worker and run jobs with `vegafs worker`",
            exits.USAGE,
        )
    # Each process builds its own app (create_app() reads the same VEGAFS_* settings), with no
    # in-process worker. /metrics' HTTP latency is then per process: a scrape sees one of them.
    uvicorn.run("vegafs.api.app:create_app", factory=True, workers=workers, **common)


def worker(
    concurrency: Annotated[
        int, typer.Option("--concurrency", "-j", min=1, help="Jobs run at once.")
    ] = 2,
    metrics_port: Annotated[
        int | None,
        typer.Option(min=1, max=65535, help="Serve Prometheus metrics on this port (loopback)."),
    ] = None,
    worker_id: Annotated[
        str | None, typer.Option("--id", help="Worker id (default: host:pid).")
    ] = None,
    verbose: Annotated[bool, typer.Option("--verbose", "-v", help="Debug logging.")] = False,
) -> None:
    """Run a worker: claim queued jobs and run them until SIGINT/SIGTERM."""
    from vegafs.cache import connect
    from vegafs.jobs import Worker

    _logging(verbose)
    settings = _settings(warn=True)
    db = _open_db()
    cache, bus = connect(settings.redis_url, settings.cache_timeout_s)
    if metrics_port is not None:
        from prometheus_client import start_http_server

        try:
            start_http_server(metrics_port, addr="127.0.0.1")
        except OSError as e:
            exits.fail(f"--metrics-port {metrics_port}: {e.strerror or e}", exits.USAGE)
    w = Worker(db, cache, bus, settings, concurrency=concurrency, worker_id=worker_id)
    stop = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: stop.set())
    w.start()
    stop.wait()
    logging.getLogger("vegafs.worker").info("stopping: running jobs go back to the queue")
    w.stop()
    bus.close()


@keys_app.command("create")
def keys_create(
    name: Annotated[str, typer.Option(help="A unique name; jobs are owned by it.")],
    scopes: Annotated[
        str, typer.Option(help="Comma-separated: read, submit, write, admin.")
    ] = "read,submit",
    root: Annotated[
        Path | None, typer.Option(help="Confine this key's paths to DIR (inside VEGAFS_ROOTS).")
    ] = None,
) -> None:
    """Create an API key and print it (it is stored hashed: this is the only time it shows)."""
    from sqlalchemy.exc import IntegrityError

    from vegafs.db import keys
    from vegafs.ops.confine import inside

    db = _open_db()
    wanted = frozenset(s.strip() for s in scopes.split(",") if s.strip())
    root_text = str(root.resolve(strict=False)) if root is not None else None
    if root is not None and not root.is_dir():
        exits.fail(f"--root {root}: not a directory", exits.USAGE)
    service_roots = _settings().roots
    if root_text is not None and not any(inside(Path(root_text), r) for r in service_roots):
        allowed = os.pathsep.join(str(r) for r in service_roots) or "empty"
        exits.fail(f"--root {root_text}: outside VEGAFS_ROOTS ({allowed})", exits.USAGE)
    try:
        key = keys.create(db, name=name, scopes=wanted, root=root_text)
    except ValueError as e:
        exits.fail(f"--scopes: {e}", exits.USAGE)
    except IntegrityError:
        exits.fail(f"--name: a key named {name!r} exists", exits.USAGE)
    typer.echo(key)


@keys_app.command("list")
def keys_list() -> None:
    """List keys (names, scopes, roots; never the keys)."""
    from vegafs.db import keys

    for row in keys.list_keys(_open_db()):
        state = "revoked" if row.revoked_at else "active"
        typer.echo(f"{row.name}\t{row.scopes}\t{row.root or '-'}\t{state}")


@keys_app.command("revoke")
def keys_revoke(name: Annotated[str, typer.Argument(help="The key's name.")]) -> None:
    """Revoke a key (requests with it fail within seconds)."""
    from vegafs.db import keys

    if not keys.revoke(_open_db(), name):
        exits.fail(f"no active key named {name!r}", exits.USAGE)

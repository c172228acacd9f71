"""The Database handle: one engine per process, read and write transactions, SQLite pragmas.

On SQLite a write transaction starts with ``BEGIN IMMEDIATE``, so two writers queue on the busy
timeout instead of failing half-way; reads use deferred transactions and, in WAL mode, never wait
for a writer.
"""

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from sqlalchemy import Connection, Engine, create_engine, event, text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import DBAPIError

from vegafs.db.plain import BUSY_TIMEOUT_S, is_connection_error, sqlite_pragmas, utcnow
from vegafs.errors import DatabaseUnavailable

__all__ = ["BUSY_TIMEOUT_S", "Database", "DatabaseUnavailable", "utcnow"]


def normalise_url(url: str) -> str:
    """``postgresql://`` means psycopg 3, the driver VegaFS ships with."""
    u = make_url(url)
    if u.drivername in ("postgresql", "postgres"):
        u = u.set(drivername="postgresql+psycopg")
    return u.render_as_string(hide_password=False)


class Database:
    def __init__(self, url: str, *, pool_size: int = 10, durable: bool = False) -> None:
        """``pool_size``: the connections kept open on PostgreSQL; give a process that calls
        from N threads at least N, or every call beyond them opens and closes a connection.
        ``durable``: on SQLite, every commit survives a power loss (``synchronous=FULL``; the
        default, NORMAL, survives a crash of the process but may lose the last commits to a
        power loss). PostgreSQL commits are durable as its server is configured."""
        self.url = normalise_url(url)
        self.durable = durable
        self.is_sqlite = make_url(self.url).get_backend_name() == "sqlite"
        self.engine = self._sqlite_engine() if self.is_sqlite else self._pg_engine(pool_size)
        self._writer = self.engine.execution_options(vegafs_write=True)

    def _pg_engine(self, pool_size: int) -> Engine:
        return create_engine(
            self.url,
            pool_size=pool_size,
            max_overflow=2 * pool_size,
            pool_pre_ping=True,
            pool_timeout=5,
            connect_args={"connect_timeout": 3},
        )

    def _sqlite_engine(self) -> Engine:
        database = make_url(self.url).database
        if database and database != ":memory:":
            Path(database).parent.mkdir(parents=True, exist_ok=True)
        engine = create_engine(self.url, connect_args={"timeout": BUSY_TIMEOUT_S})

        @event.listens_for(engine, "connect")
        def _on_connect(dbapi_conn: Any, _record: Any) -> None:
            dbapi_conn.isolation_level = None  # we issue BEGIN ourselves
            cur = dbapi_conn.cursor()
            for pragma in sqlite_pragmas(durable=self.durable):
                cur.execute(pragma)
            cur.close()

        @event.listens_for(engine, "begin")
        def _on_begin(conn: Connection) -> None:
            write = conn.get_execution_options().get("vegafs_write", False)
            conn.exec_driver_sql("BEGIN IMMEDIATE" if write else "BEGIN")

        return engine

    @contextmanager
    def read(self) -> Iterator[Connection]:
        with self.translate(), self.engine.begin() as conn:
            yield conn

    @contextmanager
    def write(self) -> Iterator[Connection]:
        """A transaction that will write: BEGIN IMMEDIATE on SQLite, a plain one elsewhere."""
        with self.translate(), self._writer.begin() as conn:
            yield conn

    @contextmanager
    def translate(self) -> Iterator[None]:
        """Lost or refused connections become DatabaseUnavailable."""
        try:
            yield
        except DBAPIError as e:
            if e.connection_invalidated or is_connection_error(e.orig):
                message = " ".join(str(e.orig).split()) or type(e.orig).__name__
                raise DatabaseUnavailable(message) from e
            raise

    def ping(self) -> None:
        with self.read() as conn:
            conn.execute(text("SELECT 1"))

    def dispose(self) -> None:
        self.engine.dispose()

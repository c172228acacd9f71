"""The job database through its DB-API driver alone, without SQLAlchemy: the journal's.

Every writing command opens the journal, and SQLAlchemy takes a fifth of a second to import
(docs/benchmarks.md), more than the journal's own work on most plans. The journal's SQL is a
dozen plain statements over two tables (``models`` declares them, Alembic creates them),
written once for both databases with ``?`` placeholders (``%s`` for psycopg). What the two
drivers store differently is said here: JSON is text on SQLite, and times are the text
SQLAlchemy writes there, so that rows read the same whichever layer wrote them.

Transactions as ``database``'s: a write begins with ``BEGIN IMMEDIATE`` on SQLite
(writers queue on the busy timeout), commits are durable (``synchronous=FULL``), and a lost or
refused connection is ``DatabaseUnavailable``; the next transaction connects again.
"""

import json
import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import unquote

from vegafs.errors import DatabaseUnavailable

BUSY_TIMEOUT_S = 30
CONNECT_TIMEOUT_S = 3


def utcnow() -> datetime:
    """Now, as the job database keeps times: naive UTC."""
    return datetime.now(UTC).replace(tzinfo=None)


class PlainDatabase:
    """One connection to the database at ``url`` (``sqlite:///PATH`` or ``postgresql://...``,
    a driver named with ``+`` or not), opened on first use."""

    def __init__(self, url: str) -> None:
        self.url = url
        backend = url.partition(":")[0].partition("+")[0]
        if backend not in ("sqlite", "postgresql", "postgres"):
            raise ValueError(f"unsupported database URL {url!r}")
        self.is_sqlite = backend == "sqlite"
        self._conn: Any = None

    def sqlite_path(self) -> str:
        """The file of a ``sqlite:///PATH`` URL (``:memory:`` if none), as SQLAlchemy reads it."""
        rest = self.url.partition("://")[2]
        path = unquote(rest.removeprefix("/").partition("?")[0])
        return path or ":memory:"

    def _connect(self) -> Any:
        if self.is_sqlite:
            path = self.sqlite_path()
            if path != ":memory:":
                Path(path).parent.mkdir(parents=True, exist_ok=True)
            # Autocommit (isolation_level None): the transactions are begun here, as written.
            conn = sqlite3.connect(
                path, timeout=BUSY_TIMEOUT_S, isolation_level=None, check_same_thread=False
            )
            for pragma in sqlite_pragmas(durable=True):
                conn.execute(pragma)
            return conn
        import psycopg

        url = "postgresql://" + self.url.partition("://")[2]  # without SQLAlchemy's +driver
        return psycopg.connect(url, autocommit=True, connect_timeout=CONNECT_TIMEOUT_S)

    @contextmanager
    def read(self) -> Iterator["Cursor"]:
        with self._transaction("BEGIN") as cur:
            yield cur

    @contextmanager
    def write(self) -> Iterator["Cursor"]:
        with self._transaction("BEGIN IMMEDIATE" if self.is_sqlite else "BEGIN") as cur:
            yield cur

    @contextmanager
    def _transaction(self, begin: str) -> Iterator["Cursor"]:
        with self._translated():
            if self._conn is None:
                self._conn = self._connect()
            conn = self._conn
            cur = conn.cursor()
            cur.execute(begin)
            try:
                yield Cursor(cur, self.is_sqlite)
            except BaseException:
                # A connection gone has had its transaction ended by the server.
                with suppress(Exception):
                    cur.execute("ROLLBACK")
                raise
            cur.execute("COMMIT")

    @contextmanager
    def _translated(self) -> Iterator[None]:
        """Lost or refused connections become DatabaseUnavailable, and are dropped."""
        try:
            yield
        except Exception as e:
            if not is_connection_error(e):
                raise
            self.close()
            message = " ".join(str(e).split()) or type(e).__name__
            raise DatabaseUnavailable(message) from e

    def close(self) -> None:
        conn, self._conn = self._conn, None
        if conn is not None:
            with suppress(Exception):  # a broken connection: nothing is left to release
                conn.close()

    # What the drivers take and give for JSON and time columns.

    def json_in(self, value: Any) -> Any:
        """A JSON column's value (None is SQL NULL)."""
        if value is None:
            return None
        if self.is_sqlite:
            return json.dumps(value)
        from psycopg.types.json import Json

        return Json(value)

    def json_out(self, value: Any) -> Any:
        return json.loads(value) if self.is_sqlite and isinstance(value, str) else value

    def time_in(self, value: datetime) -> Any:
        """A time column's value: SQLAlchemy's text on SQLite, which compares as the time does."""
        return value.isoformat(" ", "microseconds") if self.is_sqlite else value

    def time_out(self, value: Any) -> datetime:
        """A time column's value as ``utcnow()`` gives it (naive UTC), from either database."""
        return datetime.fromisoformat(value) if isinstance(value, str) else value


class Cursor:
    """A driver's cursor, taking ``?`` placeholders on both databases."""

    def __init__(self, cur: Any, is_sqlite: bool) -> None:
        self._cur = cur
        self._is_sqlite = is_sqlite

    def _sql(self, sql: str) -> str:
        return sql if self._is_sqlite else sql.replace("?", "%s")

    def execute(self, sql: str, params: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
        """Runs ``sql``: its rows, if it returns any."""
        self._cur.execute(self._sql(sql), params)
        return list(self._cur.fetchall()) if self._cur.description is not None else []

    def executemany(self, sql: str, rows: list[tuple[Any, ...]]) -> None:
        self._cur.executemany(self._sql(sql), rows)


def sqlite_pragmas(*, durable: bool) -> list[str]:
    """What every connection to a SQLite job database runs first, through either layer:
    write-ahead log, ``durable`` commits (``synchronous=FULL``: they survive a power loss;
    NORMAL: a crash of the process), foreign keys, the busy timeout."""
    return ["PRAGMA journal_mode=WAL", f"PRAGMA synchronous={'FULL' if durable else 'NORMAL'}",
            "PRAGMA foreign_keys=ON", f"PRAGMA busy_timeout={BUSY_TIMEOUT_S * 1000}"]  # fmt: skip


def is_connection_error(e: BaseException | None) -> bool:
    """A lost or refused connection, or SQLite still locked after its busy timeout (``e``: the
    driver's error; SQLAlchemy's ``DBAPIError.orig``)."""
    if isinstance(e, sqlite3.OperationalError):
        text = str(e)
        return "locked" in text or "busy" in text
    if type(e).__module__.startswith("psycopg"):
        import psycopg

        return isinstance(e, psycopg.OperationalError)
    return False

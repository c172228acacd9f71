"""The job API's hot path as coroutines: queue a job, read a job, find an API key.

``open_store(db)`` gives the store for the database. On PostgreSQL it is :class:`PgStore`:
asyncpg in the event loop, so a request makes no hop to a thread, statements are prepared once
per connection, and a read is one statement with no BEGIN/COMMIT around it. On SQLite it is
:class:`ThreadedStore`: the sync repositories (``db.jobs``, ``db.keys``) on AnyIO's threads, as
every other route. Both give the same answers and raise the same errors (IdempotencyConflict,
TooManyActiveJobs, DatabaseUnavailable); the API's tests run on both.
"""

import json
from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager
from typing import Any, Protocol

from anyio import to_thread
from sqlalchemy.engine import make_url

from vegafs.db import jobs as job_repo
from vegafs.db import keys as key_repo
from vegafs.db.database import Database, DatabaseUnavailable
from vegafs.db.models import ACTIVE

JobRow = Mapping[Any, Any]  # an asyncpg record, or a SQLAlchemy row's _mapping
CONNECT_TIMEOUT_S = 3  # as the sync engine's connect_timeout
ACQUIRE_TIMEOUT_S = 5  # as the sync engine's pool_timeout


class JobStore(Protocol):
    #: True when queueing a job wakes the workers by itself (PostgreSQL's NOTIFY, in the
    #: INSERT's transaction); otherwise the caller publishes the queue topic on the bus.
    notifies: bool

    async def submit(
        self,
        *,
        operation: str,
        spec: dict[str, Any],
        owner: str,
        priority: int,
        max_attempts: int,
        use_cache: bool,
        idempotency_key: str | None,
        key_root: str | None,
        most_active: int,
        shards: int | None = None,
    ) -> tuple[JobRow, bool]:
        """As ``db.jobs.submit``: (job, created), or TooManyActiveJobs, IdempotencyConflict."""
        ...

    async def get(self, job_id: int) -> JobRow | None: ...

    async def verify_key(self, key: str) -> key_repo.KeyInfo | None:
        """As ``db.keys.verify``: the key's row if it exists, is not revoked, and is this key."""
        ...

    async def active_key_count(self) -> int: ...

    async def close(self) -> None: ...


def open_store(db: Database, pool_size: int) -> JobStore:
    return ThreadedStore(db) if db.is_sqlite else PgStore(db.url, pool_size)


class ThreadedStore:
    """The sync repositories, each call on one of AnyIO's worker threads."""

    def __init__(self, db: Database) -> None:
        self.db = db
        self.notifies = not db.is_sqlite

    async def submit(self, **job: Any) -> tuple[JobRow, bool]:
        row, created = await to_thread.run_sync(lambda: job_repo.submit(self.db, **job))
        return row._mapping, created

    async def get(self, job_id: int) -> JobRow | None:
        row = await to_thread.run_sync(job_repo.get, self.db, job_id)
        return None if row is None else row._mapping

    async def verify_key(self, key: str) -> key_repo.KeyInfo | None:
        return await to_thread.run_sync(key_repo.verify, self.db, key)

    async def active_key_count(self) -> int:
        return await to_thread.run_sync(key_repo.active_count, self.db)

    async def close(self) -> None:
        pass


# ---- PostgreSQL on asyncpg ---------------------------------------------------------------------

JOB_COLUMNS = ", ".join(c.name for c in job_repo.JOB.c)
# The columns a submit writes, in new_job_values' order ($1..$18); owner is $9.
NEW_JOB_COLUMNS = tuple(
    job_repo.new_job_values(
        operation="",
        spec={},
        owner="",
        priority=0,
        max_attempts=1,
        use_cache=True,
        idempotency_key=None,
        key_root=None,
    )
)
_OWNER = f"${NEW_JOB_COLUMNS.index('owner') + 1}"
_MOST = f"${len(NEW_JOB_COLUMNS) + 1}"
# One statement, one round trip, its own transaction: count the owner's active jobs (the
# condition of ix_jobs_owner_active), insert when under the limit, NOTIFY the workers when a row
# was inserted (sent at its commit).
SUBMIT_JOB = f"""
WITH active AS (
    SELECT count(*) AS n FROM jobs WHERE owner = {_OWNER} AND {ACTIVE}
), added AS (
    INSERT INTO jobs ({", ".join(NEW_JOB_COLUMNS)})
    SELECT {", ".join(f"${i}" for i in range(1, len(NEW_JOB_COLUMNS) + 1))}
    FROM active WHERE active.n < {_MOST}
    ON CONFLICT DO NOTHING
    RETURNING {JOB_COLUMNS}
), woken AS (
    SELECT count(pg_notify('{job_repo.NOTIFY_CHANNEL}', '')) AS n FROM added
)
SELECT active.n AS active_jobs, woken.n AS woken, added.*
FROM active CROSS JOIN woken LEFT JOIN added ON true
"""
JOB_BY_ID = f"SELECT {JOB_COLUMNS} FROM jobs WHERE id = $1"
JOB_BY_IDEMPOTENCY_KEY = f"SELECT {JOB_COLUMNS} FROM jobs WHERE owner = $1 AND idempotency_key = $2"
KEY_BY_LOOKUP = (
    "SELECT id, name, key_hash, scopes, root FROM api_keys WHERE lookup = $1 AND revoked_at IS NULL"
)
ACTIVE_KEY_COUNT = "SELECT count(*) FROM api_keys WHERE revoked_at IS NULL"


class PgStore:
    """asyncpg: a pool of ``pool_size`` connections, opened as requests need them."""

    notifies = True

    def __init__(self, url: str, pool_size: int) -> None:
        u = make_url(url)
        self._dsn = u.set(drivername="postgresql").render_as_string(hide_password=False)
        self._pool_size = pool_size
        self._pool: Any = None

    async def _connection_pool(self) -> Any:
        import asyncpg

        if self._pool is None:
            self._pool = await asyncpg.create_pool(
                self._dsn,
                min_size=0,  # nothing to connect at start: a database down then is a 503 later
                max_size=self._pool_size,
                timeout=CONNECT_TIMEOUT_S,
                init=_init_connection,
                reset=_keep_session,
            )
        return self._pool

    @asynccontextmanager
    async def _connection(self) -> AsyncIterator[Any]:
        """A pooled connection; a lost or refused one raises DatabaseUnavailable. Any failure
        to connect counts as refused (as psycopg's OperationalError: the database is down, does
        not accept connections, or refuses this role)."""
        acquired = False
        try:
            pool = await self._connection_pool()
            async with pool.acquire(timeout=ACQUIRE_TIMEOUT_S) as conn:
                acquired = True
                yield conn
        except Exception as e:
            if (not acquired and _is_connect_error(e)) or _is_connection_error(e):
                raise DatabaseUnavailable(" ".join(str(e).split()) or type(e).__name__) from e
            raise

    async def submit(
        self,
        *,
        operation: str,
        spec: dict[str, Any],
        owner: str,
        priority: int,
        max_attempts: int,
        use_cache: bool,
        idempotency_key: str | None,
        key_root: str | None,
        most_active: int,
        shards: int | None = None,
    ) -> tuple[JobRow, bool]:
        values = job_repo.new_job_values(
            operation=operation,
            spec=spec,
            owner=owner,
            priority=priority,
            max_attempts=max_attempts,
            use_cache=use_cache,
            idempotency_key=idempotency_key,
            key_root=key_root,
            shards=shards,
        )
        async with self._connection() as conn:
            if idempotency_key is not None:
                found = await conn.fetchrow(JOB_BY_IDEMPOTENCY_KEY, owner, idempotency_key)
                if found is not None:
                    job_repo.ensure_same_request(found, operation, spec)
                    return found, False
            row = await conn.fetchrow(SUBMIT_JOB, *values.values(), most_active)
            if row["id"] is not None:
                return row, True
            if row["active_jobs"] >= most_active:
                raise job_repo.TooManyActiveJobs(owner, most_active)
            # A concurrent request with the same Idempotency-Key won the race.
            found = await conn.fetchrow(JOB_BY_IDEMPOTENCY_KEY, owner, idempotency_key or "")
            assert found is not None
            job_repo.ensure_same_request(found, operation, spec)
            return found, False

    async def get(self, job_id: int) -> JobRow | None:
        async with self._connection() as conn:
            row: JobRow | None = await conn.fetchrow(JOB_BY_ID, job_id)
            return row

    async def verify_key(self, key: str) -> key_repo.KeyInfo | None:
        lookup = key_repo.lookup_of(key)
        if lookup is None:
            return None
        async with self._connection() as conn:
            row = await conn.fetchrow(KEY_BY_LOOKUP, lookup)
        return None if row is None else key_repo.proven(row, key)

    async def active_key_count(self) -> int:
        async with self._connection() as conn:
            return int(await conn.fetchval(ACTIVE_KEY_COUNT))

    async def close(self) -> None:
        if self._pool is not None:
            await self._pool.close()


async def _init_connection(conn: Any) -> None:
    # JSON columns as the sync engine reads and writes them (json.dumps / json.loads).
    await conn.set_type_codec("json", encoder=json.dumps, decoder=json.loads, schema="pg_catalog")


async def _keep_session(conn: Any) -> None:
    """What the pool runs on a connection given back, after rolling back any open transaction
    (which it always does). asyncpg's default also sends ``RESET ALL``, ``UNLISTEN *``,
    ``CLOSE ALL`` and releases advisory locks: a round trip per request, for session state that
    these statements never create."""


def _is_connect_error(e: Exception) -> bool:
    import asyncpg

    return isinstance(e, OSError | TimeoutError | asyncpg.PostgresError | asyncpg.InterfaceError)


def _is_connection_error(e: Exception) -> bool:
    """Lost, refused or timed out, the server shutting down or out of connections."""
    import asyncpg

    if isinstance(e, OSError | TimeoutError):
        return True
    if isinstance(
        e,
        asyncpg.PostgresConnectionError  # class 08, the connection lost
        | asyncpg.exceptions.OperatorInterventionError  # class 57: shutting down, starting up
        | asyncpg.exceptions.InsufficientResourcesError,  # class 53: too many connections
    ):
        return True
    return isinstance(e, asyncpg.InterfaceError) and "closed" in str(e)

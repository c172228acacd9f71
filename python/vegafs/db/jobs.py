"""The job repository: every SQL statement that touches ``jobs`` and ``job_results``.

Writes made by a worker after it claims a job (heartbeat, progress, rows, completion) carry the
lease token in their WHERE clause: a worker whose lease expired and was taken over matches no row
and learns that it lost the job, so it can never overwrite the new owner's work.

Lease times are the database's: ``lease_expires_at`` and ``run_after`` are computed in SQL from
the database's clock (:func:`db_now`), and expiry and due dates are compared with it, never with
the clock of the host that runs the worker. A worker host whose clock is off therefore neither
reclaims live leases nor hands out leases that have already run out.
"""

import secrets
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, cast

from sqlalchemy import (
    ColumnElement,
    Connection,
    DateTime,
    Row,
    Select,
    Table,
    and_,
    delete,
    func,
    insert,
    literal,
    select,
    text,
    type_coerce,
    update,
)
from sqlalchemy.dialects import postgresql, sqlite

from vegafs.db.database import Database, utcnow
from vegafs.db.models import ACTIVE, Job, JobInput, JobResult

STATUSES = ("queued", "running", "succeeded", "failed", "cancelled")
FINISHED = frozenset({"succeeded", "failed", "cancelled"})
NOTIFY_CHANNEL = "vegafs_jobs"

JOB = cast(Table, Job.__table__)
RESULT = cast(Table, JobResult.__table__)
INPUT = cast(Table, JobInput.__table__)


@dataclass(frozen=True)
class Claimed:
    id: int
    operation: str
    spec: dict[str, Any]
    use_cache: bool
    attempts: int
    max_attempts: int
    lease_token: str
    lease_expires_at: datetime
    key_root: str | None = None  # the submitting key's root: the worker narrows its roots by it
    parent_id: int | None = None  # a shard: the job it belongs to (ops/sharding.py)
    shards: int | None = None  # a job to split: how many shards were asked for
    shard_round: int | None = None  # a shard of the second round (2: dupes' hashing)

    @classmethod
    def leased(cls, row: Any, token: str, expires_at: datetime) -> "Claimed":
        """The job of ``row`` (a jobs row), now leased by ``token`` until ``expires_at``."""
        return cls(
            id=row.id,
            operation=row.operation,
            spec=row.spec,
            use_cache=row.use_cache,
            attempts=row.attempts,
            max_attempts=row.max_attempts,
            lease_token=token,
            lease_expires_at=expires_at,
            key_root=row.key_root,
            parent_id=row.parent_id,
            shards=row.shards,
            shard_round=row.shard_round,
        )


@dataclass(frozen=True)
class Beat:
    """The answer to a heartbeat: whether the lease is still ours, and whether to stop."""

    held: bool
    cancel_requested: bool = False


class IdempotencyConflict(Exception):
    """The Idempotency-Key was used before with another operation or other params."""


class TooManyActiveJobs(Exception):
    """The key already has ``most`` jobs queued or running (VEGAFS_MAX_ACTIVE_JOBS_PER_KEY)."""

    def __init__(self, owner: str, most: int) -> None:
        super().__init__(f"{owner!r} has {most} jobs queued or running")
        self.owner = owner
        self.most = most


def _bump() -> dict[str, Any]:
    return {"version": JOB.c.version + 1, "updated_at": utcnow()}


def db_now(db: Database, plus_s: float = 0.0) -> ColumnElement[datetime]:
    """The database's current time (naive UTC) plus ``plus_s`` seconds, as a SQL expression.

    PostgreSQL: ``timezone('UTC', now())`` (the transaction's start). SQLite keeps DATETIME as
    text, ``YYYY-MM-DD HH:MM:SS.ffffff``, which compares in time order: the expression builds the
    same text (``strftime`` gives milliseconds; ``000`` pads them to microseconds). SQLite's
    clock is the host's, the only one that shares an SQLite file."""
    if db.is_sqlite:
        modifier = f"{plus_s:+.6f} seconds"
        value: Any = func.strftime("%Y-%m-%d %H:%M:%f", "now", modifier).concat("000")
        return type_coerce(value, DateTime())
    now: Any = func.timezone("UTC", func.now())
    if plus_s:
        now = now + literal(timedelta(seconds=plus_s))
    return type_coerce(now, DateTime())


def database_time(db: Database) -> datetime:
    """What :func:`db_now` reads: the database's current time, naive UTC."""
    with db.read() as conn:
        value: datetime = conn.execute(select(db_now(db))).scalar_one()
    return value


def submit(
    db: Database,
    *,
    operation: str,
    spec: dict[str, Any],
    owner: str,
    priority: int = 0,
    max_attempts: int = 3,
    use_cache: bool = True,
    idempotency_key: str | None = None,
    key_root: str | None = None,
    most_active: int | None = None,
    shards: int | None = None,
) -> tuple[Row[Any], bool]:
    """Queue a job. Returns (job, created); a repeated idempotency key returns the first job.
    ``key_root``: the submitting key's root, kept so that every attempt (and a retry) confines
    the job's paths to it again. ``most_active``: TooManyActiveJobs when ``owner`` already has
    that many jobs queued or running, counted in the INSERT's transaction. On SQLite, which
    admits one writer at a time, the limit is exact; on PostgreSQL, submits of one key that run
    at the same moment do not see each other's rows, so each of them can pass the limit by one
    (docs/api/index.md: a lock per key would make it exact, but it would hold each key to one
    commit at a time, under 300 submits/s: docs/benchmarks.md). ``shards``: split the job
    into that many shards when a worker takes it (ops/sharding.py)."""
    values = new_job_values(
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
    with db.write() as conn:
        if idempotency_key is not None:
            existing = _by_idempotency_key(conn, owner, idempotency_key)
            if existing is not None:
                return _same_request(existing, operation, spec), False
        if most_active is not None and (
            conn.execute(count_active_of(owner)).scalar_one() >= most_active
        ):
            raise TooManyActiveJobs(owner, most_active)
        row = conn.execute(_insert_ignoring_conflict(db), values).first()
        if row is None:  # a concurrent request with the same key won the race
            existing = _by_idempotency_key(conn, owner, idempotency_key or "")
            assert existing is not None
            return _same_request(existing, operation, spec), False
        if not db.is_sqlite:
            conn.execute(text(f"NOTIFY {NOTIFY_CHANNEL}"))
        return row, True


def new_job_values(
    *,
    operation: str,
    spec: dict[str, Any],
    owner: str,
    priority: int,
    max_attempts: int,
    use_cache: bool,
    idempotency_key: str | None,
    key_root: str | None,
    shards: int | None = None,
    parent_id: int | None = None,
    shard_round: int | None = None,
) -> dict[str, Any]:
    """Every column of a new, queued job."""
    now = utcnow()
    return {
        "operation": operation,
        "spec": spec,
        "status": "queued",
        "priority": priority,
        "use_cache": use_cache,
        "attempts": 0,
        "max_attempts": max_attempts,
        "run_after": now,
        "owner": owner,
        "idempotency_key": idempotency_key,
        "key_root": key_root,
        "shards": shards,
        "parent_id": parent_id,
        "shard_round": shard_round,
        "cancel_requested": False,
        "result_rows": 0,
        "version": 1,
        "created_at": now,
        "updated_at": now,
    }


def _insert_ignoring_conflict(db: Database) -> Any:
    """The INSERT, built once: the values go as parameters. (Built per call with ``.values()``,
    the statement and its cache key cost about a third of a submit's CPU time.)"""
    return _INSERT_SQLITE if db.is_sqlite else _INSERT_PG


_INSERT_PG = postgresql.insert(JOB).on_conflict_do_nothing().returning(*JOB.c)
_INSERT_SQLITE = sqlite.insert(JOB).on_conflict_do_nothing().returning(*JOB.c)


def _by_idempotency_key(conn: Connection, owner: str, key: str) -> Row[Any] | None:
    stmt = select(JOB).where(JOB.c.owner == owner, JOB.c.idempotency_key == key)
    return conn.execute(stmt).first()


def _same_request(row: Row[Any], operation: str, spec: dict[str, Any]) -> Row[Any]:
    ensure_same_request(row._mapping, operation, spec)
    return row


def ensure_same_request(job: Mapping[Any, Any], operation: str, spec: dict[str, Any]) -> None:
    """IdempotencyConflict unless ``job`` (found by its Idempotency-Key) asked for the same."""
    if job["operation"] != operation or job["spec"] != spec:
        raise IdempotencyConflict(
            f"Idempotency-Key was first used for job {job['id']} with other parameters"
        )


def get(db: Database, job_id: int) -> Row[Any] | None:
    with db.read() as conn:
        return conn.execute(select(JOB).where(JOB.c.id == job_id)).first()


def list_jobs(
    db: Database,
    *,
    owner: str | None,
    statuses: Sequence[str] = (),
    operation: str | None = None,
    before_id: int | None = None,
    limit: int = 50,
    parent_id: int | None = None,
) -> list[Row[Any]]:
    """Newest first; ``before_id`` is the cursor (the last id of the previous page). Jobs that
    are shards of another are left out, unless ``parent_id`` asks for that job's shards."""
    stmt = select(JOB).order_by(JOB.c.id.desc()).limit(limit)
    stmt = stmt.where(
        JOB.c.parent_id.is_(None) if parent_id is None else JOB.c.parent_id == parent_id
    )
    if owner is not None:
        stmt = stmt.where(JOB.c.owner == owner)
    if statuses:
        stmt = stmt.where(JOB.c.status.in_(statuses))
    if operation is not None:
        stmt = stmt.where(JOB.c.operation == operation)
    if before_id is not None:
        stmt = stmt.where(JOB.c.id < before_id)
    with db.read() as conn:
        return list(conn.execute(stmt))


def results(db: Database, job_id: int, *, after_seq: int = -1, limit: int = 1000) -> list[Row[Any]]:
    stmt = (
        select(RESULT.c.seq, RESULT.c.data)
        .where(RESULT.c.job_id == job_id, RESULT.c.seq > after_seq)
        .order_by(RESULT.c.seq)
        .limit(limit)
    )
    with db.read() as conn:
        return list(conn.execute(stmt))


def counts_by_status(db: Database) -> dict[tuple[str, str], int]:
    stmt = select(JOB.c.operation, JOB.c.status, func.count()).group_by(
        JOB.c.operation, JOB.c.status
    )
    with db.read() as conn:
        return {(op, status): n for op, status, n in conn.execute(stmt)}


def queue_depth(db: Database) -> int:
    stmt = select(func.count()).where(JOB.c.status == "queued", JOB.c.run_after <= db_now(db))
    with db.read() as conn:
        return int(conn.execute(stmt).scalar_one())


# ---- the queue: claim, heartbeat, rows, completion ---------------------------------------------


def claim(db: Database, worker_id: str, lease_s: float) -> Claimed | None:
    """Take the next due job: highest priority, then oldest. One statement on both databases:
    a fenced (MATERIALIZED) CTE picks the row with ``FOR UPDATE SKIP LOCKED`` on PostgreSQL, so
    concurrent workers skip each other's rows; SQLite runs it under ``BEGIN IMMEDIATE``.

    A claim never starts an attempt beyond ``max_attempts``: a queued job whose attempts are all
    used (a worker stopping gracefully gives back a job in its last attempt) ends ``failed``
    (``attempts-exhausted``) in the same transaction, and the next due job is taken instead."""
    with db.write() as conn:
        while True:
            claimed = _claim_one(db, conn, worker_id, lease_s)
            if claimed is None or claimed.attempts <= claimed.max_attempts:
                return claimed
            _exhausted(conn, claimed)


def _exhausted(conn: Connection, job: Claimed) -> None:
    """End a job whose claim would have started attempt max + 1, as if it was never claimed."""
    error = {
        "type": "attempts-exhausted",
        "message": f"all {job.max_attempts} attempts were used; the last one did not finish",
    }
    conn.execute(
        update(JOB)
        .where(JOB.c.id == job.id, JOB.c.lease_token == job.lease_token)
        .values(
            status="failed",
            attempts=JOB.c.max_attempts,
            error=error,
            finished_at=utcnow(),
            lease_token=None,
            lease_expires_at=None,
            worker_id=None,
            **_bump(),
        )
    )


def _claim_one(db: Database, conn: Connection, worker_id: str, lease_s: float) -> Claimed | None:
    token = secrets.token_hex(16)
    pick = (
        select(JOB.c.id)
        .where(JOB.c.status == "queued", JOB.c.run_after <= db_now(db))
        .order_by(JOB.c.priority.desc(), JOB.c.run_after, JOB.c.id)
        .limit(1)
        .with_for_update(skip_locked=True)
        .cte("next_job")
        .prefix_with("MATERIALIZED")
    )
    stmt = (
        update(JOB)
        .where(JOB.c.id.in_(select(pick.c.id)))
        .values(
            status="running",
            lease_token=token,
            lease_expires_at=db_now(db, lease_s),
            worker_id=worker_id,
            attempts=JOB.c.attempts + 1,
            started_at=db_now(db),
            progress=None,
            error=None,
            **_bump(),
        )
        .returning(
            JOB.c.id,
            JOB.c.operation,
            JOB.c.spec,
            JOB.c.use_cache,
            JOB.c.attempts,
            JOB.c.max_attempts,
            JOB.c.lease_expires_at,
            JOB.c.key_root,
            JOB.c.parent_id,
            JOB.c.shards,
            JOB.c.shard_round,
        )
    )
    row = conn.execute(stmt).first()
    if row is None:
        return None
    # Rows of an earlier attempt that died half-way are not part of this attempt's result.
    conn.execute(delete(RESULT).where(RESULT.c.job_id == row.id))
    return Claimed.leased(row, token, row.lease_expires_at)


def reclaim_expired(db: Database) -> list[int]:
    """Jobs whose worker stopped renewing its lease go back to the queue (or end, when their
    attempts are used up or a cancel was asked for). Returns the ids touched. Expiry is decided
    by the database's clock."""
    now = utcnow()
    expired = and_(JOB.c.status == "running", JOB.c.lease_expires_at < db_now(db))
    with db.write() as conn:
        ids = [r.id for r in conn.execute(select(JOB.c.id).where(expired))]
        if not ids:
            return []
        lost = {"type": "lease-expired", "message": "the worker stopped renewing its lease"}
        common = {"lease_token": None, "lease_expires_at": None, "worker_id": None, **_bump()}
        conn.execute(
            update(JOB)
            .where(JOB.c.id.in_(ids), expired, JOB.c.cancel_requested)
            .values(status="cancelled", finished_at=now, **common)
        )
        conn.execute(
            update(JOB)
            .where(JOB.c.id.in_(ids), expired, JOB.c.attempts >= JOB.c.max_attempts)
            .values(status="failed", finished_at=now, error=lost, **common)
        )
        conn.execute(
            update(JOB)
            .where(JOB.c.id.in_(ids), expired)
            .values(status="queued", run_after=db_now(db), error=lost, **common)
        )
        if not db.is_sqlite:
            conn.execute(text(f"NOTIFY {NOTIFY_CHANNEL}"))
    return ids


def _fenced(job_id: int, token: str) -> Any:
    return and_(JOB.c.id == job_id, JOB.c.lease_token == token, JOB.c.status == "running")


def heartbeat(
    db: Database, job_id: int, token: str, lease_s: float, progress: dict[str, Any]
) -> Beat:
    """Renew the lease and record progress; tells whether a cancel was asked for."""
    stmt = (
        update(JOB)
        .where(_fenced(job_id, token))
        .values(lease_expires_at=db_now(db, lease_s), progress=progress, **_bump())
        .returning(JOB.c.cancel_requested)
    )
    with db.write() as conn:
        row = conn.execute(stmt).first()
    return Beat(held=False) if row is None else Beat(held=True, cancel_requested=row[0])


def add_rows(
    db: Database,
    job_id: int,
    token: str,
    first_seq: int,
    rows: Iterable[dict[str, Any]],
    lease_s: float | None = None,
) -> bool:
    """Append one batch of result rows, if the lease is still ours; with ``lease_s``, the write
    renews the lease too (a long stream of writes is itself a sign of life)."""
    batch = [{"job_id": job_id, "seq": first_seq + i, "data": d} for i, d in enumerate(rows)]
    values: dict[str, Any] = {"updated_at": utcnow()}
    if lease_s is not None:
        values["lease_expires_at"] = db_now(db, lease_s)
    with db.write() as conn:
        held = conn.execute(update(JOB).where(_fenced(job_id, token)).values(**values)).rowcount
        if held != 1:
            return False
        if batch:
            conn.execute(insert(RESULT), batch)
    return True


def finish(
    db: Database,
    job_id: int,
    token: str,
    *,
    status: str,
    progress: dict[str, Any] | None = None,
    summary: dict[str, Any] | None = None,
    error: dict[str, Any] | None = None,
    result_rows: int = 0,
) -> bool:
    """End the attempt: succeeded, failed or cancelled. False: the lease was lost."""
    assert status in FINISHED
    now = utcnow()
    values: dict[str, Any] = {
        "status": status,
        "summary": summary,
        "error": error,
        "result_rows": result_rows,
        "finished_at": now,
        "lease_token": None,
        "lease_expires_at": None,
        **_bump(),
    }
    if progress is not None:
        values["progress"] = progress
    with db.write() as conn:
        return conn.execute(update(JOB).where(_fenced(job_id, token)).values(values)).rowcount == 1


def retry_later(
    db: Database, job_id: int, token: str, *, delay_s: float, error: dict[str, Any]
) -> bool:
    """Give the job back to the queue after a transient failure, due in ``delay_s``."""
    values = {
        "status": "queued",
        "run_after": db_now(db, delay_s),
        "error": error,
        "lease_token": None,
        "lease_expires_at": None,
        "worker_id": None,
        **_bump(),
    }
    with db.write() as conn:
        return conn.execute(update(JOB).where(_fenced(job_id, token)).values(values)).rowcount == 1


# ---- what the API asks ----------------------------------------------------------------------


def request_cancel(db: Database, job_id: int) -> Row[Any] | None:
    """A queued job is cancelled at once; a running one is asked to stop (its worker sees the
    flag at its next heartbeat). A finished job is left as it is. The shards of a sharded job
    are cancelled with it (the job ends ``cancelled`` when the last of them has stopped)."""
    with db.write() as conn:
        cancel_jobs(conn, JOB.c.id == job_id)
        cancel_jobs(conn, JOB.c.parent_id == job_id)
        # A sharded job waiting for shards that are all ended now (they were queued) ends here.
        shard = JOB.alias("shard")
        unfinished = select(shard.c.id).where(
            shard.c.parent_id == job_id, shard.c.status.in_(("queued", "running"))
        )
        conn.execute(
            update(JOB)
            .where(
                JOB.c.id == job_id,
                JOB.c.status == "running",
                JOB.c.lease_token.is_(None),
                JOB.c.shards.is_not(None),
                ~unfinished.exists(),
                select(shard.c.id).where(shard.c.parent_id == job_id).exists(),
            )
            .values(status="cancelled", finished_at=utcnow(), **_bump())
        )
        return conn.execute(select(JOB).where(JOB.c.id == job_id)).first()


def cancel_jobs(conn: Connection, which: ColumnElement[bool]) -> None:
    """Cancel the queued jobs ``which`` selects, and ask the running ones to stop."""
    conn.execute(
        update(JOB)
        .where(which, JOB.c.status == "queued")
        .values(status="cancelled", cancel_requested=True, finished_at=utcnow(), **_bump())
    )
    conn.execute(
        update(JOB)
        .where(which, JOB.c.status == "running", ~JOB.c.cancel_requested)
        .values(cancel_requested=True, **_bump())
    )


def queued_afresh(db: Database) -> dict[str, Any]:
    """A job's columns when it is queued again from the start (a retry): no attempt made yet,
    nothing of the earlier run kept."""
    return {
        "status": "queued",
        "attempts": 0,
        "run_after": db_now(db),
        "cancel_requested": False,
        "error": None,
        "summary": None,
        "progress": None,
        "result_rows": 0,
        "started_at": None,
        "finished_at": None,
    }


def requeue(db: Database, job_id: int) -> Row[Any] | None:
    """Retry a failed or cancelled job: queued again with its attempts reset, results dropped."""
    with db.write() as conn:
        done = conn.execute(
            update(JOB)
            .where(JOB.c.id == job_id, JOB.c.status.in_(("failed", "cancelled")))
            .values(**queued_afresh(db), **_bump())
        ).rowcount
        if done:
            conn.execute(delete(RESULT).where(RESULT.c.job_id == job_id))
            if not db.is_sqlite:
                conn.execute(text(f"NOTIFY {NOTIFY_CHANNEL}"))
        return conn.execute(select(JOB).where(JOB.c.id == job_id)).first()


def delete_finished(db: Database, job_id: int) -> bool:
    """A finished job and its results go, and its shards with theirs (a shard still stopping
    after its job failed loses its lease: its writes match no row)."""
    with db.write() as conn:
        finished = select(JOB.c.id).where(JOB.c.id == job_id, JOB.c.status.in_(FINISHED))
        shards = select(JOB.c.id).where(JOB.c.parent_id.in_(finished))
        conn.execute(delete(RESULT).where(RESULT.c.job_id.in_(shards)))
        conn.execute(delete(INPUT).where(INPUT.c.job_id.in_(shards)))
        conn.execute(delete(JOB).where(JOB.c.id.in_(shards)))
        conn.execute(
            delete(RESULT).where(
                RESULT.c.job_id == job_id,
                RESULT.c.job_id.in_(finished),
            )
        )
        return (
            conn.execute(delete(JOB).where(JOB.c.id == job_id, JOB.c.status.in_(FINISHED))).rowcount
            == 1
        )


def active_count_of(db: Database, owner: str) -> int:
    """How many of ``owner``'s jobs are queued or running. The condition is written as the
    partial index ix_jobs_owner_active's own (literal values: SQLite matches a partial index only
    on the same terms), so the count reads that index, not the key's whole history."""
    with db.read() as conn:
        return int(conn.execute(count_active_of(owner)).scalar_one())


def count_active_of(owner: str) -> Select[int]:
    """The statement :func:`active_count_of` runs. A sharded job counts once (its shards are
    not counted: ACTIVE says so)."""
    return select(func.count()).select_from(JOB).where(JOB.c.owner == owner, text(ACTIVE))

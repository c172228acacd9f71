"""The tables. One job table serves SQLite and PostgreSQL alike.

Times are naive UTC. The times a lease depends on (``lease_expires_at``, ``run_after``, and the
comparisons with them) come from the database's clock (``db.jobs.db_now``), so that a worker
host whose clock is off cannot steal a live job; the others (created, updated, finished) are
written by the application.
"""

from datetime import datetime
from typing import Any, ClassVar

from sqlalchemy import (
    JSON,
    BigInteger,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    String,
    UniqueConstraint,
    text,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

# BIGINT on PostgreSQL, INTEGER on SQLite (the rowid alias, so ids autoincrement there too).
Id = BigInteger().with_variant(Integer(), "sqlite")


class Base(DeclarativeBase):
    # none_as_null: a Python None is SQL NULL, not the JSON value null.
    type_annotation_map: ClassVar[dict[Any, Any]] = {dict[str, Any]: JSON(none_as_null=True)}


class ApiKey(Base):
    __tablename__ = "api_keys"

    id: Mapped[int] = mapped_column(Id, primary_key=True, autoincrement=True)
    name: Mapped[str] = mapped_column(String(100), unique=True)
    # The key is "vfs_<lookup>_<secret>"; lookup finds the row, the SHA-256 of the key proves it.
    lookup: Mapped[str] = mapped_column(String(16), unique=True)
    key_hash: Mapped[str] = mapped_column(String(64))
    scopes: Mapped[str] = mapped_column(String(100))  # comma-separated: read,submit,write,admin
    root: Mapped[str | None] = mapped_column(String(4096))
    created_at: Mapped[datetime]
    revoked_at: Mapped[datetime | None]


# A job that is not finished, as SQL (the partial index's condition); a sharded job counts
# once: its shards (parent_id set) are not counted.
ACTIVE = "status IN ('queued', 'running') AND parent_id IS NULL"


class Job(Base):
    __tablename__ = "jobs"

    id: Mapped[int] = mapped_column(Id, primary_key=True, autoincrement=True)
    operation: Mapped[str] = mapped_column(String(100))
    spec: Mapped[dict[str, Any]]
    status: Mapped[str] = mapped_column(String(16))  # queued running succeeded failed cancelled
    priority: Mapped[int] = mapped_column(default=0)
    use_cache: Mapped[bool] = mapped_column(default=True)
    attempts: Mapped[int] = mapped_column(default=0)
    max_attempts: Mapped[int]
    run_after: Mapped[datetime]
    lease_token: Mapped[str | None] = mapped_column(String(32))
    lease_expires_at: Mapped[datetime | None]
    worker_id: Mapped[str | None] = mapped_column(String(200))
    cancel_requested: Mapped[bool] = mapped_column(default=False)
    owner: Mapped[str] = mapped_column(String(100))  # API key name, or "local"
    # The submitting key's root (its real path), or None: the worker narrows its roots by it.
    key_root: Mapped[str | None] = mapped_column(String(4096))
    idempotency_key: Mapped[str | None] = mapped_column(String(200))
    progress: Mapped[dict[str, Any] | None]
    summary: Mapped[dict[str, Any] | None]
    error: Mapped[dict[str, Any] | None]  # {"type": ..., "message": ..., "path"?: ...}
    result_rows: Mapped[int] = mapped_column(default=0)
    # Sharding (ops/sharding.py): a shard names the job it belongs to; that job keeps the
    # number of shards it asked for; a shard of the second round (dupes' hashing) says 2.
    parent_id: Mapped[int | None] = mapped_column(
        BigInteger, ForeignKey("jobs.id", ondelete="CASCADE", name="fk_jobs_parent_id")
    )
    shards: Mapped[int | None]
    shard_round: Mapped[int | None]
    version: Mapped[int] = mapped_column(default=1)  # +1 on every change; the SSE event id
    created_at: Mapped[datetime]
    updated_at: Mapped[datetime]
    started_at: Mapped[datetime | None]
    finished_at: Mapped[datetime | None]

    __table_args__ = (
        UniqueConstraint("owner", "idempotency_key", name="uq_jobs_owner_idempotency_key"),
        Index("ix_jobs_claim", "status", "priority", "run_after"),
        Index("ix_jobs_lease", "status", "lease_expires_at"),
        Index("ix_jobs_owner", "owner", "id"),
        Index("ix_jobs_parent", "parent_id"),
        # The per-key limit counts a key's queued and running jobs at each submit: this index
        # holds those alone, so the count does not read the key's whole history.
        Index(
            "ix_jobs_owner_active",
            "owner",
            postgresql_where=text(ACTIVE),
            sqlite_where=text(ACTIVE),
        ),
    )


class JobResult(Base):
    """A job's result rows, written in batches and read by cursor (job_id, seq)."""

    __tablename__ = "job_results"

    job_id: Mapped[int] = mapped_column(
        Id, ForeignKey("jobs.id", ondelete="CASCADE"), primary_key=True
    )
    seq: Mapped[int] = mapped_column(primary_key=True, autoincrement=False)
    data: Mapped[dict[str, Any]]


class JobInput(Base):
    """A shard's input rows (a round-2 dupes shard: its files, a chunk per row), in seq order."""

    __tablename__ = "job_inputs"

    job_id: Mapped[int] = mapped_column(
        Id, ForeignKey("jobs.id", ondelete="CASCADE"), primary_key=True
    )
    seq: Mapped[int] = mapped_column(primary_key=True, autoincrement=False)
    data: Mapped[dict[str, Any]]


class WriteOp(Base):
    """The journal of one writing operation (rename...): what it was asked, how far it got.
    ``state``: applying (its renames may be under way: ``vegafs recover`` rolls it back),
    committed, rolled_back, failed (a rollback that could not finish: recover again), undone
    (committed, then reversed by an ``undo`` operation)."""

    __tablename__ = "write_ops"

    id: Mapped[int] = mapped_column(Id, primary_key=True, autoincrement=True)
    operation: Mapped[str] = mapped_column(String(100))
    params: Mapped[dict[str, Any]]
    state: Mapped[str] = mapped_column(String(16))
    steps_total: Mapped[int]
    # Every step before this one is done and its directories synced.
    steps_done: Mapped[int] = mapped_column(default=0)
    error: Mapped[str | None] = mapped_column(String(4096))
    created_at: Mapped[datetime]
    updated_at: Mapped[datetime]
    # Who runs it: "HOST pid PID start TICKS" (recovery leaves a live one alone); its job, if
    # any; the roots a job's changes stay beneath (none: anywhere).
    owner: Mapped[str | None] = mapped_column(String(300))
    job_id: Mapped[int | None] = mapped_column(BigInteger)
    beneath: Mapped[list[str] | None] = mapped_column(JSON(none_as_null=True))


class WriteStep(Base):
    """One step of a writing operation, in the order it runs: a rename, or another ``kind``
    (``vegafs.journal.kinds``). Paths are bytes (names need not be UTF-8); ``dev``/``ino``/
    ``stamp`` identify the entry it changes, which recovery looks for on disk (``stamp``: its
    mtime in ns, 0 for a directory, against a reused inode); ``backup``: where the journal's
    backup store keeps the bytes the step replaces; ``digest``: the hash of what it wrote."""

    __tablename__ = "write_steps"

    op_id: Mapped[int] = mapped_column(
        Id, ForeignKey("write_ops.id", ondelete="CASCADE"), primary_key=True
    )
    seq: Mapped[int] = mapped_column(primary_key=True, autoincrement=False)
    src: Mapped[bytes] = mapped_column(LargeBinary)
    dst: Mapped[bytes] = mapped_column(LargeBinary)
    dev: Mapped[int] = mapped_column(BigInteger)
    ino: Mapped[int] = mapped_column(BigInteger)
    stamp: Mapped[int] = mapped_column(BigInteger)
    kind: Mapped[str] = mapped_column(String(16), default="rename", server_default="rename")
    backup: Mapped[bytes | None] = mapped_column(LargeBinary)
    digest: Mapped[bytes | None] = mapped_column(LargeBinary)

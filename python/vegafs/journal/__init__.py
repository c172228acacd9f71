"""The journal of the writing operations, and what applies, rolls back and recovers them.

The guarantee (docs/concepts.md): the whole plan is in the journal, committed, before the first
change; renames never replace a target; steps advance a batch at a time, each batch's
directories fsynced before the journal says it is done; an error or a cancel rolls back the
steps done, in reverse; after a crash, ``recover`` finds on disk, by (device, inode), which
steps of an unfinished operation were done and rolls them back.
"""

from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from typing import TYPE_CHECKING, TypeVar

from vegafs.errors import AlreadyApplied, ApplyError, Cancelled
from vegafs.gc_pause import gc_paused

if TYPE_CHECKING:
    from vegafs._native import CancelToken
    from vegafs.journal.store import Journal

P = TypeVar("P")


def open_journal() -> "Journal":
    """The journal in the configured database (``VEGAFS_DATABASE_URL``; by default the local
    SQLite file), its commits durable; a local SQLite database is migrated on first use (the
    only time a writing command loads SQLAlchemy and Alembic)."""
    from vegafs.db import migrate
    from vegafs.db.plain import PlainDatabase
    from vegafs.journal.store import Journal
    from vegafs.local_settings import journal_config

    url = journal_config().database
    db = PlainDatabase(url)
    if db.is_sqlite and not migrate.plain_is_current(db):
        from vegafs.db.database import Database

        full = Database(url, pool_size=1, durable=True)
        try:
            migrate.upgrade(full)
        finally:
            full.dispose()
    return Journal(db)


@contextmanager
def applying(job_id: int | None, cancel: "CancelToken") -> Iterator["Journal"]:
    """The journal, for a writing operation about to plan and apply (``rename``, ``move``,
    ``replace``, ``copy``). First it recovers what an earlier run left half-done: the plan must
    see the tree as that run left it, restored. For a job (``job_id``) that includes what an
    earlier attempt of this job left; a job an earlier attempt applied and committed raises
    ``AlreadyApplied`` (its worker died between the commit and the job's end): a writing job is
    never simply applied again. Then, with ``VEGAFS_BACKUP_RETENTION_DAYS`` set, operations
    finished longer ago than that are forgotten. An ``ApplyError`` rolled back after ``cancel``
    becomes ``Cancelled``, so a cancelled job ends cancelled, not failed. Python's garbage
    collector is held off meanwhile (``gc_paused``: the plan's many objects hold no cycles)."""
    with gc_paused(), _recovered(job_id, cancel) as (journal, _):
        yield journal


@contextmanager
def applying_planned(
    job_id: int | None, cancel: "CancelToken", plan: Callable[[], P]
) -> Iterator[tuple["Journal", P]]:
    """``applying``, and ``plan()``'s plan, made while the journal opens and recovers: the
    core plans with the interpreter released, so on two cores the two overlap (a tenth to a
    half of a second, the journal's imports and queries). The plan counts only if recovery
    found nothing to do; otherwise it is made again, on the restored tree, and the walk's
    progress counts the entries twice. Whatever ``applying`` raises is raised once the plan
    made meanwhile has ended."""
    with gc_paused(), ThreadPoolExecutor(1, thread_name_prefix="vegafs-plan") as ahead:
        made = ahead.submit(plan)  # the pool's exit waits for it, however this ends
        with _recovered(job_id, cancel) as (journal, recovered):
            yield journal, (plan() if recovered else made.result())


@contextmanager
def _recovered(job_id: int | None, cancel: "CancelToken") -> Iterator[tuple["Journal", bool]]:
    """``applying``'s work; also says whether recovery changed anything."""
    from vegafs.journal.backups import forget_expired
    from vegafs.journal.runner import recover
    from vegafs.local_settings import journal_config

    journal = open_journal()
    try:
        recovered = recover(journal, job_id=job_id)
        if job_id is not None:
            committed = [op.id for op in journal.of_job(job_id) if op.state == "committed"]
            if committed:
                raise AlreadyApplied(committed[0])
        days = journal_config().backup_retention_days
        if days is not None:
            forget_expired(journal, days)
        yield journal, bool(recovered)
    except ApplyError as e:
        if cancel.cancelled and e.rolled_back:
            raise Cancelled("cancelled while applying; every change was rolled back") from e
        raise
    finally:
        journal.close()

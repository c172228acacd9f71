"""The SQL of sharded jobs: a job's shards are jobs of their own (``parent_id`` names it).

A sharded job's life: a worker claims it like any job and, under its lease, adds its shards
(``add_shards``), which lets the job's lease go: the job stays ``running`` with no lease while
any worker claims its shards. It *waits*; ``reclaim_expired`` never touches it (no lease to
expire). Whoever ends a shard, or sweeps the waiting jobs now and then, calls ``settle``, which
decides under the job's row lock: all shards succeeded -> the caller takes a lease on the job
to merge their results (once: the lease makes it taken); a shard failed -> the job fails and its
other shards are cancelled; a cancel was asked -> its shards are cancelled, and it ends
``cancelled`` when they all have. A claim of a job that has shards already (its retry, or the
merging worker died) re-queues its failed and cancelled shards, or merges when all succeeded.

A merge may add a second round of shards instead of ending the job (a dupes job's hashing,
``shard_round`` 2, each with its input rows in ``job_inputs``): the job waits again, and all
of the above holds for the shards of both rounds.
"""

import secrets
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Row, and_, delete, func, insert, literal, select, text, update

from vegafs.db.database import Database, utcnow
from vegafs.db.jobs import (
    INPUT,
    JOB,
    NOTIFY_CHANNEL,
    RESULT,
    Claimed,
    _bump,
    cancel_jobs,
    db_now,
    new_job_values,
    queued_afresh,
)
from vegafs.eta import eta_s

FINISHED = ("succeeded", "failed", "cancelled")


@dataclass(frozen=True)
class Settled:
    """What ``settle`` did: ``merge`` is the job, leased to the caller, when every shard has
    succeeded; ``ended`` is its new status when it ended (failed, cancelled)."""

    merge: Claimed | None = None
    ended: str | None = None


def add_shards(
    db: Database,
    job: Claimed,
    specs: Sequence[dict[str, Any]],
    *,
    shard_round: int | None = None,
    inputs: Sequence[Sequence[dict[str, Any]]] = (),
) -> list[int] | None:
    """Queue the shards of ``job`` (leased by the caller) and let its lease go: it waits for
    them. None: the lease was lost (nothing was added). ``[]``: a cancel was asked while it
    was splitting: no shard is added and the job ends ``cancelled`` (no shard ever starts).
    A second round (``shard_round=2``) is added the same way beside the first, each shard with
    its ``inputs`` rows (``job_inputs``), all in one transaction."""
    with db.write() as conn:
        parent = conn.execute(
            select(JOB)
            .where(
                JOB.c.id == job.id, JOB.c.lease_token == job.lease_token, JOB.c.status == "running"
            )
            .with_for_update()
        ).first()
        if parent is None:
            return None
        if parent.cancel_requested:
            conn.execute(
                update(JOB)
                .where(JOB.c.id == job.id)
                .values(
                    status="cancelled",
                    finished_at=utcnow(),
                    error={"type": "cancelled", "message": "cancelled while it was splitting"},
                    **_waiting(),
                    **_bump(),
                )
            )
            return []
        rows = [
            new_job_values(
                operation=parent.operation,
                spec=spec,
                owner=parent.owner,
                priority=parent.priority,
                max_attempts=parent.max_attempts,
                use_cache=False,
                idempotency_key=None,
                key_root=parent.key_root,
                parent_id=parent.id,
                shard_round=shard_round,
            )
            for spec in specs
        ]
        ids = [conn.execute(insert(JOB).values(r).returning(JOB.c.id)).scalar_one() for r in rows]
        for shard_id, shard_inputs in zip(ids, inputs, strict=False):
            if shard_inputs:
                conn.execute(
                    insert(INPUT),
                    [{"job_id": shard_id, "seq": i, "data": d} for i, d in enumerate(shard_inputs)],
                )
        children = list(
            conn.execute(
                select(JOB.c.id, JOB.c.status, JOB.c.progress).where(JOB.c.parent_id == job.id)
            )
        )
        done = sum(c.status in FINISHED for c in children)
        progress = sum_progress(parent.progress, children, done, parent.started_at)
        conn.execute(
            update(JOB).where(JOB.c.id == job.id).values(**_waiting(), progress=progress, **_bump())
        )
        if not db.is_sqlite:
            conn.execute(text(f"NOTIFY {NOTIFY_CHANNEL}"))
    return ids


def sizes_seen_twice(db: Database, shard_ids: Sequence[int]) -> set[int]:
    """The ``size`` values found in two or more of the result rows of ``shard_ids`` (a dupes
    job's walks: the sizes of its candidates), counted in the database (about 4x faster than
    reading every row into Python; the size as text, so a size past 2^31 stays exact)."""
    size = RESULT.c.data["size"].as_string()
    stmt = (
        select(size).where(RESULT.c.job_id.in_(shard_ids)).group_by(size).having(func.count() > 1)
    )
    with db.read() as conn:
        return {int(r[0]) for r in conn.execute(stmt)}


def inputs_of(db: Database, job_id: int) -> list[dict[str, Any]]:
    """A shard's input rows (``add_shards``' ``inputs``), in order."""
    with db.read() as conn:
        rows = conn.execute(
            select(INPUT.c.data).where(INPUT.c.job_id == job_id).order_by(INPUT.c.seq)
        )
        return [r.data for r in rows]


def _waiting() -> dict[str, Any]:
    return {"lease_token": None, "lease_expires_at": None, "worker_id": None}


def shards_of(db: Database, job_id: int) -> list[Row[Any]]:
    """A job's shards in id order (the order their results are merged in)."""
    with db.read() as conn:
        return list(conn.execute(select(JOB).where(JOB.c.parent_id == job_id).order_by(JOB.c.id)))


def resume(db: Database, job: Claimed) -> None:
    """A job claimed again that has shards (retried, or its merging worker died): its failed
    and cancelled shards are queued again, and it waits for them."""
    with db.write() as conn:
        _rerun(db, conn, and_(JOB.c.parent_id == job.id, JOB.c.status.in_(("failed", "cancelled"))))
        conn.execute(
            update(JOB)
            .where(JOB.c.parent_id == job.id, JOB.c.status == "running")
            .values(cancel_requested=False, **_bump())
        )
        conn.execute(
            update(JOB)
            .where(JOB.c.id == job.id, JOB.c.lease_token == job.lease_token)
            .values(**_waiting(), error=None, **_bump())
        )
        if not db.is_sqlite:
            conn.execute(text(f"NOTIFY {NOTIFY_CHANNEL}"))


def _rerun(db: Database, conn: Any, which: Any) -> None:
    """Queue the shards ``which`` selects again, as a retry does: attempts reset, rows gone."""
    conn.execute(delete(RESULT).where(RESULT.c.job_id.in_(select(JOB.c.id).where(which))))
    conn.execute(update(JOB).where(which).values(**queued_afresh(db), **_waiting(), **_bump()))


def settle(db: Database, job_id: int, worker_id: str, lease_s: float) -> Settled:
    """Decide a waiting job's next step from its shards (see the module's doc); its progress
    becomes the sum of theirs. Safe to call from any worker at any time: the job's row is
    locked (SQLite: the write transaction) and only a waiting job is touched."""
    with db.write() as conn:
        job = conn.execute(select(JOB).where(JOB.c.id == job_id).with_for_update()).first()
        if job is None or job.status != "running" or job.lease_token is not None:
            return Settled()
        shards = list(
            conn.execute(
                select(JOB.c.id, JOB.c.status, JOB.c.error, JOB.c.progress, JOB.c.cancel_requested)
                .where(JOB.c.parent_id == job_id)
                .order_by(JOB.c.id)
            )
        )
        if not shards:
            return Settled()
        done = [s for s in shards if s.status in FINISHED]
        progress = sum_progress(job.progress, shards, len(done), job.started_at)
        now = utcnow()
        if job.cancel_requested:
            cancel_jobs(conn, JOB.c.parent_id == job_id)
            if len(done) == len(shards):
                conn.execute(
                    update(JOB)
                    .where(JOB.c.id == job_id)
                    .values(status="cancelled", finished_at=now, progress=progress, **_bump())
                )
                return Settled(ended="cancelled")
            _set_progress(conn, job_id, job.progress, progress)
            return Settled()
        # A shard cancelled while its job is not (it was still stopping when the job, failed
        # by another shard, was retried; or it was cancelled alone) runs again.
        stopped = [s.id for s in shards if s.status == "cancelled"]
        if stopped:
            _rerun(db, conn, JOB.c.id.in_(stopped))
            if not db.is_sqlite:
                conn.execute(text(f"NOTIFY {NOTIFY_CHANNEL}"))
            done = [s for s in done if s.id not in stopped]
        broken = next((s for s in shards if s.status == "failed"), None)
        if broken is not None:
            cancel_jobs(conn, JOB.c.parent_id == job_id)
            conn.execute(
                update(JOB)
                .where(JOB.c.id == job_id)
                .values(
                    status="failed",
                    finished_at=now,
                    progress=progress,
                    error=_shard_error(broken, shards),
                    **_bump(),
                )
            )
            return Settled(ended="failed")
        if len(done) < len(shards):
            _set_progress(conn, job_id, job.progress, progress)
            return Settled()
        token = secrets.token_hex(16)
        row = conn.execute(
            update(JOB)
            .where(JOB.c.id == job_id)
            .values(
                lease_token=token,
                lease_expires_at=db_now(db, lease_s),
                worker_id=worker_id,
                progress=progress,
                **_bump(),
            )
            .returning(JOB.c.lease_expires_at)
        ).one()
        return Settled(merge=Claimed.leased(job, token, row.lease_expires_at))


def _shard_error(broken: Any, shards: Sequence[Any]) -> dict[str, Any]:
    n = next(i for i, s in enumerate(shards, 1) if s.id == broken.id)
    cause = broken.error or {"type": broken.status, "message": broken.status}
    what = "failed" if broken.status == "failed" else "was cancelled"
    return {
        "type": "shard-failed",
        "message": f"shard {n} of {len(shards)} (job {broken.id}) {what}: "
        f"{cause.get('message', cause.get('type'))}",
        "shard": broken.id,
        "shard_error": cause,
    }


SUMMED = ("entries", "dirs", "bytes", "errors")


def sum_progress(
    before: dict[str, Any] | None, shards: Sequence[Any], done: int, started: Any = None
) -> dict[str, Any]:
    """A sharded job's progress: its shards' counters added up, how many have ended, and (with
    ``started``, when the job started) the time since and the ETA at the rate shards end."""
    progress: dict[str, Any] = dict.fromkeys(SUMMED, 0)
    for s in shards:
        for k in SUMMED:
            progress[k] += int((s.progress or {}).get(k) or 0)
    progress["shards"] = len(shards)
    progress["shards_done"] = done
    progress["eta_s"] = 0.0 if done == len(shards) else None
    if started is not None:
        elapsed = round(max(0.0, (utcnow() - started).total_seconds()), 3)
        progress["elapsed_s"] = elapsed
        progress["eta_s"] = eta_s(elapsed, done, len(shards))
    return {**(before or {}), **progress}


def _set_progress(conn: Any, job_id: int, before: Any, progress: dict[str, Any]) -> None:
    if before != progress:
        conn.execute(update(JOB).where(JOB.c.id == job_id).values(progress=progress, **_bump()))


def refresh_progress(db: Database, job_id: int) -> None:
    """The waiting job's progress as the sum of its shards' (a shard's worker calls it now and
    then while it runs). No row lock: a later refresh or ``settle`` corrects a stale sum."""
    with db.write() as conn:
        job = conn.execute(
            select(JOB.c.progress, JOB.c.lease_token, JOB.c.started_at).where(JOB.c.id == job_id)
        ).first()
        if job is None or job.lease_token is not None:
            return
        shards = list(
            conn.execute(
                select(JOB.c.id, JOB.c.status, JOB.c.progress).where(JOB.c.parent_id == job_id)
            )
        )
        done = sum(s.status in FINISHED for s in shards)
        progress = sum_progress(job.progress, shards, done, job.started_at)
        _set_progress(conn, job_id, job.progress, progress)


def waiting(db: Database) -> list[int]:
    """The jobs waiting for their shards (running, with no lease)."""
    stmt = select(JOB.c.id).where(
        JOB.c.status == "running", JOB.c.lease_token.is_(None), JOB.c.shards.is_not(None)
    )
    with db.read() as conn:
        return [r.id for r in conn.execute(stmt)]


def copy_rows(db: Database, job: Claimed, shard_ids: Sequence[int]) -> int | None:
    """Append the shards' result rows to the job's, in shard order, in the database; the count,
    or None when the job's lease was lost."""
    total = 0
    for shard_id in shard_ids:
        with db.write() as conn:
            held = conn.execute(
                update(JOB)
                .where(
                    JOB.c.id == job.id,
                    JOB.c.lease_token == job.lease_token,
                    JOB.c.status == "running",
                )
                .values(updated_at=utcnow())
            ).rowcount
            if held != 1:
                return None
            conn.execute(
                insert(RESULT).from_select(
                    ["job_id", "seq", "data"],
                    select(literal(job.id), RESULT.c.seq + total, RESULT.c.data).where(
                        RESULT.c.job_id == shard_id
                    ),
                )
            )
            n = conn.execute(
                select(func.count()).select_from(RESULT).where(RESULT.c.job_id == shard_id)
            ).scalar_one()
        total += int(n)
    return total

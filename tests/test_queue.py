"""The queue's SQL on both databases: order, leases, reclaiming, retries, concurrency."""

import threading
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta
from functools import partial
from pathlib import Path

import pytest
from sqlalchemy import update

from stack import Backend
from vegafs.db import Database, migrate
from vegafs.db import jobs as q
from vegafs.db.database import utcnow
from vegafs.errors import Cancelled, SelectionError
from vegafs.jobs.failures import backoff_s, describe, is_transient


@pytest.fixture
def db(backend: Backend, tmp_path: Path) -> Iterator[Database]:
    database = Database(backend.database_url or f"sqlite:///{tmp_path / 'q.db'}")
    if backend.embedded:
        migrate.upgrade(database)
    yield database
    database.dispose()


def submit(db: Database, n: int = 1, **kw: object) -> list[int]:
    return [
        q.submit(db, operation="analyze", spec={"n": i}, owner="t", **kw)[0].id  # type: ignore[arg-type]
        for i in range(n)
    ]


def expire(db: Database, job_id: int) -> None:
    with db.write() as conn:
        conn.execute(
            update(q.JOB)
            .where(q.JOB.c.id == job_id)
            .values(lease_expires_at=utcnow() - timedelta(seconds=1))
        )


def test_claims_go_by_priority_then_age(db: Database) -> None:
    low = submit(db)[0]
    high = submit(db, priority=5)[0]
    later = submit(db)[0]
    order = [q.claim(db, "w", 30) for _ in range(4)]
    assert [c.id if c else None for c in order] == [high, low, later, None]


def test_a_job_retried_later_is_not_claimed_before_its_time(db: Database) -> None:
    job = q.claim(db, "w", 30) if submit(db) else None
    assert job is not None
    assert q.retry_later(db, job.id, job.lease_token, delay_s=60, error={"type": "io-error"})
    assert q.claim(db, "w", 30) is None
    row = q.get(db, job.id)
    assert row is not None
    assert (row.status, row.attempts, row.error) == ("queued", 1, {"type": "io-error"})
    assert q.queue_depth(db) == 0


def test_expired_leases_are_reclaimed_until_attempts_run_out(db: Database) -> None:
    [job_id] = submit(db, max_attempts=2)
    for attempt in (1, 2):
        claimed = q.claim(db, "w", 30)
        assert claimed is not None
        assert (claimed.id, claimed.attempts) == (job_id, attempt)
        expire(db, job_id)
        assert q.reclaim_expired(db) == [job_id]
    row = q.get(db, job_id)
    assert row is not None
    assert (row.status, row.error["type"], row.lease_token) == ("failed", "lease-expired", None)
    assert q.claim(db, "w", 30) is None


def test_an_expired_job_asked_to_cancel_ends_cancelled(db: Database) -> None:
    [job_id] = submit(db)
    claimed = q.claim(db, "w", 30)
    assert claimed is not None
    row = q.request_cancel(db, job_id)
    assert row is not None
    assert (row.status, row.cancel_requested) == ("running", True)
    beat = q.heartbeat(db, job_id, claimed.lease_token, 30, {"entries": 1})
    assert beat == q.Beat(held=True, cancel_requested=True)
    expire(db, job_id)
    q.reclaim_expired(db)
    row = q.get(db, job_id)
    assert row is not None
    assert row.status == "cancelled"


def test_a_reclaimed_attempt_starts_without_the_old_rows(db: Database) -> None:
    [job_id] = submit(db)
    first = q.claim(db, "w1", 30)
    assert first is not None
    assert q.add_rows(db, job_id, first.lease_token, 0, [{"a": 1}, {"a": 2}])
    expire(db, job_id)
    q.reclaim_expired(db)
    second = q.claim(db, "w2", 30)
    assert second is not None
    assert q.results(db, job_id) == []
    assert not q.add_rows(db, job_id, first.lease_token, 2, [{"a": 3}])
    assert q.add_rows(db, job_id, second.lease_token, 0, [{"b": 1}])
    assert q.finish(db, job_id, second.lease_token, status="succeeded", result_rows=1)
    assert [tuple(r) for r in q.results(db, job_id)] == [(0, {"b": 1})]


def run_in_threads(work: list[Callable[[], None]]) -> None:
    """Run each function on its own thread at once; an exception in any fails the test."""
    with ThreadPoolExecutor(max_workers=len(work)) as pool:
        for future in [pool.submit(w) for w in work]:
            future.result(timeout=120)


def test_concurrent_claimers_never_share_a_job(db: Database) -> None:
    ids = submit(db, 60)
    got: list[int] = []
    lock = threading.Lock()

    def claimer(n: int) -> None:
        while (job := q.claim(db, f"w{n}", 30)) is not None:
            with lock:
                got.append(job.id)

    run_in_threads([partial(claimer, n) for n in range(6)])
    assert sorted(got) == ids


def test_concurrent_submissions_with_one_idempotency_key_make_one_job(db: Database) -> None:
    created: list[bool] = []
    ids: list[int] = []

    def submitter() -> None:
        row, new = q.submit(db, operation="analyze", spec={}, owner="t", idempotency_key="k")
        created.append(new)
        ids.append(row.id)

    run_in_threads([submitter] * 8)
    assert created.count(True) == 1
    assert len(set(ids)) == 1


def test_failures_are_classified_and_backed_off() -> None:
    assert not is_transient(FileNotFoundError(2, "No such file or directory", "/x"))
    assert not is_transient(SelectionError("bad glob", "include"))
    assert not is_transient(Cancelled())
    assert is_transient(OSError(5, "Input/output error", "/x"))
    assert is_transient(RuntimeError("boom"))
    assert describe(FileNotFoundError(2, "No such file or directory", "/x")) == {
        "type": "not-found",
        "message": "No such file or directory",
        "path": "/x",
    }
    assert describe(SelectionError("bad glob", "include"))["field"] == "include"
    delays = [backoff_s(n, 2.0, 30.0) for n in (1, 2, 3, 4, 5)]
    for got, base in zip(delays, (2, 4, 8, 16, 30), strict=True):
        assert base <= got <= base * 1.1

"""The queue's SQL on both databases: order, leases, reclaiming, retries, concurrency."""

import threading
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime, timedelta
from functools import partial
from pathlib import Path

import pytest
from sqlalchemy import text, update

from stack import Backend
from vegafs.db import Database, migrate
from vegafs.db import jobs as q
from vegafs.db.database import utcnow
from vegafs.errors import Cancelled, PathNotAllowed, PathPermissionDenied, SelectionError
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


@pytest.mark.parametrize("backend", ["sqlite"], indirect=True)  # PostgreSQL's: docs/api
def test_concurrent_submissions_never_exceed_the_per_key_limit(db: Database) -> None:
    """The count and the INSERT are one transaction, and SQLite admits one writer at a time: 12
    submits at once against a limit of 3 make exactly 3 jobs; another owner is not held back."""
    outcomes: list[str] = []

    def submitter(n: int) -> None:
        try:
            q.submit(db, operation="analyze", spec={"n": n}, owner="t", most_active=3)
            outcomes.append("created")
        except q.TooManyActiveJobs as e:
            outcomes.append(f"refused at {e.most}")

    run_in_threads([partial(submitter, n) for n in range(12)])
    assert sorted(outcomes) == ["created"] * 3 + ["refused at 3"] * 9
    assert q.active_count_of(db, "t") == 3
    assert q.submit(db, operation="analyze", spec={}, owner="u", most_active=3)[1] is True


def test_a_repeated_idempotency_key_gives_its_job_even_at_the_limit(db: Database) -> None:
    first, created = q.submit(
        db, operation="analyze", spec={}, owner="t", idempotency_key="k", most_active=1
    )
    assert created
    with pytest.raises(q.TooManyActiveJobs):
        q.submit(db, operation="analyze", spec={"n": 1}, owner="t", most_active=1)
    again, created = q.submit(
        db, operation="analyze", spec={}, owner="t", idempotency_key="k", most_active=1
    )
    assert (again.id, created) == (first.id, False)


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
    assert describe(PathNotAllowed("/x", "is outside the allowed roots")) == {
        "type": "path-not-allowed",
        "message": "/x: is outside the allowed roots",
        "path": "/x",
    }
    assert describe(PathPermissionDenied("/srv/locked")) == {
        "type": "permission-denied",
        "message": "/srv/locked: permission denied (the service may not look at it)",
        "path": "/srv/locked",
    }
    assert not is_transient(PathPermissionDenied("/srv/locked"))
    delays = [backoff_s(n, 2.0, 30.0) for n in (1, 2, 3, 4, 5)]
    for got, base in zip(delays, (2, 4, 8, 16, 30), strict=True):
        assert base <= got <= base * 1.1


def test_a_claim_never_starts_an_attempt_beyond_the_maximum(db: Database) -> None:
    """A worker that stops gracefully gives its running job back (retry_later) even in the last
    attempt; the next claim ends it failed instead of starting attempt max + 1."""
    [job_id] = submit(db, max_attempts=2)
    for attempt in (1, 2):
        claimed = q.claim(db, "w", 30)
        assert claimed is not None
        assert (claimed.id, claimed.attempts) == (job_id, attempt)
        stopped = {"type": "worker-stopped", "message": "worker stopped"}
        assert q.retry_later(db, job_id, claimed.lease_token, delay_s=0, error=stopped)
    [other] = submit(db)
    nxt = q.claim(db, "w", 30)
    assert nxt is not None
    assert (nxt.id, nxt.attempts) == (other, 1)
    row = q.get(db, job_id)
    assert row is not None
    assert (row.status, row.attempts, row.max_attempts, row.lease_token, row.worker_id) == (
        "failed",
        2,
        2,
        None,
        None,
    )
    assert row.error == {
        "type": "attempts-exhausted",
        "message": "all 2 attempts were used; the last one did not finish",
    }
    assert row.finished_at is not None
    assert q.claim(db, "w", 30) is None


# A clock moved by SKEW_S seconds for one process: clock_gettime(CLOCK_REALTIME) interposed.
SKEW_C = r"""
#define _GNU_SOURCE
#include <dlfcn.h>
#include <stdlib.h>
#include <time.h>
int clock_gettime(clockid_t id, struct timespec *ts) {
    static int (*real)(clockid_t, struct timespec *);
    if (!real) real = (int (*)(clockid_t, struct timespec *))dlsym(RTLD_NEXT, "clock_gettime");
    int r = real(id, ts);
    if (r == 0 && (id == CLOCK_REALTIME || id == CLOCK_REALTIME_COARSE)) {
        const char *skew = getenv("SKEW_S");
        ts->tv_sec += skew ? atol(skew) : 0;
    }
    return r;
}
"""

SKEWED_CALL = """
import json, sys
from vegafs.db import Database
from vegafs.db import jobs as q
from vegafs.db.database import utcnow
db = Database(sys.argv[1])
if sys.argv[2] == "claim":
    job = q.claim(db, "skewed", 30)
    out = None if job is None else job.id
else:
    out = q.reclaim_expired(db)
print(json.dumps({"now": utcnow().isoformat(), "out": out}))
"""


def skewed(tmp_path: Path, url: str, call: str, skew_s: int) -> tuple[datetime, object]:
    """Run ``claim`` or ``reclaim_expired`` in a process whose clock is ``skew_s`` seconds off;
    returns that process's idea of the time and the call's result."""
    import json
    import os
    import shutil
    import subprocess
    import sys

    if shutil.which("cc") is None:
        pytest.skip("no C compiler for the clock shim")
    lib = tmp_path / "skew.so"
    if not lib.exists():
        src = tmp_path / "skew.c"
        src.write_text(SKEW_C)
        subprocess.run(["cc", "-shared", "-fPIC", "-o", lib, src, "-ldl"], check=True, timeout=60)
    env = {**os.environ, "LD_PRELOAD": str(lib), "SKEW_S": str(skew_s)}
    done = subprocess.run(
        [sys.executable, "-c", SKEWED_CALL, url, call],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    answer = json.loads(done.stdout)
    return datetime.fromisoformat(answer["now"]), answer["out"]


@pytest.mark.parametrize("backend", ["pg"], indirect=True)  # SQLite has no other host
def test_leases_follow_the_databases_clock_not_the_workers(
    backend: Backend, db: Database, tmp_path: Path
) -> None:
    """Worker hosts an hour behind and an hour ahead of PostgreSQL share one queue: a lease
    taken by the slow host is live for the others, and the fast host does not reclaim it."""
    assert backend.database_url is not None
    [job_id] = submit(db)
    hour = 3600
    behind_now, claimed = skewed(tmp_path, backend.database_url, "claim", -hour)
    assert claimed == job_id
    db_time = q.database_time(db)
    assert db_time - behind_now > timedelta(seconds=hour - 60)  # the clock really was off
    row = q.get(db, job_id)
    assert row is not None
    assert timedelta(0) < row.lease_expires_at - db_time <= timedelta(seconds=30)
    assert row.lease_expires_at - row.started_at == timedelta(seconds=30)
    assert q.reclaim_expired(db) == []  # live, by the database's clock
    ahead_now, reclaimed = skewed(tmp_path, backend.database_url, "reclaim", hour)
    assert ahead_now - q.database_time(db) > timedelta(seconds=hour - 60)
    assert reclaimed == []
    row = q.get(db, job_id)
    assert row is not None
    assert (row.status, row.worker_id, row.attempts) == ("running", "skewed", 1)


def test_the_per_key_count_reads_the_unfinished_jobs_index_alone(db: Database) -> None:
    """Each submit counts the key's queued and running jobs: through the partial index of
    unfinished jobs, not the key's whole history (which grows without bound)."""
    ids = submit(db, 3)
    claimed = q.claim(db, "w", 30)
    assert claimed is not None
    assert q.finish(db, claimed.id, claimed.lease_token, status="succeeded")
    assert q.active_count_of(db, "t") == len(ids) - 1
    with db.read() as conn:
        if not db.is_sqlite:
            conn.execute(text("SET LOCAL enable_seqscan = off"))  # a tiny table: force the choice
        sql = str(
            q.count_active_of("t").compile(
                dialect=conn.dialect, compile_kwargs={"literal_binds": True}
            )
        )
        explain = "EXPLAIN QUERY PLAN " if db.is_sqlite else "EXPLAIN "
        plan = " ".join(str(row[-1]) for row in conn.execute(text(explain + sql)))
    assert "ix_jobs_owner_active" in plan, plan

"""The job queue's guarantees when processes and servers fail, with real `vegafs serve` and
`vegafs worker` processes, real PostgreSQL and Redis servers, and real signals:

* a worker killed mid-job: another worker finishes the job once its lease expires, exactly once;
* a worker frozen past its lease: when it wakes, its writes are refused (lease token fencing);
* several workers on one queue: no job is ever claimed twice;
* Redis hung, dead, restarted: the API answers without 5xx and jobs still complete;
* PostgreSQL down: 503 problem+json, then recovery with no job lost.

The PostgreSQL outage is played on the ``chaos`` cluster (``VEGAFS_TEST_CHAOS_DATABASE_URL``,
started by scripts/services.sh), which only this file uses, so that stopping it disturbs no other
test running at the time. The tests run with the short timings of stack.py (lease 3 s, heartbeat
0.2 s), or a 2 s lease where a test waits for one to run out.
"""

import contextlib
import os
import re
import shutil
import signal
import sqlite3
import subprocess
import time
from collections import Counter
from collections.abc import Callable, Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest

from conftest import REDIS_URL, clean_pg
from stack import Backend, Stack, free_port, slow_tree, slowed, strace_missing

CHAOS_URL = os.environ.get("VEGAFS_TEST_CHAOS_DATABASE_URL")
FINISHED = {"succeeded", "failed", "cancelled"}
PROBLEM = "application/problem+json"
CLAIMED = re.compile(r"job (\d+): claimed by (\S+) \(attempt (\d+)\)")
SHORT_LEASE = {"VEGAFS_LEASE_S": "2"}  # 10 heartbeats: a live worker never loses it


def analyze_body(root: Path, **extra: Any) -> dict[str, Any]:
    return {"operation": "analyze", "params": {"selection": {"roots": [str(root)]}}, **extra}


# --- the chaos cluster -------------------------------------------------------------------------


def chaos_cluster() -> tuple[str, str] | None:
    """(version, name) of the PostgreSQL cluster behind VEGAFS_TEST_CHAOS_DATABASE_URL."""
    if CHAOS_URL is None or shutil.which("pg_lsclusters") is None:
        return None
    from sqlalchemy.engine import make_url

    port = str(make_url(CHAOS_URL).port or 5432)
    out = subprocess.run(
        ["pg_lsclusters", "--no-header"], capture_output=True, text=True, check=False
    ).stdout
    for line in out.splitlines():
        fields = line.split()
        if len(fields) >= 3 and fields[2] == port:
            return fields[0], fields[1]
    return None


def pg_ctl(action: str, *args: str) -> None:
    cluster = chaos_cluster()
    assert cluster is not None
    subprocess.run(
        ["pg_ctlcluster", "--skip-systemctl-redirect", *cluster, action, *args],
        check=True,
        capture_output=True,
        timeout=60,
    )


def chaos_is_up() -> bool:
    import psycopg

    assert CHAOS_URL is not None
    try:
        psycopg.connect(CHAOS_URL, connect_timeout=2).close()
    except psycopg.OperationalError:
        return False
    return True


def pg_ctl_missing() -> str | None:
    """Why this test cannot stop and start the chaos cluster, or None."""
    if CHAOS_URL is None:
        return "VEGAFS_TEST_CHAOS_DATABASE_URL unset: run `make services`"
    if shutil.which("pg_ctlcluster") is None:
        return "pg_ctlcluster is missing (Debian's postgresql-common)"
    if os.geteuid() != 0:
        return "stopping a PostgreSQL cluster with pg_ctlcluster needs root"
    if chaos_cluster() is None:
        return f"no local cluster listens on the port of {CHAOS_URL}"
    return None


@pytest.fixture(scope="module")
def chaos_url() -> Iterator[str]:
    """A database of this session's own on the chaos cluster (started first, if a failed run
    left it stopped), migrated, dropped at the end."""
    if CHAOS_URL is None:
        pytest.skip("VEGAFS_TEST_CHAOS_DATABASE_URL unset: run `make services`")
    if not chaos_is_up() and pg_ctl_missing() is None:
        pg_ctl("start")
    from sqlalchemy import create_engine, text
    from sqlalchemy.engine import make_url
    from sqlalchemy.pool import NullPool

    from vegafs.db import Database, migrate
    from vegafs.db.database import normalise_url

    name = f"vegafs_c{os.getpid()}"
    # No pool: the cluster restarts in between.
    admin = create_engine(
        normalise_url(CHAOS_URL), isolation_level="AUTOCOMMIT", poolclass=NullPool
    )
    with admin.connect() as conn:
        conn.execute(text(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
        conn.execute(text(f"CREATE DATABASE {name}"))
    url = make_url(CHAOS_URL).set(database=name).render_as_string(hide_password=False)
    db = Database(url)
    migrate.upgrade(db)
    db.dispose()
    yield url
    if not chaos_is_up() and pg_ctl_missing() is None:
        pg_ctl("start")
    with admin.connect() as conn:
        conn.execute(text(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
    admin.dispose()


@pytest.fixture
def slowable() -> None:
    why_not = strace_missing()
    if why_not:
        pytest.skip(why_not)


@contextlib.contextmanager
def running(stack: Stack) -> Iterator[Stack]:
    stack.data_dir.mkdir()
    try:
        yield stack
    finally:
        stack.stop()


def sqlite_file(stack: Stack) -> Path:
    return stack.data_dir / "vegafs.db"


def holds_database_lock(stack: Stack) -> bool:
    """Whether some connection sits inside a write transaction: a process frozen there would
    block every other writer (SQLite's file lock, PostgreSQL's row lock) until it wakes."""
    if stack.backend.embedded:
        con = sqlite3.connect(sqlite_file(stack), timeout=0, isolation_level=None)
        try:
            con.execute("BEGIN IMMEDIATE")
            con.execute("ROLLBACK")
            return False
        except sqlite3.OperationalError:
            return True
        finally:
            con.close()
    import psycopg

    assert stack.backend.database_url is not None
    with psycopg.connect(stack.backend.database_url) as conn:
        row = conn.execute(
            "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database()"
            " AND pid <> pg_backend_pid() AND backend_type = 'client backend'"
            " AND state <> 'idle'"
        ).fetchone()
    assert row is not None
    return bool(row[0])


def freeze(stack: Stack, proc: subprocess.Popen[bytes]) -> None:
    """SIGSTOP ``proc``'s process group, at a moment when it is not inside a transaction (its
    heartbeat writes one every 0.2 s): the test is about a frozen worker's lease, not about a
    frozen lock holder."""
    for _ in range(100):
        stack.signal(proc, signal.SIGSTOP)
        time.sleep(0.1)  # a statement already on the wire completes
        if not holds_database_lock(stack):
            return
        stack.signal(proc, signal.SIGCONT)
        time.sleep(0.03)
    raise AssertionError("the worker was always inside a transaction")


def wait_all(
    http: httpx.Client, ids: list[int], timeout: float, stack: Stack
) -> dict[int, dict[str, Any]]:
    """Poll the job list until every job in ``ids`` has finished; the jobs as GET /jobs/{id}
    gives them (the list leaves summaries out)."""
    deadline = time.monotonic() + timeout
    wanted = set(ids)
    while True:
        items = http.get("/jobs", params={"limit": 1000}).json()["items"]
        jobs = {j["id"]: j for j in items if j["id"] in wanted}
        if len(jobs) == len(wanted) and all(j["status"] in FINISHED for j in jobs.values()):
            return {job_id: http.get(f"/jobs/{job_id}").json() for job_id in ids}
        if time.monotonic() > deadline:
            pending = Counter(j["status"] for j in jobs.values() if j["status"] not in FINISHED)
            raise AssertionError(f"jobs still pending: {pending}\n{stack.log_text()}")
        time.sleep(0.2)


def wait_progress(stack: Stack, http: httpx.Client, job_id: int) -> None:
    """Wait until the running job's heartbeat reports directories walked."""
    deadline = time.monotonic() + 30
    while True:
        job = http.get(f"/jobs/{job_id}").json()
        assert job["status"] == "running", job
        if (job["progress"] or {}).get("dirs", 0) > 0:
            return
        assert time.monotonic() < deadline, stack.log_text()
        time.sleep(0.05)


def claims(stack: Stack, procs: list[subprocess.Popen[bytes]]) -> list[tuple[int, str, int]]:
    """Every "job N: claimed by W (attempt A)" line the worker processes logged."""
    return [
        (int(m[1]), m[2], int(m[3])) for proc in procs for m in CLAIMED.finditer(stack.log_of(proc))
    ]


# --- 1. a worker killed mid-job ----------------------------------------------------------------


def test_a_killed_workers_job_is_finished_once_by_another_after_its_lease(
    backend: Backend,
    tmp_path: Path,
    service_root: Path,
    unprivileged: list[str],
    slowable: None,
) -> None:
    slow = service_root / "slow"
    dirs = slow_tree(slow, depth=25)
    locked = [slow / f"locked{i}" for i in range(3)]  # unreadable: the job's result rows
    for d in locked:
        d.mkdir()
        d.chmod(0)
    try:
        with running(Stack(backend, tmp_path / "data", [service_root], SHORT_LEASE)) as s:
            doomed = s.start_worker(
                "--id", "doomed", "-j", "1", prefix=[*slowed(dirs), *unprivileged]
            )
            s.start_server("--no-worker")
            with s.client() as http:
                job_id = http.post("/jobs", json=analyze_body(slow)).json()["id"]
                job = s.wait_job(http, job_id, {"running"})
                assert (job["worker_id"], job["attempts"]) == ("doomed", 1)
                wait_progress(s, http, job_id)  # well into the walk
                s.signal(doomed, signal.SIGKILL)
                doomed.wait()
                assert http.get(f"/jobs/{job_id}").json()["status"] == "running"  # for now

                heir = s.start_worker("--id", "heir", "-j", "1", prefix=unprivileged)
                done = s.wait_job(http, job_id, FINISHED, timeout=30)
                assert done["status"] == "succeeded", done
                assert (done["worker_id"], done["attempts"], done["error"]) == ("heir", 2, None)
                summary = done["summary"]
                # One walk's worth: the root, 25 nested dirs and the 3 locked ones; one file.
                assert (summary["dirs"], summary["files"], summary["file_bytes"]) == (29, 1, 10)
                assert summary["error_count"] == 3
                assert done["result_rows"] == 3
                page = http.get(f"/jobs/{job_id}/results").json()
                assert [r["seq"] for r in page["items"]] == [0, 1, 2]
                assert sorted(r["data"]["path"] for r in page["items"]) == [str(d) for d in locked]
                assert page["next_cursor"] is None

                assert claims(s, [doomed, heir]) == [(job_id, "doomed", 1), (job_id, "heir", 2)]
                assert f"job {job_id}: lease expired, reclaimed" in s.log_of(heir)
            stored = stored_results(s, job_id)
            assert [seq for seq, _ in stored] == [0, 1, 2]
            assert [data for _, data in stored] == [r["data"] for r in page["items"]]
    finally:
        for d in locked:
            d.chmod(0o755)


def stored_results(stack: Stack, job_id: int) -> list[tuple[int, Any]]:
    """The job's rows as the database holds them, read behind the service's back."""
    from vegafs.db import Database
    from vegafs.db import jobs as queue

    db = Database(stack.backend.database_url or f"sqlite:///{sqlite_file(stack)}")
    try:
        return [(r.seq, r.data) for r in queue.results(db, job_id)]
    finally:
        db.dispose()


# --- 2. a frozen worker wakes up after losing its lease ---------------------------------------


def test_a_stale_worker_that_wakes_up_cannot_overwrite_the_new_owners_work(
    backend: Backend, tmp_path: Path, service_root: Path, slowable: None
) -> None:
    slow = service_root / "slow"
    dirs = slow_tree(slow, depth=25)
    with running(Stack(backend, tmp_path / "data", [service_root], SHORT_LEASE)) as s:
        stale = s.start_worker("--id", "stale", "-j", "1", prefix=slowed(dirs))
        s.start_server("--no-worker")
        with s.client() as http:
            job_id = http.post("/jobs", json=analyze_body(slow)).json()["id"]
            assert s.wait_job(http, job_id, {"running"})["worker_id"] == "stale"
            wait_progress(s, http, job_id)
            freeze(s, stale)
            try:
                fresh = s.start_worker("--id", "fresh", "-j", "1")
                done = s.wait_job(http, job_id, FINISHED, timeout=30)
                assert done["status"] == "succeeded", done
                assert (done["worker_id"], done["attempts"]) == ("fresh", 2)
                assert done["summary"]["dirs"] == 26
                assert "lease lost" not in s.log_of(stale)
            finally:
                s.signal(stale, signal.SIGCONT)
            # Awake, the stale worker renews its lease (or writes its outcome), is refused...
            s.wait_log(stale, f"job {job_id}: lease lost", timeout=10)
            time.sleep(1.5)  # ...and has had every chance to write anything else
            after = http.get(f"/jobs/{job_id}").json()
            assert after == done
            assert http.get(f"/jobs/{job_id}/results").json() == {"items": [], "next_cursor": None}
            assert stale.poll() is None  # alive and well, just fenced off
            assert claims(s, [stale, fresh]) == [(job_id, "stale", 1), (job_id, "fresh", 2)]
            worker_logs = s.log_of(stale) + s.log_of(fresh)
            assert "Traceback" not in worker_logs, worker_logs


def test_a_lost_lease_token_is_refused_by_every_write(backend: Backend, tmp_path: Path) -> None:
    from sqlalchemy import update

    from vegafs.db import Database, migrate
    from vegafs.db import jobs as queue
    from vegafs.db.database import utcnow

    db = Database(backend.database_url or f"sqlite:///{tmp_path / 'queue.db'}")
    try:
        if backend.embedded:
            migrate.upgrade(db)
        row, created = queue.submit(db, operation="analyze", spec={"x": 1}, owner="t")
        assert created
        a = queue.claim(db, "A", lease_s=30)
        assert a is not None and (a.id, a.attempts) == (row.id, 1)
        assert queue.claim(db, "B", lease_s=30) is None  # nothing else is due
        assert queue.reclaim_expired(db) == []  # A's lease runs for 30 s more

        with db.write() as conn:  # A stops renewing: its lease runs out
            conn.execute(
                update(queue.JOB)
                .where(queue.JOB.c.id == row.id)
                .values(lease_expires_at=utcnow() - timedelta(seconds=1))
            )
        assert queue.reclaim_expired(db) == [row.id]
        requeued = queue.get(db, row.id)
        assert requeued is not None
        assert (requeued.status, requeued.lease_token, requeued.worker_id) == ("queued", None, None)
        assert requeued.error["type"] == "lease-expired"

        b = queue.claim(db, "B", lease_s=30)
        assert b is not None and (b.id, b.attempts) == (row.id, 2)
        assert b.lease_token != a.lease_token
        assert queue.add_rows(db, row.id, b.lease_token, 0, [{"path": "/b/0"}])
        before, rows_before = queue.get(db, row.id), queue.results(db, row.id)

        # A wakes up and carries on as if it still held the job: every write is refused.
        stale = a.lease_token
        assert queue.heartbeat(db, row.id, stale, 30, {"entries": 99}) == queue.Beat(held=False)
        assert queue.add_rows(db, row.id, stale, 1, [{"path": "/a/1"}]) is False
        assert queue.add_rows(db, row.id, stale, 0, []) is False
        assert queue.finish(db, row.id, stale, status="succeeded", summary={"by": "A"}) is False
        assert queue.finish(db, row.id, stale, status="failed", error={"type": "x"}) is False
        assert queue.retry_later(db, row.id, stale, delay_s=0, error={"type": "x"}) is False
        assert queue.get(db, row.id) == before
        assert queue.results(db, row.id) == rows_before

        # B's token still works; once B has finished, B's token is spent too.
        assert queue.heartbeat(db, row.id, b.lease_token, 30, {"entries": 1}).held
        assert queue.finish(
            db, row.id, b.lease_token, status="succeeded", summary={"by": "B"}, result_rows=1
        )
        for token in (stale, b.lease_token):
            assert queue.heartbeat(db, row.id, token, 30, {}) == queue.Beat(held=False)
            assert queue.finish(db, row.id, token, status="failed") is False
        final = queue.get(db, row.id)
        assert final is not None
        assert (final.status, final.summary, final.worker_id, final.attempts) == (
            "succeeded",
            {"by": "B"},
            "B",
            2,
        )
        assert [(r.seq, r.data) for r in queue.results(db, row.id)] == [(0, {"path": "/b/0"})]
    finally:
        db.dispose()


# --- 3. many workers, one queue ----------------------------------------------------------------


def test_concurrent_workers_never_claim_the_same_job_twice(
    backend: Backend, tmp_path: Path, service_root: Path
) -> None:
    many = {"VEGAFS_MAX_ACTIVE_JOBS_PER_KEY": "1000"}  # 150 jobs at once from one key
    with running(Stack(backend, tmp_path / "data", [service_root], env_extra=many)) as s:
        workers = [s.start_worker("--id", f"w{n}", "--concurrency", "2") for n in range(3)]
        s.start_server("--no-worker")
        for n, w in enumerate(workers):
            s.wait_log(w, f"worker w{n}: 2 slot(s)")
        with s.client() as http:
            ids = [
                http.post("/jobs", json=analyze_body(service_root, fresh=True)).json()["id"]
                for _ in range(150)
            ]
            jobs = wait_all(http, ids, timeout=60, stack=s)
        assert Counter(j["status"] for j in jobs.values()) == {"succeeded": 150}
        assert {j["attempts"] for j in jobs.values()} == {1}
        assert {j["summary"]["files"] for j in jobs.values()} == {3}
        claimed = claims(s, workers)
        assert len(claimed) == 150
        assert sorted(job_id for job_id, _, _ in claimed) == sorted(ids)
        assert all(jobs[i]["worker_id"] == w and attempt == 1 for i, w, attempt in claimed)
        busy = Counter(w for _, w, _ in claimed)
        assert len(busy) >= 2, f"one worker took every job: {busy}"
        for w in workers:
            assert "lease" not in s.log_of(w)


# --- 4. Redis hung, dead, back -----------------------------------------------------------------


class RedisServer:
    """A private redis-server: this test hangs and kills it without touching the shared one."""

    def __init__(self, workdir: Path) -> None:
        self.port = free_port()
        self.workdir = workdir
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> None:
        self.workdir.mkdir(exist_ok=True)
        args = ["--bind", "127.0.0.1", "--port", str(self.port), "--save", "", "--appendonly", "no"]
        with (self.workdir / "redis.log").open("ab") as log:
            self.proc = subprocess.Popen(
                ["redis-server", *args, "--dir", str(self.workdir)],
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        deadline = time.monotonic() + 30
        while not self.answers():
            assert self.proc.poll() is None, (self.workdir / "redis.log").read_text()
            assert time.monotonic() < deadline, "redis-server did not come up"
            time.sleep(0.05)

    def client(self) -> Any:
        import redis

        return redis.Redis(port=self.port, socket_timeout=1, socket_connect_timeout=1)

    def answers(self) -> bool:
        import redis

        try:
            return bool(self.client().ping())
        except redis.RedisError:
            return False

    def signal(self, sig: int) -> None:
        assert self.proc is not None
        self.proc.send_signal(sig)

    def kill(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGCONT)
            self.proc.kill()
            self.proc.wait()


@pytest.fixture
def private_redis(tmp_path: Path) -> Iterator[RedisServer]:
    if shutil.which("redis-server") is None:
        pytest.skip("redis-server is missing (apt-get install redis-server)")
    server = RedisServer(tmp_path / "redis")
    server.start()
    try:
        yield server
    finally:
        server.kill()


# A hung Redis costs a request at most one cache timeout (0.25 s); a request that waited on it
# would hang until the client's 10 s. The bound between them leaves a loaded machine room.
PROMPT_S = 3.0


def timed(call: Callable[[], httpx.Response]) -> httpx.Response:
    """The response, which must come within PROMPT_S and must not be a 5xx."""
    start = time.monotonic()
    r = call()
    took = time.monotonic() - start
    assert r.status_code < 500, r.text
    assert took < PROMPT_S, f"{r.request.method} {r.request.url} took {took:.2f} s"
    return r


def first_event(http: httpx.Client, job_id: int) -> dict[str, Any]:
    """The first event of the job's SSE stream, within PROMPT_S."""
    start = time.monotonic()
    event: dict[str, Any] = {}
    with http.stream("GET", f"/jobs/{job_id}/events") as r:
        assert r.status_code == 200
        for line in r.iter_lines():
            if line.startswith(("event: ", "data: ")):
                name, _, value = line.partition(": ")
                event[name] = value
            if "data" in event:
                break
    took = time.monotonic() - start
    assert took < PROMPT_S, f"first event after {took:.2f} s"
    return event


def pattern_subscribers(redis_server: RedisServer) -> int:
    """Clients psubscribed to the bus's channels (one listener per service process)."""
    listing = redis_server.client().client_list()
    return sum(1 for c in listing if int(c.get("psub", 0)) > 0)


def wait_subscribers(redis_server: RedisServer, n: int, stack: Stack) -> None:
    """Poll until ``n`` bus listeners are subscribed (each connects on its own thread)."""
    deadline = time.monotonic() + 30
    while pattern_subscribers(redis_server) < n:
        assert time.monotonic() < deadline, stack.log_text()
        time.sleep(0.1)
    assert pattern_subscribers(redis_server) == n


def test_redis_hung_or_dead_costs_no_errors_and_no_jobs(
    pg_schema: str,
    private_redis: RedisServer,
    tmp_path: Path,
    service_root: Path,
    slowable: None,
) -> None:
    clean_pg(pg_schema)
    slow = service_root / "slow"
    dirs = slow_tree(slow, depth=25)
    quick = analyze_body(service_root / "a", fresh=True)
    backend = Backend("pg", pg_schema, private_redis.url)
    with running(Stack(backend, tmp_path / "data", [service_root])) as s:
        s.start_server("--no-worker")
        s.start_worker("--concurrency", "2", prefix=slowed(dirs))
        with s.client() as http:
            slow_id = http.post("/jobs", json=analyze_body(slow, fresh=True)).json()["id"]
            s.wait_job(http, slow_id, {"running"})
            wait_subscribers(private_redis, 2, s)  # the server's and the worker's

            private_redis.signal(signal.SIGSTOP)  # hung: connections open, nothing answers
            try:
                job = timed(lambda: http.post("/jobs", json=quick))
                assert job.status_code == 202
                timed(lambda: http.get(f"/jobs/{slow_id}"))
                listed = timed(lambda: http.get("/jobs")).json()["items"]
                assert [j["id"] for j in listed] == [job.json()["id"], slow_id]
                event = first_event(http, slow_id)
                assert event["event"] == "state"
                assert '"status":"running"' in event["data"]
                time.sleep(1.1)  # the breakers close: the cancel meets the hung Redis again
                assert timed(lambda: http.post(f"/jobs/{slow_id}/cancel")).status_code == 202
                assert s.wait_job(http, job.json()["id"], FINISHED)["status"] == "succeeded"
                assert s.wait_job(http, slow_id, FINISHED)["status"] == "cancelled"
            finally:
                private_redis.signal(signal.SIGCONT)

            private_redis.kill()  # dead: connections refused
            job = timed(lambda: http.post("/jobs", json=quick))
            assert job.status_code == 202
            event = first_event(http, job.json()["id"])
            assert event["event"] == "state"
            assert s.wait_job(http, job.json()["id"], FINISHED)["status"] == "succeeded"
            timed(lambda: http.get("/jobs"))

            private_redis.start()  # back, on the same port
            wait_subscribers(private_redis, 2, s)  # both buses reconnected
            time.sleep(1.1)  # every breaker has closed again
            same = analyze_body(service_root / "a")
            first = http.post("/jobs", json=same).json()["id"]
            assert s.wait_job(http, first, FINISHED)["progress"]["cached"] is False
            second = http.post("/jobs", json=same).json()["id"]
            done = s.wait_job(http, second, FINISHED)
            assert (done["status"], done["progress"]["cached"]) == ("succeeded", True)
        assert not [log.name for log in s.logs if "Traceback" in log.read_text()], s.log_text()


def test_the_redis_bus_keeps_listening_through_a_quiet_spell(private_redis: RedisServer) -> None:
    """After 5 s without events the listener pings Redis; the PONG once killed its thread, and
    the process stopped hearing other processes' events for good."""
    from vegafs.cache.redis_backend import CHANNEL_PREFIX, RedisBus

    bus = RedisBus(private_redis.url, 0.25)
    try:
        with bus.hub.subscribe("job:7") as waiter:
            deadline = time.monotonic() + 30
            while pattern_subscribers(private_redis) < 1:
                assert time.monotonic() < deadline
                time.sleep(0.05)
            time.sleep(6.5)  # quiet: a PING goes out and its PONG comes back
            assert pattern_subscribers(private_redis) == 1
            private_redis.client().publish(CHANNEL_PREFIX + "job:7", b"")
            assert waiter.wait(10.0)
    finally:
        bus.close()


# --- 5. PostgreSQL down ------------------------------------------------------------------------


def assert_database_unavailable(r: httpx.Response) -> None:
    assert r.status_code == 503, r.text
    assert r.headers["content-type"] == PROBLEM
    assert r.json()["type"] == "/problems/database-unavailable"


def test_postgresql_down_means_503_then_recovery_without_losing_a_job(
    chaos_url: str, tmp_path: Path, service_root: Path, slowable: None
) -> None:
    why_not = pg_ctl_missing()
    if why_not:
        pytest.skip(why_not)
    clean_pg(chaos_url)
    slow = service_root / "slow"
    dirs = slow_tree(slow, depth=10)  # 4 s
    backend = Backend("pg", chaos_url, REDIS_URL)
    try:
        with running(Stack(backend, tmp_path / "data", [service_root])) as s:
            s.start_server("--no-worker")
            s.start_worker("--concurrency", "1", prefix=slowed(dirs))
            with s.client() as http:
                slow_id = http.post("/jobs", json=analyze_body(slow, fresh=True)).json()["id"]
                s.wait_job(http, slow_id, {"running"})
                quick = analyze_body(service_root / "a", fresh=True)
                queued = [http.post("/jobs", json=quick).json()["id"] for _ in range(4)]

                pg_ctl("stop", "-m", "immediate")
                try:
                    r = http.get(f"/jobs/{slow_id}")
                    assert_database_unavailable(r)
                    assert r.headers["retry-after"] == "1"
                    assert_database_unavailable(http.get("/jobs"))
                    assert_database_unavailable(http.post("/jobs", json=analyze_body(service_root)))
                    ready = httpx.get(f"{s.url}/readyz")
                    assert_database_unavailable(ready)
                    # Not the driver's message: it names the host, port and user.
                    assert ready.json()["detail"] == "the database cannot be reached; retry shortly"
                    assert httpx.get(f"{s.url}/healthz").status_code == 200
                finally:
                    pg_ctl("start")
                assert httpx.get(f"{s.url}/readyz").status_code == 200

                jobs = wait_all(http, [slow_id, *queued], timeout=30, stack=s)
                assert {j["status"] for j in jobs.values()} == {"succeeded"}
                assert jobs[slow_id]["attempts"] in (1, 2)  # continued, or retried
                assert jobs[slow_id]["summary"]["dirs"] == 11
                assert [jobs[i]["attempts"] for i in queued] == [1, 1, 1, 1]
                after = http.post("/jobs", json=quick)
                assert after.status_code == 202
                assert s.wait_job(http, after.json()["id"], FINISHED)["status"] == "succeeded"

                # A restart (stop and start at once) while a job runs, on the 6 innermost levels
                # (2.4 s): nothing but 503s on the way, and the job still ends.
                again = http.post("/jobs", json=analyze_body(dirs[4], fresh=True)).json()["id"]
                s.wait_job(http, again, {"running"})
                pg_ctl("restart", "-m", "immediate")
                deadline = time.monotonic() + 20
                while True:
                    r = http.get(f"/jobs/{again}")
                    assert r.status_code in (200, 503), r.text
                    if r.status_code == 200 and r.json()["status"] in FINISHED:
                        break
                    assert time.monotonic() < deadline, s.log_text()
                    time.sleep(0.1)
                assert r.json()["status"] == "succeeded", r.json()
                assert r.json()["summary"]["dirs"] == 7
    finally:
        if not chaos_is_up():
            pg_ctl("start")

"""Benchmark sharded jobs: one analyze (or dupes) job over gen_tree.py's tree run by 1, 2 and 4
`vegafs worker` processes on PostgreSQL, and the queue's claim rate.

Usage: python bench/sharding.py [--files 1000000] [--dirs 10000] [--tree DIR]
                                [--operation analyze|dupes] [--workers 1,2,4] [--shards 8]
                                [--runs 1] [--claims 5000] [--split-hash-bytes B]
                                [--database-url URL] [--json-out FILE]

1. Job wall time. The tree is generated if missing (bench/gen_tree.py, the one bench/analyze.py
   uses) and walked once untimed (warm cache). Then, for each worker count N, N `vegafs worker
   -j 1` processes are started on an emptied queue, one analyze job is submitted (through the
   queue's own `submit`, no API server), and the time from its submission to its end is taken
   (polled every 10 ms from the database). The first row is the job without shards on one
   worker; the others are the same job with `--shards` shards. Every sharded result is checked
   against the unsharded one (the summary but `elapsed_s`, and a digest of its rows in order:
   dupes' groups); the script exits 1 if one differs. A sharded dupes job hashes in a second
   round of shards when its candidates weigh `--split-hash-bytes` or more (the workers'
   VEGAFS_DUPES_SPLIT_HASH_BYTES; default: theirs, 4 GiB); the hashing shards are counted.
2. Claim rate. `--claims` tiny jobs are queued, then N processes (1, 2, 4, ...) claim and finish
   them with the queue's own `claim` and `finish` (the statements a worker runs, without the
   operation) until none is left: claims per second, the ceiling the queue puts on how many
   shards (or jobs) per second any number of workers can start.

PostgreSQL comes from --database-url, else VEGAFS_BENCH_DATABASE_URL, else the test server of
`make services` (.services.env) with the database `vegafs_bench_sharding` (created when
missing; its jobs are deleted before each run). Figures taken on a busy machine are not final.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import multiprocessing
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

BENCH_DIR = Path(__file__).resolve().parent
REPO_ROOT = BENCH_DIR.parent
SERVICES_ENV = REPO_ROOT / ".services.env"
DATABASE = "vegafs_bench_sharding"
OWNER = "bench-sharding"
POLL_S = 0.01


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--files", type=int, default=1_000_000)
    p.add_argument("--dirs", type=int, default=10_000)
    p.add_argument("--seed", type=int, default=42)
    p.add_argument("--tree", type=Path, help="default: ../bench-tree (1M) or a sized sibling")
    p.add_argument("--operation", choices=["analyze", "dupes"], default="analyze")
    p.add_argument("--workers", default="1,2,4", help="worker process counts, comma-separated")
    p.add_argument("--shards", type=int, default=8, help="shards of the sharded job")
    p.add_argument("--runs", type=int, default=1, help="timed runs per row (median shown)")
    p.add_argument("--claims", type=int, default=5000, help="tiny jobs for the claim rate")
    p.add_argument(
        "--split-hash-bytes", type=int, help="dupes: VEGAFS_DUPES_SPLIT_HASH_BYTES of the workers"
    )
    p.add_argument("--database-url")
    p.add_argument("--json-out", type=Path)
    return p.parse_args(argv)


def fail(message: str) -> None:
    print(f"sharding.py: {message}", file=sys.stderr)
    sys.exit(2)


def database_url(given: str | None) -> str:
    env = dict(os.environ)
    if SERVICES_ENV.is_file():
        for line in SERVICES_ENV.read_text().splitlines():
            name, sep, value = line.partition("=")
            if sep:
                env.setdefault(name.strip(), value.strip())
    url = given or env.get("VEGAFS_BENCH_DATABASE_URL")
    if url:
        return url
    test = env.get("VEGAFS_TEST_DATABASE_URL")
    if not test:
        fail("no PostgreSQL: pass --database-url or run `make services`")
    assert test is not None
    return urlunsplit(urlsplit(test)._replace(path=f"/{DATABASE}"))


def ensure_database(url: str) -> None:
    import psycopg
    from psycopg import sql

    parts = urlsplit(url)
    name = parts.path.lstrip("/")
    admin = urlunsplit(parts._replace(scheme="postgresql", path="/postgres"))
    with psycopg.connect(admin, autocommit=True) as c:
        if not c.execute("SELECT 1 FROM pg_database WHERE datname = %s", (name,)).fetchone():
            c.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))


def tree_path(args: argparse.Namespace) -> Path:
    if args.tree:
        return Path(args.tree).resolve()
    if (args.files, args.dirs, args.seed) == (1_000_000, 10_000, 42):
        return (REPO_ROOT.parent / "bench-tree").resolve()
    return (REPO_ROOT.parent / f"bench-tree-{args.files}f-{args.dirs}d-s{args.seed}").resolve()


def vegafs_exe() -> str:
    exe = Path(sys.executable).parent / "vegafs"
    return str(exe) if exe.exists() else "vegafs"


# ---- the job's wall time -------------------------------------------------------------------------


def empty_queue(db: Any) -> None:
    from sqlalchemy import text

    with db.write() as conn:
        conn.execute(text("DELETE FROM jobs WHERE owner = :o"), {"o": OWNER})


def start_workers(
    n: int, url: str, tree: Path, log_dir: Path, split_hash_bytes: int | None = None
) -> list[subprocess.Popen[bytes]]:
    env = dict(os.environ)
    if split_hash_bytes is not None:
        env["VEGAFS_DUPES_SPLIT_HASH_BYTES"] = str(split_hash_bytes)
    env.update(
        VEGAFS_DATABASE_URL=url,
        VEGAFS_ROOTS=str(tree.parent),
        VEGAFS_POLL_S="0.05",
        VEGAFS_DATA_DIR=str(log_dir),
    )
    env.pop("VEGAFS_REDIS_URL", None)
    procs, logs = [], []
    for i in range(n):
        logs.append(log_dir / f"worker-{n}-{i}.log")
        with logs[-1].open("wb") as log:
            procs.append(
                subprocess.Popen(
                    [vegafs_exe(), "worker", "-j", "1", "--id", f"bench-{i}"],
                    env=env,
                    stdout=log,
                    stderr=subprocess.STDOUT,
                    start_new_session=True,
                )
            )
    # The clock starts once every worker is up (its start-up is not the job's time).
    deadline = time.monotonic() + 120
    while not all("slot(s)" in log.read_text(errors="replace") for log in logs):
        if time.monotonic() > deadline or any(p.poll() is not None for p in procs):
            stop_workers(procs)
            fail("the workers did not start:\n" + "\n".join(log.read_text() for log in logs))
        time.sleep(0.05)
    return procs


def stop_workers(procs: list[subprocess.Popen[bytes]]) -> None:
    for p in procs:
        if p.poll() is None:
            os.killpg(p.pid, signal.SIGTERM)
    for p in procs:
        p.wait(timeout=30)


def run_job(
    db: Any, operation: str, tree: Path, shards: int | None, now: int
) -> tuple[float, dict[str, Any], str, int]:
    """The job's wall time, summary, a digest of its rows, and its second-round shards."""
    from vegafs.db import jobs as queue
    from vegafs.db import shards as shard_repo

    spec: dict[str, Any] = {"selection": {"roots": [str(tree)]}}
    if operation == "analyze":
        spec["now"] = now
    started = time.perf_counter()
    row, _ = queue.submit(
        db,
        operation=operation,
        spec=spec,
        owner=OWNER,
        use_cache=False,
        max_attempts=1,
        shards=shards,
    )
    while True:
        job = queue.get(db, row.id)
        assert job is not None
        if job.status in queue.FINISHED:
            wall = time.perf_counter() - started
            if job.status != "succeeded":
                fail(f"job {job.id} {job.status}: {job.error}")
            hashing = sum(s.shard_round == 2 for s in shard_repo.shards_of(db, job.id))
            return wall, dict(job.summary), rows_digest(db, job.id), hashing
        time.sleep(POLL_S)


def rows_digest(db: Any, job_id: int) -> str:
    """A SHA-256 of the job's result rows, in order."""
    from vegafs.db import jobs as queue

    digest = hashlib.sha256()
    after = -1
    while page := queue.results(db, job_id, after_seq=after, limit=10_000):
        for r in page:
            digest.update(json.dumps(r.data, sort_keys=True).encode() + b"\n")
        after = page[-1].seq
    return digest.hexdigest()


def time_jobs(args: argparse.Namespace, url: str, tree: Path) -> list[dict[str, Any]]:
    from vegafs.db import Database

    db = Database(url)
    now = int(time.time())
    rows: list[dict[str, Any]] = []
    reference: tuple[dict[str, Any], str] | None = None
    plans = [(1, None)] + [(int(n), args.shards) for n in args.workers.split(",")]
    with tempfile.TemporaryDirectory(prefix="vegafs-bench-sharding-") as logs:
        for workers, shards in plans:
            empty_queue(db)
            procs = start_workers(workers, url, tree, Path(logs), args.split_hash_bytes)
            try:
                times = []
                for _ in range(args.runs):
                    wall, summary, digest, hashing = run_job(db, args.operation, tree, shards, now)
                    times.append(wall)
                    summary.pop("elapsed_s")
                    if reference is None:
                        reference = (summary, digest)
                    elif (summary, digest) != reference:
                        print(f"MISMATCH: {workers} workers, {shards} shards", file=sys.stderr)
                        sys.exit(1)
            finally:
                stop_workers(procs)
            rows.append(
                {"workers": workers, "shards": shards, "hashing_shards": hashing, "times_s": times}
            )
            label = "one job" if shards is None else f"{shards} shards"
            if hashing:
                label += f" + {hashing} hashing shards"
            print(f"  {workers} worker(s), {label}: {statistics.median(times):.2f} s", flush=True)
    db.dispose()
    return rows


# ---- the claim rate ------------------------------------------------------------------------------


def _claimer(url: str, name: str, counts: Any, index: int, start: Any) -> None:
    from vegafs.db import Database
    from vegafs.db import jobs as queue

    db = Database(url, pool_size=1)
    start.wait()
    n = 0
    while True:
        job = queue.claim(db, name, 30.0)
        if job is None:
            break
        queue.finish(db, job.id, job.lease_token, status="succeeded", summary={})
        n += 1
    counts[index] = n
    db.dispose()


def claim_rate(args: argparse.Namespace, url: str) -> list[dict[str, Any]]:
    from sqlalchemy import insert

    from vegafs.db import Database
    from vegafs.db import jobs as queue

    db = Database(url)
    rows = []
    ctx = multiprocessing.get_context("spawn")
    for n in [int(x) for x in args.workers.split(",")]:
        empty_queue(db)
        values = [
            queue.new_job_values(
                operation="analyze",
                spec={"selection": {"roots": ["/nonexistent"]}},
                owner=OWNER,
                priority=0,
                max_attempts=1,
                use_cache=False,
                idempotency_key=None,
                key_root=None,
            )
            for _ in range(args.claims)
        ]
        with db.write() as conn:
            conn.execute(insert(queue.JOB), values)
        counts = ctx.Array("i", n)
        start = ctx.Event()
        procs = [
            ctx.Process(target=_claimer, args=(url, f"claimer-{i}", counts, i, start))
            for i in range(n)
        ]
        for p in procs:
            p.start()
        time.sleep(1.0)  # let each process import and connect before the clock starts
        t0 = time.perf_counter()
        start.set()
        for p in procs:
            p.join()
        wall = time.perf_counter() - t0
        claimed = sum(counts[:])
        rate = claimed / wall
        print(f"  {n} claimer(s): {claimed} claims in {wall:.2f} s = {rate:,.0f} claims/s")
        rows.append({"processes": n, "claims": claimed, "wall_s": wall, "claims_per_s": rate})
    empty_queue(db)
    db.dispose()
    return rows


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    url = database_url(args.database_url)
    ensure_database(url)
    from vegafs.db import Database, migrate

    db = Database(url)
    migrate.upgrade(db)
    db.dispose()

    tree = tree_path(args)
    gen = [sys.executable, str(BENCH_DIR / "gen_tree.py"), str(tree)]
    gen += ["--files", str(args.files), "--dirs", str(args.dirs), "--seed", str(args.seed)]
    if subprocess.run(gen, check=False).returncode != 0:
        fail(f"cannot generate {tree}")
    subprocess.run([vegafs_exe(), "analyze", str(tree), "--json"], capture_output=True, check=True)

    print(f"tree {tree} ({args.files:,} files), {os.cpu_count()} cores, PostgreSQL")
    print(f"{args.operation} job, submit to end:")
    jobs = time_jobs(args, url, tree)
    base = statistics.median(jobs[0]["times_s"])
    print("one job on 1 worker / the sharded job on N workers:")
    for row in jobs[1:]:
        t = statistics.median(row["times_s"])
        print(f"  {row['workers']} worker(s), {row['shards']} shards: {base / t:.2f}x")
    print("queue claim rate (claim + finish, no operation):")
    claims = claim_rate(args, url)
    if args.json_out:
        args.json_out.write_text(json.dumps({"jobs": jobs, "claims": claims}, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())

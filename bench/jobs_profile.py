"""Where a job request's CPU time goes: one `vegafs serve` process under yappi, driven by wrk.

Usage: python bench/jobs_profile.py [--phase submit|get] [--seconds 10] [--connections 16]
                                    [--top 15] [--insert-check N] [--database-url URL]
                                    [--redis-url URL | --no-redis] [--json-out FILE]

It starts the API in one process of its own (create_app(), as `vegafs serve --no-worker` runs
it, access log off) on the bench database of jobs_api.py, with an API key, and drives it with
bench/jobs_api.lua: --warmup seconds untimed, --seconds without the profiler (the reference CPU
time per request), then --seconds under yappi (CPU clock, every thread: the event loop and
AnyIO's worker threads, C functions included). It prints the CPU time per request with and
without the profiler, the functions with the most time of their own, and that time summed by
package, both scaled to the unprofiled CPU time per request (yappi slows everything down, but
roughly evenly). yappi comes from PyPI (`pip install yappi`; `make bench-api` does not need it).

--insert-check N (no server, no profiler) compares, in this process, N calls of the repository's
submit() (its INSERT built once, executed with parameters) with N calls of the same transaction
with the INSERT built per call (``insert(JOB).values(...)``, as before the change), and prints
the CPU time per call of each: what building the statement once saves per submit.
"""

from __future__ import annotations

import argparse
import json
import os
import shlex
import signal
import subprocess
import sys
import tempfile
import time
from collections import defaultdict
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import jobs_api
from jobs_api import (
    GET,
    LUA,
    MAX_ACTIVE_JOBS,
    SUBMIT,
    Service,
    delete_bench_rows,
    draining,
    ensure_database,
    fail,
    find_vegafs,
    find_wrk,
    free_port,
    job_id_range,
    parse_wrk,
    small_tree,
    smoke_test,
)

SELF = Path(__file__).resolve()


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    env = jobs_api.services_env()
    parser = argparse.ArgumentParser(description="Profile one VegaFS API process under wrk.")
    parser.add_argument("--database-url", default=jobs_api.default_database_url(env))
    parser.add_argument(
        "--redis-url", default=env.get("VEGAFS_BENCH_REDIS_URL") or env.get("VEGAFS_TEST_REDIS_URL")
    )
    parser.add_argument("--no-redis", action="store_true")
    parser.add_argument("--phase", choices=(SUBMIT, GET), default=SUBMIT)
    parser.add_argument("--seconds", type=int, default=10)
    parser.add_argument("--warmup", type=int, default=3)
    parser.add_argument("--connections", type=int, default=16)
    parser.add_argument("--top", type=int, default=15)
    parser.add_argument("--insert-check", type=int, default=0, metavar="N")
    parser.add_argument("--json-out", type=Path)
    parser.add_argument("--serve-child", nargs=2, metavar=("PORT", "STATS"), help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.database_url is None:
        parser.error("no database: set VEGAFS_TEST_DATABASE_URL (`make services`)")
    if args.no_redis:
        args.redis_url = None
    return args


# ---- the server process -----------------------------------------------------------------------


def serve_child(port: int, stats_path: Path) -> None:
    """The API in this process; SIGUSR1 starts yappi, SIGUSR2 stops it and writes the stats."""
    import uvicorn
    import yappi

    from vegafs.api import create_app

    def start(*_: object) -> None:
        yappi.set_clock_type("cpu")
        yappi.start(builtins=True, profile_threads=True)

    def stop(*_: object) -> None:
        yappi.stop()
        rows = [
            {"module": s.module, "name": s.name, "ncall": s.ncall, "tsub": s.tsub, "ttot": s.ttot}
            for s in yappi.get_func_stats()
        ]
        partial = stats_path.with_suffix(".partial")
        partial.write_text(json.dumps(rows), encoding="utf-8")
        partial.replace(stats_path)  # whole or not at all for the driver that waits for it

    signal.signal(signal.SIGUSR1, start)
    signal.signal(signal.SIGUSR2, stop)
    uvicorn.run(create_app(), host="127.0.0.1", port=port, access_log=False, log_level="warning")


def package_of(module: str, name: str) -> str:
    """A function's package: site-packages' top directory, vegafs.<module>, or stdlib:<name>."""
    path = module.replace("\\", "/")
    if "/site-packages/" in path:
        top = path.split("/site-packages/", 1)[1].split("/", 1)[0]
        return top.removesuffix(".py")
    if "/vegafs/" in path:
        rest = path.rsplit("/vegafs/", 1)[1]
        return "vegafs." + rest.split("/", 1)[0].removesuffix(".py")
    if "/lib/python3" in path:
        parts = path.split("/lib/python3", 1)[1].split("/", 2)
        return "stdlib:" + (parts[1].removesuffix(".py") if len(parts) > 1 else "?")
    if path in ("", "builtins") or name.startswith("<"):
        return "C builtins"
    return path


# ---- the driver -------------------------------------------------------------------------------


def cpu_ticks(pid: int) -> int:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return int(fields[11]) + int(fields[12])


def wrk_run(
    wrk: str, args: argparse.Namespace, url: str, key: str, seconds: int, lua: list[str]
) -> int:
    cmd = [
        wrk,
        "--threads=2",
        f"--connections={args.connections}",
        f"--duration={seconds}s",
        "--latency",
        f"--header=Authorization: Bearer {key}",
        f"--script={LUA}",
        url,
        "--",
        *lua,
    ]
    proc = subprocess.run(cmd, capture_output=True, text=True, check=False)
    if proc.returncode != 0:
        fail(f"wrk exited {proc.returncode}:\n{proc.stderr}{proc.stdout}")
    run = parse_wrk(proc.stdout)
    if run.errors:
        print(f"  WARNING: {run.errors} errors in {shlex.join(cmd[:5])}")
    return run.requests


def measured(
    pid: int, wrk: str, args: argparse.Namespace, url: str, key: str, lua: list[str]
) -> float:
    """The server's CPU ms per request over one wrk run."""
    before = cpu_ticks(pid)
    requests = wrk_run(wrk, args, url, key, args.seconds, lua)
    ticks = cpu_ticks(pid) - before
    return ticks / jobs_api.CLOCK_TICKS * 1000 / max(requests, 1)


def profile(args: argparse.Namespace) -> dict[str, Any]:
    vegafs = find_vegafs(None)
    wrk = find_wrk()
    ensure_database(args.database_url)
    owner = f"{jobs_api.KEY_PREFIX}{os.getpid()}-{int(time.time())}"
    with small_tree() as root, tempfile.TemporaryDirectory(prefix="vegafs-prof-") as data:
        env = {k: v for k, v in os.environ.items() if not k.startswith("VEGAFS_")}
        env |= {
            "VEGAFS_DATABASE_URL": args.database_url,
            "VEGAFS_ROOTS": str(root),
            "VEGAFS_DATA_DIR": data,
            "VEGAFS_BIND_HOST": "127.0.0.1",
            "VEGAFS_MAX_ACTIVE_JOBS_PER_KEY": str(MAX_ACTIVE_JOBS),
        }
        if args.redis_url:
            env["VEGAFS_REDIS_URL"] = args.redis_url
        service = Service(vegafs, env, free_port(), Path(data) / "serve.log")
        service.cli("db", "upgrade")
        delete_bench_rows(args.database_url)
        key = service.cli("keys", "create", "--name", owner, "--scopes", "read,submit")
        body = json.dumps({"operation": "analyze", "params": {"selection": {"roots": [str(root)]}}})
        stats_path = Path(data) / "stats.json"
        url = f"{service.url}/api/v1/jobs"
        try:
            service.start_cmd(
                [sys.executable, str(SELF), "--serve-child", str(service.port), str(stats_path)]
            )
            smoke_test(service, key, body)
            assert service.proc is not None
            pid = service.proc.pid
            with draining(args.database_url, owner):  # see jobs_api.MAX_ACTIVE_JOBS
                wrk_run(wrk, args, url, key, max(args.warmup, 1), [SUBMIT, body])
                lua = [SUBMIT, body]
                if args.phase == GET:
                    first, last = job_id_range(args.database_url, owner)
                    lua = [GET, str(first), str(last)]
                plain_ms = measured(pid, wrk, args, url, key, lua)
                os.kill(pid, signal.SIGUSR1)
                time.sleep(0.2)
                before = cpu_ticks(pid)
                requests = wrk_run(wrk, args, url, key, args.seconds, lua)
                profiled_ms = (cpu_ticks(pid) - before) / jobs_api.CLOCK_TICKS * 1000 / requests
            os.kill(pid, signal.SIGUSR2)
            deadline = time.monotonic() + 60
            while not stats_path.exists() and time.monotonic() < deadline:
                time.sleep(0.2)
            rows: list[dict[str, Any]] = json.loads(stats_path.read_text(encoding="utf-8"))
        finally:
            service.stop()
            jobs_api.clean_up(args.database_url)
    return {
        "phase": args.phase,
        "requests": requests,
        "plain_ms_per_request": plain_ms,
        "profiled_ms_per_request": profiled_ms,
        "functions": rows,
    }


def report(result: dict[str, Any], top: int) -> None:
    rows = result["functions"]
    requests = result["requests"]
    total = sum(r["tsub"] for r in rows) or 1.0
    scale = result["plain_ms_per_request"] / (total * 1000 / requests)
    print(
        f"\n{result['phase']}: {result['plain_ms_per_request']:.2f} ms of server CPU per request "
        f"without the profiler, {result['profiled_ms_per_request']:.2f} with it; "
        f"yappi saw {total * 1000 / requests:.2f} ms per request over {requests} requests "
        f"(figures below scaled by {scale:.2f} to the unprofiled time)"
    )
    by_package: dict[str, float] = defaultdict(float)
    for r in rows:
        by_package[package_of(r["module"], r["name"])] += r["tsub"]
    print(f"\n{'own time by package':<40} {'share':>6} {'ms/req':>7}")
    for name, t in sorted(by_package.items(), key=lambda x: -x[1])[:top]:
        print(f"{name:<40} {t / total:>6.1%} {t * 1000 / requests * scale:>7.3f}")
    print(f"\n{'functions with the most own time':<60} {'calls/req':>9} {'share':>6} {'ms/req':>7}")
    for r in sorted(rows, key=lambda x: -x["tsub"])[:top]:
        where = f"{package_of(r['module'], r['name'])}: {r['name']}"[:60]
        print(
            f"{where:<60} {r['ncall'] / requests:>9.1f} {r['tsub'] / total:>6.1%} "
            f"{r['tsub'] * 1000 / requests * scale:>7.3f}"
        )
    print(f"\n{'functions with the most total time (callees included)':<60} {'share':>6}")
    for r in sorted(rows, key=lambda x: -x["ttot"])[:top]:
        where = f"{package_of(r['module'], r['name'])}: {r['name']}"[:60]
        print(f"{where:<60} {r['ttot'] / total:>6.1%}")


# ---- the INSERT check -------------------------------------------------------------------------


def insert_check(args: argparse.Namespace, n: int) -> dict[str, float]:
    """CPU ms per repository submit: INSERT built once (today) vs built per call (before)."""
    from sqlalchemy import text
    from sqlalchemy.dialects import postgresql

    from vegafs.db import Database
    from vegafs.db import jobs as job_repo
    from vegafs.db.database import utcnow
    from vegafs.settings import get_settings

    os.environ["VEGAFS_DATABASE_URL"] = args.database_url
    ensure_database(args.database_url)
    db = Database(get_settings().database)
    owner = f"{jobs_api.KEY_PREFIX}insert-{os.getpid()}"
    spec = {"selection": {"roots": ["/tmp"]}}

    def once() -> None:
        job_repo.submit(db, operation="analyze", spec=spec, owner=owner)

    def per_call() -> None:  # as before 8720d8e (python/vegafs/db/jobs.py)
        now = utcnow()
        values = {
            "operation": "analyze",
            "spec": spec,
            "status": "queued",
            "priority": 0,
            "use_cache": True,
            "attempts": 0,
            "max_attempts": 3,
            "run_after": now,
            "owner": owner,
            "idempotency_key": None,
            "key_root": None,
            "cancel_requested": False,
            "result_rows": 0,
            "version": 1,
            "created_at": now,
            "updated_at": now,
        }
        stmt = (
            postgresql.insert(job_repo.JOB)
            .values(values)
            .on_conflict_do_nothing()
            .returning(*job_repo.JOB.c)
        )
        with db.write() as conn:
            row = conn.execute(stmt).first()
            assert row is not None
            conn.execute(text(f"NOTIFY {job_repo.NOTIFY_CHANNEL}"))

    times: dict[str, list[float]] = {"built once": [], "built per call": []}
    for f in (once, per_call):
        for _ in range(50):  # warm the statement cache and the pool
            f()
    for _ in range(5):  # alternate blocks, keep each one's best
        for label, f in (("built once", once), ("built per call", per_call)):
            start = time.process_time()
            for _ in range(n // 5):
                f()
            times[label].append((time.process_time() - start) * 1000 / (n // 5))
    db.dispose()
    jobs_api.sql_execute(args.database_url, "DELETE FROM jobs WHERE owner = %s", (owner,))
    result = {label: min(v) for label, v in times.items()}
    print(
        f"\nrepository submit() (transaction, INSERT ... RETURNING, NOTIFY), {n} calls each, "
        "this process's CPU ms per call (best of 5 alternating blocks):"
    )
    for label, v in times.items():
        blocks = ", ".join(f"{x:.3f}" for x in v)
        print(f"  INSERT {label:<15} {result[label]:.3f}  (blocks: {blocks})")
    print(f"  saved by building it once: {result['built per call'] - result['built once']:.3f} ms")
    return result


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    if args.serve_child:
        serve_child(int(args.serve_child[0]), Path(args.serve_child[1]))
        return 0
    out: dict[str, Any] = {}
    if args.insert_check:
        out["insert_check"] = insert_check(args, args.insert_check)
    else:
        result = profile(args)
        report(result, args.top)
        out["profile"] = result
    if args.json_out:
        args.json_out.write_text(json.dumps(out, indent=1) + "\n", encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())

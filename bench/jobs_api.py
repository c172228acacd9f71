"""Benchmark the job service: POST /api/v1/jobs and GET /api/v1/jobs/{id} under wrk, against
a bare floor in the same run.

Usage: python bench/jobs_api.py [--database-url URL] [--redis-url URL | --no-redis]
                                [--connections 16] [--threads 2] [--duration 12]
                                [--runs 3] [--warmup 3] [--serve-args="--workers 2"]
                                [--no-floor] [--vegafs CMD] [--json-out FILE]

Runs `vegafs serve --no-worker --workers 2` (--serve-args) on PostgreSQL + Redis on a free
loopback port, with an API key (authentication on, as in production) and no job worker, so
submitted jobs stay queued: what is measured is the API and the queue insert. Beside it, on
another free port, it runs the floor (bench/floor_app.py: FastAPI + asyncpg in one uvicorn
process, one INSERT + NOTIFY per submit, one SELECT per read, in a table of its own in the same
database). wrk (Debian package `wrk`) drives both with bench/jobs_api.lua, the same way: POST
/api/v1/jobs (an analyze job on a small tree made for the run), then GET /api/v1/jobs/{id} over
the ids queued so far. Each of the --runs rounds runs the floor's pair and VegaFS's pair, the
one first in odd rounds and the other in even ones. The report gives every run (requests/s,
latency percentiles, errors, the CPU used by the server, PostgreSQL, wrk and everything else),
the medians, the best and the spread, VegaFS / floor ratios per phase (requests/s, p99, server
CPU per request), and the goals as PASS/FAIL on the medians: >= 0.5x the floor's requests/s in
both phases, p99 <= 25 ms in both phases, >= 500 submits/s.

The database (default: `vegafs_bench` on the server of VEGAFS_TEST_DATABASE_URL, from the
environment or .services.env) is created when missing and migrated with `vegafs db upgrade`.
The run's key and jobs (and those left by an interrupted run: names starting with `bench-`) are
deleted, and so is the floor's table. Always exits 0 with a report, except 2 when something
needed is missing or a server fails.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import platform
import re
import resource
import shlex
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Iterator, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, NoReturn
from urllib.parse import urlsplit, urlunsplit

BENCH_DIR = Path(__file__).resolve().parent
REPO_ROOT = BENCH_DIR.parent
LUA = BENCH_DIR / "jobs_api.lua"
FLOOR_APP = BENCH_DIR / "floor_app.py"
FLOOR_TABLE = "bench_floor_jobs"  # floor_app.py's TABLE
SERVICES_ENV = REPO_ROOT / ".services.env"
BENCH_DATABASE = "vegafs_bench"
KEY_PREFIX = "bench-"
START_TIMEOUT_S = 30.0
# No job worker runs, so the key's jobs stay queued, and a key may have only
# VEGAFS_MAX_ACTIVE_JOBS_PER_KEY (default 100) queued or running (429 beyond). The benchmark
# raises that limit and, standing in for the workers of a service that keeps up with its queue,
# marks the run's queued jobs succeeded every DRAIN_EVERY_S (an UPDATE of a few dozen rows):
# the per-key check then counts what it counts in production, a handful of active jobs.
MAX_ACTIVE_JOBS = 1_000_000_000
DRAIN_EVERY_S = 0.05
# One server process per core of the 2-core machine the goals are set for.
DEFAULT_SERVE_ARGS = "--workers 2"

GOAL_SUBMITS_PER_S = 500.0
GOAL_P99_MS = 25.0
GOAL_FLOOR_RATIO = 0.5  # VegaFS's requests/s / the floor's, in each phase

SUBMIT = "submit"
GET = "get"
VEGAFS = "vegafs"
FLOOR = "floor"

CLOCK_TICKS = os.sysconf("SC_CLK_TCK")


@dataclass
class WrkRun:
    requests_per_s: float
    requests: int
    duration_s: float
    p50_ms: float
    p75_ms: float
    p90_ms: float
    p99_ms: float
    max_ms: float
    errors: int  # non-2xx/3xx responses + socket errors (timeouts included)
    server_cpu: float = 0.0  # cores used by the server's processes during the run
    postgres_cpu: float = 0.0  # cores used by every postgres process (others' too)
    wrk_cpu: float = 0.0  # cores used by wrk
    other_cpu: float = 0.0  # cores used by everything else on the machine
    machine_busy: float = 0.0  # fraction of all cores busy

    @property
    def server_ms_per_request(self) -> float:
        """The server's CPU time per request: what a change saves, whatever else runs."""
        return self.server_cpu * self.duration_s * 1000 / self.requests if self.requests else 0.0

    @property
    def ok_per_s(self) -> float:
        """Successful requests per second."""
        if self.requests == 0:
            return 0.0
        return self.requests_per_s * max(0, self.requests - self.errors) / self.requests


@dataclass
class Phase:
    target: str  # vegafs or floor
    name: str  # submit or get
    what: str
    cmd: str = ""  # the wrk command line, with the key left out
    runs: list[WrkRun] = field(default_factory=list)

    def values(self, attr: str) -> list[float]:
        return [float(getattr(r, attr)) for r in self.runs]

    def median(self, attr: str) -> float:
        return statistics.median(self.values(attr))

    def spread(self, attr: str) -> tuple[float, float]:
        return min(self.values(attr)), max(self.values(attr))

    @property
    def label(self) -> str:
        return f"{self.target} {self.name}"


@dataclass(frozen=True)
class Goal:
    text: str
    status: str  # PASS or FAIL
    detail: str


def fail(message: str) -> NoReturn:
    print(f"jobs_api: {message}", file=sys.stderr)
    sys.exit(2)


# ---- configuration ----------------------------------------------------------------------------


def services_env() -> dict[str, str]:
    """The environment, completed by .services.env (written by `make services`)."""
    values: dict[str, str] = {}
    if SERVICES_ENV.is_file():
        for line in SERVICES_ENV.read_text(encoding="utf-8").splitlines():
            name, sep, value = line.strip().partition("=")
            if sep and not name.startswith("#"):
                values[name.strip()] = value.strip()
    values.update(os.environ)
    return values


def default_database_url(env: dict[str, str]) -> str | None:
    if env.get("VEGAFS_BENCH_DATABASE_URL"):
        return env["VEGAFS_BENCH_DATABASE_URL"]
    test_url = env.get("VEGAFS_TEST_DATABASE_URL")
    if not test_url:
        return None
    return urlunsplit(urlsplit(test_url)._replace(path=f"/{BENCH_DATABASE}"))


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    env = services_env()
    parser = argparse.ArgumentParser(description="Benchmark the job service's API under wrk.")
    parser.add_argument(
        "--database-url",
        default=default_database_url(env),
        help=f"PostgreSQL URL (default: database {BENCH_DATABASE} on VEGAFS_TEST_DATABASE_URL's "
        "server, or VEGAFS_BENCH_DATABASE_URL)",
    )
    parser.add_argument(
        "--redis-url",
        default=env.get("VEGAFS_BENCH_REDIS_URL") or env.get("VEGAFS_TEST_REDIS_URL"),
        help="Redis URL (default: VEGAFS_TEST_REDIS_URL)",
    )
    parser.add_argument("--no-redis", action="store_true", help="run without Redis")
    parser.add_argument(
        "--connections", type=int, default=16, help="wrk connections (default: 16, the issue's)"
    )
    parser.add_argument("--threads", type=int, default=2, help="wrk threads")
    parser.add_argument("--duration", type=int, default=12, help="seconds per wrk run")
    parser.add_argument("--runs", type=int, default=3, help="runs of each phase")
    parser.add_argument("--warmup", type=int, default=3, help="seconds of untimed submits first")
    parser.add_argument(
        "--serve-args",
        default=DEFAULT_SERVE_ARGS,
        help=f"more `vegafs serve` options (default: {DEFAULT_SERVE_ARGS!r}; '' for one process)",
    )
    parser.add_argument(
        "--no-floor", action="store_true", help="run VegaFS only, without the bare floor"
    )
    parser.add_argument("--floor-pool", type=int, default=16, help="the floor's asyncpg pool")
    parser.add_argument("--vegafs", help="command that runs vegafs (default: found next to python)")
    parser.add_argument("--json-out", type=Path, help="also write the figures to this JSON file")
    args = parser.parse_args(argv)
    if args.database_url is None:
        parser.error(
            "no database: set VEGAFS_TEST_DATABASE_URL (`make services`) or --database-url"
        )
    if args.no_redis:
        args.redis_url = None
    for name in ("connections", "threads", "duration", "runs", "floor_pool"):
        if getattr(args, name) < 1:
            parser.error(f"--{name.replace('_', '-')} must be at least 1")
    if args.warmup < 0:
        parser.error("--warmup must be at least 0")
    return args


def find_vegafs(override: str | None) -> list[str]:
    if override:
        return shlex.split(override)
    beside_python = Path(sys.executable).parent / "vegafs"
    if os.access(beside_python, os.X_OK):
        return [str(beside_python)]
    on_path = shutil.which("vegafs")
    if on_path:
        return [on_path]
    fail(f"vegafs not found next to {sys.executable} nor on PATH; install it or pass --vegafs CMD")


def find_wrk() -> str:
    found = shutil.which("wrk")
    if found is None:
        fail(
            "wrk is not installed (Debian: `scripts/ensure-packages.sh wrk` or apt-get install wrk)"
        )
    return found


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def libpq_url(url: str) -> str:
    """SQLAlchemy's ``postgresql+psycopg://`` as libpq's ``postgresql://``."""
    parts = urlsplit(url)
    return urlunsplit(parts._replace(scheme=parts.scheme.split("+", 1)[0]))


# ---- the database -----------------------------------------------------------------------------


def ensure_database(url: str) -> None:
    """Create the database when missing (the role needs CREATEDB)."""
    import psycopg
    from psycopg import sql
    from psycopg.conninfo import conninfo_to_dict, make_conninfo

    dbname = str(conninfo_to_dict(libpq_url(url)).get("dbname") or "")
    if not dbname:
        fail(f"--database-url {url}: names no database")
    try:
        with psycopg.connect(
            make_conninfo(libpq_url(url), dbname="postgres"), autocommit=True
        ) as c:
            if c.execute("SELECT 1 FROM pg_database WHERE datname = %s", (dbname,)).fetchone():
                return
            print(f"creating database {dbname}")
            c.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(dbname)))
    except psycopg.Error as e:
        fail(
            f"cannot reach or create database {dbname} ({e}); as root: "
            f"su postgres -c \"psql -c 'CREATE DATABASE {dbname} OWNER <role>'\""
        )


def sql_execute(url: str, query: str, params: Sequence[Any] = ()) -> list[tuple[Any, ...]]:
    import psycopg

    with psycopg.connect(libpq_url(url), autocommit=True) as conn:
        cur = conn.execute(query.encode(), params)
        return cur.fetchall() if cur.description else []


def delete_bench_rows(url: str) -> None:
    """The jobs and keys of this and earlier bench runs (their names start with bench-), and
    the floor's table."""
    pattern = KEY_PREFIX + "%"
    sql_execute(
        url,
        "DELETE FROM job_results WHERE job_id IN (SELECT id FROM jobs WHERE owner LIKE %s)",
        (pattern,),
    )
    sql_execute(url, "DELETE FROM jobs WHERE owner LIKE %s", (pattern,))
    sql_execute(url, "DELETE FROM api_keys WHERE name LIKE %s", (pattern,))
    sql_execute(url, "VACUUM ANALYZE jobs")
    drop_floor_table(url)


def clean_up(url: str) -> None:
    """delete_bench_rows, that a database gone down meanwhile only warns about."""
    import psycopg

    try:
        delete_bench_rows(url)
    except psycopg.Error as e:
        print(f"WARNING: could not delete this run's jobs and key ({e}); the next run will")


def drop_floor_table(url: str) -> None:
    sql_execute(url, f"DROP TABLE IF EXISTS {FLOOR_TABLE}")


@contextlib.contextmanager
def draining(url: str, owner: str) -> Iterator[None]:
    """Mark ``owner``'s queued jobs succeeded every DRAIN_EVERY_S, in a thread, meanwhile."""
    import psycopg

    stop = threading.Event()

    def drain() -> None:
        with psycopg.connect(libpq_url(url), autocommit=True) as conn:
            while not stop.wait(DRAIN_EVERY_S):
                conn.execute(
                    "UPDATE jobs SET status = 'succeeded', finished_at = now(), "
                    "updated_at = now() WHERE owner = %s AND status = 'queued'",
                    (owner,),
                )

    thread = threading.Thread(target=drain, name="drain", daemon=True)
    thread.start()
    try:
        yield
    finally:
        stop.set()
        thread.join()


def job_id_range(url: str, owner: str | None) -> tuple[int, int]:
    """The ids VegaFS queued for ``owner``; or, with None, the floor's."""
    if owner is None:
        rows = sql_execute(url, f"SELECT min(id), max(id) FROM {FLOOR_TABLE}")
    else:
        rows = sql_execute(url, "SELECT min(id), max(id) FROM jobs WHERE owner = %s", (owner,))
    first, last = rows[0]
    if first is None:
        fail("no job was queued by the submit phase")
    return int(first), int(last)


# ---- the service ------------------------------------------------------------------------------


@dataclass
class Service:
    vegafs: list[str]
    env: dict[str, str]
    port: int
    log: Path
    proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def cli(self, *args: str) -> str:
        proc = subprocess.run(
            [*self.vegafs, *args], env=self.env, capture_output=True, text=True, check=False
        )
        if proc.returncode != 0:
            fail(f"`vegafs {shlex.join(args)}` exited {proc.returncode}:\n{proc.stderr}")
        return proc.stdout.strip()

    def start(self, serve_args: list[str]) -> list[str]:
        cmd = [*self.vegafs, "serve", "--no-worker", "--host", "127.0.0.1"]
        return self.start_cmd([*cmd, "--port", str(self.port), *serve_args])

    def start_cmd(self, cmd: list[str]) -> list[str]:
        name = Path(cmd[1] if cmd[0] == sys.executable else cmd[0]).name
        with self.log.open("wb") as out:
            self.proc = subprocess.Popen(
                cmd, env=self.env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True
            )
        deadline = time.monotonic() + START_TIMEOUT_S
        while True:
            if self.proc.poll() is not None:
                fail(f"{name} exited {self.proc.returncode}:\n{self.log_tail()}")
            with contextlib.suppress(OSError):
                if http("GET", f"{self.url}/readyz")[0] == 200:
                    return cmd
            if time.monotonic() > deadline:
                fail(f"{name} did not come up in {START_TIMEOUT_S:.0f} s:\n{self.log_tail()}")
            time.sleep(0.1)

    def stop(self) -> None:
        """SIGTERM to the server's process group (its worker processes too), then SIGKILL."""
        if self.proc is None:
            return
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.proc.pid, signal.SIGTERM)
        try:
            self.proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait()

    def log_tail(self) -> str:
        return self.log.read_text(errors="replace")[-4000:] if self.log.exists() else ""


def http(
    method: str, url: str, body: bytes | None = None, headers: dict[str, str] | None = None
) -> tuple[int, bytes]:
    request = urllib.request.Request(url, data=body, method=method, headers=headers or {})
    try:
        with urllib.request.urlopen(request, timeout=5) as response:
            return response.status, response.read()
    except urllib.error.HTTPError as e:
        return e.code, e.read()


def smoke_test(service: Service, key: str, body: str) -> None:
    """One submit and one read, so that a refused request fails here, not as wrk's non-2xx."""
    auth = {"Authorization": f"Bearer {key}", "Content-Type": "application/json"}
    status, answer = http("POST", f"{service.url}/api/v1/jobs", body.encode(), auth)
    if status != 202:
        fail(f"POST /api/v1/jobs answered {status}: {answer[:500]!r}")
    job_id = json.loads(answer)["id"]
    status, answer = http("GET", f"{service.url}/api/v1/jobs/{job_id}", None, auth)
    if status != 200 or json.loads(answer).get("status") != "queued":
        fail(f"GET /api/v1/jobs/{job_id} answered {status}: {answer[:500]!r}")


@contextlib.contextmanager
def small_tree() -> Iterator[Path]:
    """A few files to name in the jobs (the jobs are never run: no worker)."""
    with tempfile.TemporaryDirectory(prefix="vegafs-bench-root-") as tmp:
        root = Path(tmp)
        for i in range(3):
            sub = root / f"d{i}"
            sub.mkdir()
            for j in range(5):
                (sub / f"f{j}.txt").write_bytes(b"x" * (100 * j))
        yield root


# ---- CPU use ----------------------------------------------------------------------------------


def _proc_stats() -> dict[int, tuple[int, str, int]]:
    """pid -> (ppid, command name, utime + stime in ticks), for every readable process."""
    stats: dict[int, tuple[int, str, int]] = {}
    for entry in os.scandir("/proc"):
        if not entry.name.isdigit():
            continue
        try:
            text = Path(entry.path, "stat").read_text()
        except OSError:
            continue
        name = text[text.index("(") + 1 : text.rindex(")")]
        fields = text[text.rindex(")") + 2 :].split()
        stats[int(entry.name)] = (int(fields[1]), name, int(fields[11]) + int(fields[12]))
    return stats


def _descendants(stats: dict[int, tuple[int, str, int]], root: int) -> set[int]:
    found = {root}
    grew = True
    while grew:
        more = {pid for pid, (ppid, _, _) in stats.items() if ppid in found} - found
        found |= more
        grew = bool(more)
    return found


def _machine_ticks() -> tuple[int, int]:
    """(busy, total) jiffies of all cores, from /proc/stat."""
    values = [int(v) for v in Path("/proc/stat").read_text().splitlines()[0].split()[1:]]
    idle = values[3] + values[4]  # idle + iowait
    return sum(values) - idle, sum(values)


@dataclass(frozen=True)
class CpuSample:
    at: float
    server: dict[int, int]  # pid -> CPU ticks, for the server and its children
    postgres: dict[int, int]
    machine: tuple[int, int]


def cpu_sample(server_pid: int) -> CpuSample:
    stats = _proc_stats()
    server = {p: stats[p][2] for p in _descendants(stats, server_pid) if p in stats}
    postgres = {pid: t for pid, (_, name, t) in stats.items() if name.startswith("postgres")}
    return CpuSample(time.monotonic(), server, postgres, _machine_ticks())


def _ticks_between(before: dict[int, int], after: dict[int, int]) -> int:
    """A process that exited meanwhile is lost; one that started counts from zero."""
    return sum(t - before.get(pid, 0) for pid, t in after.items())


def cpu_between(before: CpuSample, after: CpuSample) -> tuple[float, float, float]:
    """Cores used by the server and by PostgreSQL, and the machine's busy fraction."""
    seconds = after.at - before.at
    server = _ticks_between(before.server, after.server) / CLOCK_TICKS / seconds
    postgres = _ticks_between(before.postgres, after.postgres) / CLOCK_TICKS / seconds
    busy = after.machine[0] - before.machine[0]
    total = after.machine[1] - before.machine[1]
    return server, postgres, busy / total if total else 0.0


# ---- wrk --------------------------------------------------------------------------------------

_UNITS_MS = {"us": 0.001, "ms": 1.0, "s": 1000.0, "m": 60_000.0, "h": 3_600_000.0}
_DURATION = r"([\d.]+)(us|ms|s|m|h)"


def _ms(number: str, unit: str) -> float:
    return float(number) * _UNITS_MS[unit]


def parse_wrk(text: str) -> WrkRun:
    """Requests/s, the latency distribution and the errors from `wrk --latency` output."""

    def find(pattern: str) -> re.Match[str]:
        match = re.search(pattern, text)
        if match is None:
            fail(f"cannot read {pattern!r} in wrk's output:\n{text}")
        return match

    percentiles = {
        int(p): _ms(n, u) for p, n, u in re.findall(rf"^\s+(\d+)%\s+{_DURATION}\s*$", text, re.M)
    }
    if not {50, 75, 90, 99} <= percentiles.keys():
        fail(f"no latency distribution in wrk's output (--latency):\n{text}")
    latency_max = find(rf"Latency\s+{_DURATION}\s+{_DURATION}\s+{_DURATION}")
    total = find(r"(\d+) requests in ([\d.]+)(us|ms|s|m|h)")
    errors = 0
    socket_errors = re.search(
        r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", text
    )
    if socket_errors:
        errors += sum(int(g) for g in socket_errors.groups())
    non_2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", text)
    if non_2xx:
        errors += int(non_2xx.group(1))
    return WrkRun(
        requests_per_s=float(find(r"Requests/sec:\s+([\d.]+)").group(1)),
        requests=int(total.group(1)),
        duration_s=_ms(total.group(2), total.group(3)) / 1000,
        p50_ms=percentiles[50],
        p75_ms=percentiles[75],
        p90_ms=percentiles[90],
        p99_ms=percentiles[99],
        max_ms=_ms(latency_max.group(5), latency_max.group(6)),
        errors=errors,
    )


def wrk_command(
    wrk: str, args: argparse.Namespace, url: str, key: str, duration: int, lua_args: list[str]
) -> list[str]:
    return [
        wrk,
        f"--threads={args.threads}",
        f"--connections={args.connections}",
        f"--duration={duration}s",
        "--latency",
        "--timeout=5s",
        f"--header=Authorization: Bearer {key}",
        f"--script={LUA}",
        url,
        "--",
        *lua_args,
    ]


def run_wrk(cmd: list[str], server_pid: int) -> WrkRun:
    before = cpu_sample(server_pid)
    children = resource.getrusage(resource.RUSAGE_CHILDREN)
    proc = subprocess.run(cmd, capture_output=True, text=True, check=False)
    after = cpu_sample(server_pid)
    if proc.returncode != 0:
        fail(f"wrk exited {proc.returncode}:\n{proc.stderr}{proc.stdout}")
    wrk_usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    wrk_s = (wrk_usage.ru_utime - children.ru_utime) + (wrk_usage.ru_stime - children.ru_stime)
    run = parse_wrk(proc.stdout)
    run.server_cpu, run.postgres_cpu, run.machine_busy = cpu_between(before, after)
    if before.server.keys() - after.server.keys():
        print("  WARNING: a server process exited during this run (its CPU time is not counted)")
    run.wrk_cpu = wrk_s / (after.at - before.at)
    busy_cores = run.machine_busy * (os.cpu_count() or 1)
    run.other_cpu = max(0.0, busy_cores - run.server_cpu - run.postgres_cpu - run.wrk_cpu)
    return run


# ---- report -----------------------------------------------------------------------------------


def print_runs(phases: list[Phase]) -> None:
    """Every run; CPU in cores used over the run (2.00 = both cores of a 2-core machine)."""
    print(
        f"\n{'phase':<13} {'run':>3} {'req/s':>6} {'p50 ms':>7} {'p90 ms':>7} {'p99 ms':>7} "
        f"{'max ms':>7} {'err':>4} | {'server':>6} {'ms/req':>6} {'pg':>5} {'wrk':>5} "
        f"{'other':>5} {'busy':>5}"
    )
    for phase in phases:
        for i, r in enumerate(phase.runs, 1):
            print(
                f"{phase.label:<13} {i:>3} {r.ok_per_s:>6.0f} {r.p50_ms:>7.2f} {r.p90_ms:>7.2f} "
                f"{r.p99_ms:>7.2f} {r.max_ms:>7.1f} {r.errors:>4} | {r.server_cpu:>6.2f} "
                f"{r.server_ms_per_request:>6.2f} {r.postgres_cpu:>5.2f} {r.wrk_cpu:>5.2f} "
                f"{r.other_cpu:>5.2f} {r.machine_busy:>5.0%}"
            )
    print(
        "CPU columns: cores used by the server's processes, the server's CPU ms per request, "
        "PostgreSQL (all of it), wrk, everything else; busy = the machine's CPU use."
    )


def print_summary(phases: list[Phase]) -> None:
    print(
        f"\n{'':<13} {'req/s':>6} {'best':>6} {'spread':>11} {'p50 ms':>7} {'p90 ms':>7} "
        f"{'p99 ms':>7} {'best':>7} {'spread':>13} {'ms/req':>6}  "
        "(medians of the runs; best and spread)"
    )
    for phase in phases:
        lo, hi = phase.spread("ok_per_s")
        p99_lo, p99_hi = phase.spread("p99_ms")
        print(
            f"{phase.label:<13} {phase.median('ok_per_s'):>6.0f} {hi:>6.0f} "
            f"{f'{lo:.0f}-{hi:.0f}':>11} {phase.median('p50_ms'):>7.2f} "
            f"{phase.median('p90_ms'):>7.2f} {phase.median('p99_ms'):>7.2f} {p99_lo:>7.2f} "
            f"{f'{p99_lo:.1f}-{p99_hi:.1f}':>13} {phase.median('server_ms_per_request'):>6.2f}"
        )


@dataclass(frozen=True)
class Ratio:
    """VegaFS / floor in one phase, on the medians; ``per_round``: the rounds' own ratios."""

    phase: str
    requests_per_s: float
    p99: float
    vegafs_ms_per_request: float
    floor_ms_per_request: float
    per_round: tuple[float, ...]


def ratios(phases: list[Phase]) -> list[Ratio]:
    by = {(p.target, p.name): p for p in phases}
    found = []
    for name in (SUBMIT, GET):
        vegafs, floor = by.get((VEGAFS, name)), by.get((FLOOR, name))
        if vegafs is None or floor is None:
            continue
        floor_rate = floor.median("ok_per_s")
        found.append(
            Ratio(
                name,
                vegafs.median("ok_per_s") / floor_rate if floor_rate else 0.0,
                vegafs.median("p99_ms") / floor.median("p99_ms"),
                vegafs.median("server_ms_per_request"),
                floor.median("server_ms_per_request"),
                tuple(
                    v.ok_per_s / f.ok_per_s if f.ok_per_s else 0.0
                    for v, f in zip(vegafs.runs, floor.runs, strict=True)
                ),
            )
        )
    return found


def print_ratios(found: list[Ratio]) -> None:
    print(
        f"\n{'VegaFS / floor':<14} {'req/s':>6} {'per round':>11} {'p99':>6} "
        f"{'ms/req VegaFS':>13} {'floor':>6}  (medians; per round: that round's pair)"
    )
    for r in found:
        spread = f"{min(r.per_round):.2f}-{max(r.per_round):.2f}"
        print(
            f"{r.phase:<14} {r.requests_per_s:>5.2f}x {spread:>11} {r.p99:>5.2f}x "
            f"{r.vegafs_ms_per_request:>13.2f} {r.floor_ms_per_request:>6.2f}"
        )


def evaluate_goals(phases: list[Phase]) -> list[Goal]:
    """On the medians; the best runs are in the table."""
    by = {(p.target, p.name): p for p in phases}
    submit, get = by[VEGAFS, SUBMIT], by[VEGAFS, GET]
    goals = []
    for r in ratios(phases):
        goals.append(
            Goal(
                f"{r.phase} >= {GOAL_FLOOR_RATIO}x the floor's requests/s",
                "PASS" if r.requests_per_s >= GOAL_FLOOR_RATIO else "FAIL",
                f"{r.requests_per_s:.2f}x median ({min(r.per_round):.2f}-"
                f"{max(r.per_round):.2f}x per round)",
            )
        )
    for phase in (submit, get):
        p99 = phase.median("p99_ms")
        goals.append(
            Goal(
                f"{phase.name} p99 <= {GOAL_P99_MS:.0f} ms",
                "PASS" if p99 <= GOAL_P99_MS else "FAIL",
                f"{p99:.2f} ms median, {p99 / GOAL_P99_MS:.2f}x the limit "
                f"(p50 {phase.median('p50_ms'):.2f} ms)",
            )
        )
    rate = submit.median("ok_per_s")
    goals.append(
        Goal(
            f"job submissions >= {GOAL_SUBMITS_PER_S:.0f}/s (the previous issue's)",
            "PASS" if rate >= GOAL_SUBMITS_PER_S else "FAIL",
            f"{rate:.0f}/s median, {rate / GOAL_SUBMITS_PER_S:.2f}x the goal",
        )
    )
    return goals


def versions(vegafs: list[str], wrk: str) -> dict[str, str]:
    def first_line(cmd: list[str]) -> str:
        proc = subprocess.run(cmd, capture_output=True, text=True, check=False)
        lines = (proc.stdout or proc.stderr).strip().splitlines()
        return " ".join(lines[0].split()) if lines else "unknown"

    found = {
        "vegafs": first_line([*vegafs, "version"]),
        "wrk": first_line([wrk, "--version"]),
        "python": platform.python_version(),
    }
    for module in ("fastapi", "uvicorn", "asyncpg"):
        proc = subprocess.run(
            [sys.executable, "-c", f"import {module}; print({module}.__version__)"],
            capture_output=True,
            text=True,
            check=False,
        )
        found[module] = proc.stdout.strip() or "missing"
    return found


def server_version(url: str) -> str:
    rows = sql_execute(url, "SHOW server_version")
    return str(rows[0][0]) if rows else "unknown"


def write_json(
    path: Path, args: argparse.Namespace, meta: dict[str, Any], phases: list[Phase]
) -> None:
    data = {
        **meta,
        "connections": args.connections,
        "threads": args.threads,
        "duration_s": args.duration,
        "runs": args.runs,
        "machine": {"cpus": os.cpu_count(), "platform": platform.platform()},
        "phases": {
            p.label: {
                "what": p.what,
                "wrk_cmd": p.cmd,
                "runs": [
                    asdict(r)
                    | {"ok_per_s": r.ok_per_s, "server_ms_per_request": r.server_ms_per_request}
                    for r in p.runs
                ],
                "median": {
                    a: p.median(a)
                    for a in (
                        "ok_per_s",
                        "p50_ms",
                        "p90_ms",
                        "p99_ms",
                        "max_ms",
                        "server_ms_per_request",
                    )
                },
                "best_ok_per_s": p.spread("ok_per_s")[1],
                "best_p99_ms": p.spread("p99_ms")[0],
            }
            for p in phases
        },
        "vegafs_over_floor": [asdict(r) for r in ratios(phases)],
        "goals": [
            {"goal": g.text, "status": g.status, "detail": g.detail} for g in evaluate_goals(phases)
        ],
    }
    path.write_text(json.dumps(data, indent=2) + "\n", encoding="utf-8")
    print(f"\nwrote {path}")


# ---- main -------------------------------------------------------------------------------------


@dataclass
class Target:
    """A server under test: VegaFS or the floor, with its two phases."""

    name: str
    service: Service
    owner: str | None  # whose jobs the get phase reads (None: the floor's table)
    submit: Phase
    get: Phase

    @property
    def pid(self) -> int:
        assert self.service.proc is not None
        return self.service.proc.pid


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    vegafs = find_vegafs(args.vegafs)
    wrk = find_wrk()
    if not args.no_floor:
        proc = subprocess.run([sys.executable, "-c", "import asyncpg"], check=False)
        if proc.returncode != 0:
            fail(
                "the floor needs asyncpg (a VegaFS dependency: `make build` installs it), "
                "or pass --no-floor"
            )
    ensure_database(args.database_url)
    owner = f"{KEY_PREFIX}{os.getpid()}-{int(time.time())}"
    with small_tree() as root, tempfile.TemporaryDirectory(prefix="vegafs-bench-") as data:
        env = dict(os.environ)
        for name in list(env):
            if name.startswith("VEGAFS_"):
                del env[name]
        env |= {
            "VEGAFS_DATABASE_URL": args.database_url,
            "VEGAFS_ROOTS": str(root),
            "VEGAFS_DATA_DIR": data,
            "VEGAFS_MAX_ACTIVE_JOBS_PER_KEY": str(MAX_ACTIVE_JOBS),
        }
        if args.redis_url:
            env["VEGAFS_REDIS_URL"] = args.redis_url
        service = Service(vegafs, env, free_port(), Path(data) / "serve.log")
        floor = Service(vegafs, env, free_port(), Path(data) / "floor.log")
        service.cli("db", "upgrade")
        delete_bench_rows(args.database_url)
        key = service.cli("keys", "create", "--name", owner, "--scopes", "read,submit")
        body = json.dumps({"operation": "analyze", "params": {"selection": {"roots": [str(root)]}}})
        targets: list[Target] = []
        floor_cmd: list[str] = []
        try:
            serve_cmd = service.start(shlex.split(args.serve_args))
            print(f"server: {shlex.join(serve_cmd)}")
            print(
                f"database: {urlsplit(args.database_url).path.lstrip('/')}, "
                f"redis: {'yes' if args.redis_url else 'no'}, auth: API key"
            )
            smoke_test(service, key, body)
            if not args.no_floor:
                floor_cmd = floor.start_cmd(
                    [
                        sys.executable,
                        str(FLOOR_APP),
                        "--database-url",
                        args.database_url,
                        "--port",
                        str(floor.port),
                        "--pool",
                        str(args.floor_pool),
                    ]
                )
                print(f"floor: {shlex.join(floor_cmd).replace(args.database_url, 'URL')}")
                smoke_test(floor, key, body)
                targets.append(target(FLOOR, floor, None))
            targets.append(target(VEGAFS, service, owner))
            with draining(args.database_url, owner):
                run_phases(args, wrk, key, body, targets)
        finally:
            floor.stop()
            service.stop()
            log = service.log_tail()
            floor_log = floor.log_tail()
            clean_up(args.database_url)
        for name, text in ((VEGAFS, log), (FLOOR, floor_log)):
            if "Traceback" in text:
                print(f"WARNING: {name} logged errors; the end of its log:\n{text[-2000:]}")
    phases = [p for t in targets for p in (t.submit, t.get)]
    print_runs(phases)
    print_summary(phases)
    found = ratios(phases)
    if found:
        print_ratios(found)
    print()
    for goal in evaluate_goals(phases):
        print(f"GOAL {goal.text}: {goal.status} ({goal.detail})")
    if args.json_out:
        meta = {
            "server_cmd": serve_cmd,
            "floor_cmd": [a.replace(args.database_url, "URL") for a in floor_cmd],
            "database": "postgresql " + server_version(args.database_url),
            "redis": bool(args.redis_url),
            "versions": versions(vegafs, wrk),
        }
        write_json(args.json_out, args, meta, phases)
    return 0


def target(name: str, service: Service, owner: str | None) -> Target:
    return Target(
        name,
        service,
        owner,
        Phase(name, SUBMIT, "POST /api/v1/jobs (analyze)"),
        Phase(name, GET, "GET /api/v1/jobs/{id}"),
    )


def run_phases(
    args: argparse.Namespace, wrk: str, key: str, body: str, targets: list[Target]
) -> None:
    """Warm-up, then --runs rounds; each round runs every target's submit and get, the targets
    in turn first (a drift of the machine then weighs on both alike)."""
    if args.warmup:
        print(f"warm-up: {args.warmup} s of submits to each server")
    for t in targets:
        url = f"{t.service.url}/api/v1/jobs"
        t.submit.cmd = shlex.join(wrk_command(wrk, args, url, "KEY", args.duration, [SUBMIT, body]))
        if args.warmup:
            run_wrk(wrk_command(wrk, args, url, key, args.warmup, [SUBMIT, body]), t.pid)
    print(
        f"{args.runs} x ({args.duration} s submit, {args.duration} s get) on "
        f"{', '.join(t.name for t in targets)}, {args.connections} connections, "
        f"{args.threads} wrk threads"
    )
    for i in range(args.runs):
        order = targets if i % 2 == 0 else targets[::-1]
        for t in order:
            url = f"{t.service.url}/api/v1/jobs"
            run = run_wrk(wrk_command(wrk, args, url, key, args.duration, [SUBMIT, body]), t.pid)
            t.submit.runs.append(run)
            print(
                f"  {t.name:<6} submit {i + 1}: {run.requests_per_s:.0f} req/s, "
                f"p99 {run.p99_ms:.2f} ms, {run.errors} errors"
            )
            first, last = job_id_range(args.database_url, t.owner)
            lua_args = [GET, str(first), str(last)]
            run = run_wrk(wrk_command(wrk, args, url, key, args.duration, lua_args), t.pid)
            t.get.runs.append(run)
            t.get.cmd = shlex.join(wrk_command(wrk, args, url, "KEY", args.duration, lua_args))
            print(
                f"  {t.name:<6} get    {i + 1}: {run.requests_per_s:.0f} req/s, "
                f"p99 {run.p99_ms:.2f} ms, {run.errors} errors (ids {first}-{last})"
            )


if __name__ == "__main__":
    sys.exit(main())

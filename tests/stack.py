"""A real VegaFS service for tests: `vegafs serve` and `vegafs worker` processes on a free port,
over SQLite or over the PostgreSQL + Redis that `make services` started.

Timings are shortened (lease 3 s, heartbeat and polling 0.2 s, no auth memo) so that lease expiry
and retries happen within a test; everything else is the service as users run it.
"""

import contextlib
import os
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

START_TIMEOUT_S = 30.0

FAST = {
    "VEGAFS_LEASE_S": "3",
    "VEGAFS_HEARTBEAT_S": "0.2",
    "VEGAFS_POLL_S": "0.2",
    "VEGAFS_AUTH_MEMO_S": "0",
    "VEGAFS_RETRY_BASE_S": "0.1",
    "VEGAFS_SSE_KEEPALIVE_S": "1",
}


@dataclass(frozen=True)
class Backend:
    """Where the service keeps its state: ``sqlite`` (embedded) or ``pg`` (PostgreSQL + Redis)."""

    name: str
    database_url: str | None  # None: the SQLite default in the data dir
    redis_url: str | None

    @property
    def embedded(self) -> bool:
        return self.database_url is None


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def vegafs_exe() -> Path:
    return Path(sys.executable).parent / "vegafs"


@dataclass
class Stack:
    backend: Backend
    data_dir: Path
    roots: list[Path]
    env_extra: dict[str, str] = field(default_factory=dict)
    port: int = field(default_factory=free_port)
    procs: list[subprocess.Popen[bytes]] = field(default_factory=list)
    logs: list[Path] = field(default_factory=list)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def env(self) -> dict[str, str]:
        env = dict(os.environ)
        for name in ("VEGAFS_DATABASE_URL", "VEGAFS_REDIS_URL", "VEGAFS_ROOTS"):
            env.pop(name, None)
        env.update(FAST)
        env["VEGAFS_DATA_DIR"] = str(self.data_dir)
        env["VEGAFS_ROOTS"] = os.pathsep.join(str(r) for r in self.roots)
        if self.backend.database_url:
            env["VEGAFS_DATABASE_URL"] = self.backend.database_url
        if self.backend.redis_url:
            env["VEGAFS_REDIS_URL"] = self.backend.redis_url
        env.update(self.env_extra)
        return env

    def _spawn(self, args: list[str], prefix: list[str] | None = None) -> subprocess.Popen[bytes]:
        log = self.data_dir / f"proc-{len(self.logs)}.log"
        self.logs.append(log)
        with log.open("wb") as out:
            proc = subprocess.Popen(
                [*(prefix or []), str(vegafs_exe()), *args],
                env=self.env,
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,  # its own process group: killpg reaches strace's child
            )
        self.procs.append(proc)
        return proc

    def cli(self, *args: str, timeout: float = 60) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [str(vegafs_exe()), *args],
            env=self.env,
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )

    def start_server(self, *extra: str, prefix: list[str] | None = None) -> subprocess.Popen[bytes]:
        """`vegafs serve` (with its in-process worker on SQLite); returns when /healthz answers."""
        proc = self._spawn(["serve", "--port", str(self.port), *extra], prefix)
        deadline = time.monotonic() + START_TIMEOUT_S
        while True:
            if proc.poll() is not None:
                raise AssertionError(f"vegafs serve exited {proc.returncode}:\n{self.log_text()}")
            with contextlib.suppress(httpx.HTTPError):
                if httpx.get(f"{self.url}/healthz", timeout=1).status_code == 200:
                    return proc
            if time.monotonic() > deadline:
                raise AssertionError(f"vegafs serve did not come up:\n{self.log_text()}")
            time.sleep(0.05)

    def start_worker(self, *extra: str, prefix: list[str] | None = None) -> subprocess.Popen[bytes]:
        return self._spawn(["worker", *extra], prefix)

    def start(self, prefix: list[str] | None = None) -> "Stack":
        """The usual service: the server, plus one `vegafs worker` process when not embedded.
        ``prefix`` (e.g. ``slowed(...)``) wraps whichever process runs the jobs."""
        if self.backend.embedded:
            self.start_server(prefix=prefix)
        else:
            self.start_server()
            self.start_worker("--concurrency", "2", prefix=prefix)
        return self

    def create_key(self, name: str, scopes: str = "read,submit", root: Path | None = None) -> str:
        args = ["keys", "create", "--name", name, "--scopes", scopes]
        if root is not None:
            args += ["--root", str(root)]
        done = self.cli(*args)
        assert done.returncode == 0, done.stderr
        return done.stdout.strip()

    def client(self, key: str | None = None, timeout: float = 10) -> httpx.Client:
        headers = {"Authorization": f"Bearer {key}"} if key else {}
        return httpx.Client(base_url=f"{self.url}/api/v1", headers=headers, timeout=timeout)

    def wait_job(
        self, client: httpx.Client, job_id: int, statuses: set[str], timeout: float = 30
    ) -> dict[str, Any]:
        """Poll GET /jobs/{id} until its status is one of ``statuses``."""
        deadline = time.monotonic() + timeout
        while True:
            job: dict[str, Any] = client.get(f"/jobs/{job_id}").json()
            if job.get("status") in statuses:
                return job
            if time.monotonic() > deadline:
                raise AssertionError(f"job {job_id} still {job.get('status')}:\n{self.log_text()}")
            time.sleep(0.05)

    def log_of(self, proc: subprocess.Popen[bytes]) -> str:
        """What one of this stack's processes has logged so far."""
        return self.logs[self.procs.index(proc)].read_text(errors="replace")

    def wait_log(self, proc: subprocess.Popen[bytes], text: str, timeout: float = 30) -> str:
        """Wait until ``proc``'s log holds ``text``; returns the log."""
        deadline = time.monotonic() + timeout
        while True:
            log = self.log_of(proc)
            if text in log:
                return log
            if proc.poll() is not None or time.monotonic() > deadline:
                raise AssertionError(f"no {text!r} in the log:\n{self.log_text()}")
            time.sleep(0.05)

    def signal(self, proc: subprocess.Popen[bytes], sig: int) -> None:
        """Send ``sig`` to ``proc``'s whole process group (strace and its tracee alike)."""
        os.killpg(proc.pid, sig)

    def log_text(self) -> str:
        return "\n".join(
            f"--- {p.name}\n{p.read_text(errors='replace')[-4000:]}" for p in self.logs
        )

    def stop(self) -> None:
        for proc in self.procs:
            if proc.poll() is None:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(proc.pid, signal.SIGTERM)
        for proc in self.procs:
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait()


# --- jobs that take a while, on demand ---------------------------------------------------------


def strace_missing() -> str | None:
    """Why slowed-down workers cannot run here, or None."""
    import shutil

    if shutil.which("strace") is None:
        return "strace is missing (apt-get install strace)"
    probe = subprocess.run(
        ["strace", "-qq", "-o", "/dev/null", "true"], capture_output=True, timeout=30, check=False
    )
    return None if probe.returncode == 0 else f"ptrace not permitted: {probe.stderr!r}"


def slow_tree(root: Path, depth: int = 30) -> list[Path]:
    """``depth`` nested directories under ``root`` (which must lie in the service's roots).
    Returns every directory, root first: pass them to ``slowed``."""
    names = [f"d{i:02d}" for i in range(depth)]
    dirs = [root.joinpath(*names[:n]) for n in range(depth + 1)]
    dirs[-1].mkdir(parents=True, exist_ok=True)
    (dirs[-1] / "leaf.txt").write_bytes(b"x" * 10)
    return dirs


def slowed(dirs: list[Path], delay_ms: int = 200) -> list[str]:
    """A command prefix under which every getdents64 on ``dirs`` (and only those) waits
    ``delay_ms``: analysing the nested tree then takes about depth * 2 * delay_ms, while the
    rest of the process (imports, database, HTTP) runs at full speed."""
    cmd = ["strace", "-f", "-qq", "-o", "/dev/null"]
    for d in dirs:
        cmd += ["-P", str(d)]
    return [
        *cmd,
        "-e",
        "trace=getdents64",
        "-e",
        f"inject=getdents64:delay_enter={delay_ms * 1000}",
    ]


def slowed_reads(files: list[Path], delay_ms: int = 200) -> list[str]:
    """A command prefix under which every pread64 of ``files`` (and only those) waits
    ``delay_ms``: hashing them takes seconds (dupes reads 4 KiB edges, then 128 KiB at a time),
    while the walks, which never read a file, run at full speed."""
    cmd = ["strace", "-f", "-qq", "-o", "/dev/null"]
    for f in files:
        cmd += ["-P", str(f)]
    return [*cmd, "-e", "trace=pread64", "-e", f"inject=pread64:delay_enter={delay_ms * 1000}"]

"""The worker processes that run a plugin, batch by batch.

The VegaFS process runs the core's threads (rayon, the walk), so its plugin processes are never
forked from it: each is a new interpreter (``subprocess``: fork and exec at once, as the
``spawn`` start method does), started in a session of its own (Ctrl-C at a terminal reaches
VegaFS, which stops them) and talking to VegaFS over a socket pair (``vegafs.plugins._child``).
multiprocessing's own start methods are not used: ``spawn`` and ``forkserver`` both run the
caller's ``__main__`` module again in each child, and a worker process must load nothing but
the plugin.

The processes start when the first batch arrives (an empty selection starts none), so that
their start-up overlaps the walk. One batch at a time goes to each idle process; the parent
waits on every process's socket at once (a message, or the end of the socket when a process
dies), so a batch that outlives its timeout has its process killed (and replaced by a fresh
one) while the others go on, and a cancel is seen within ``POLL_S``. However ``run`` ends
(done, cancelled, Ctrl-C, an error), every process it started is killed and reaped when the
pool is closed.
"""

import math
import os
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from multiprocessing.connection import wait
from typing import Any

from vegafs.errors import PluginLoadError
from vegafs.plugins._child import receive, send

POLL_S = 0.05  # how often a cancel is looked at while every process is busy
STOP_GRACE_S = 1.0  # a process told to stop after a normal end is killed after this
CHILD = "from vegafs.plugins._child import main; main()"


@dataclass(frozen=True)
class Batch:
    """Files for one call of the plugin, column by column."""

    number: int
    paths: list[str]
    types: list[str]
    sizes: list[int]
    mtimes: list[int]

    @property
    def bytes(self) -> int:
        return sum(self.sizes)


@dataclass(frozen=True)
class Outcome:
    """What became of one batch: its rows, or why it has none (``failure``: kind, message and
    traceback; kind "exception", "bad-row", "timeout" or "crashed")."""

    batch: Batch
    rows: list[dict[str, Any]] = field(default_factory=list)
    file_errors: list[tuple[str, str]] = field(default_factory=list)
    failure: tuple[str, str, str | None] | None = None


@dataclass(eq=False)
class _Process:
    popen: subprocess.Popen[bytes]
    sock: socket.socket
    started: float
    ready: bool = False
    batch: Batch | None = None
    deadline: float = math.inf


class PluginPool:
    """``processes`` worker processes running ``target`` ("module:function"); ``params``: the
    pickled plugin parameters each call gets (None: none). Use it as a context manager."""

    def __init__(
        self,
        target: str,
        *,
        processes: int,
        timeout_s: float,
        params: bytes | None = None,
    ) -> None:
        self.target = target
        self.size = processes
        self.timeout_s = timeout_s
        self.params = params
        self.started = 0  # processes started, replacements included
        self.pids: list[int] = []  # every process started, for tests and the curious
        self._procs: list[_Process] = []

    def __enter__(self) -> "PluginPool":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close(kill=exc[0] is not None)

    def run(self, batches: Iterable[Batch], cancelled: Callable[[], bool]) -> Iterator[Outcome]:
        """Each batch's outcome as it finishes (in no particular order). Stops early, with
        batches still running, once ``cancelled()`` is true (asked at least every POLL_S): the
        caller then says why, and leaving the ``with`` block kills the processes."""
        feed = iter(batches)
        pending: Batch | None = None
        exhausted = False
        while not cancelled():
            if pending is None and not exhausted:
                pending = next(feed, None)
                exhausted = pending is None
                while pending is not None and len(self._procs) < self.size:
                    self._start()  # on the first batch: no process for nothing to do
            idle = [p for p in self._procs if p.ready and p.batch is None]
            if pending is not None and idle:
                self._send(idle[0], pending)
                pending = None
                continue
            if exhausted and not any(p.batch is not None for p in self._procs):
                return
            yield from self._wait()

    def _start(self) -> None:
        ours, theirs = socket.socketpair()
        try:
            popen = subprocess.Popen(
                [sys.executable, "-c", CHILD, str(theirs.fileno()), str(os.getpid())],
                stdin=subprocess.DEVNULL,
                stdout=2,  # to stderr: a plugin's print() never mixes with the rows
                pass_fds=(theirs.fileno(),),
                start_new_session=True,
            )
        finally:
            theirs.close()
        self.started += 1
        self.pids.append(popen.pid)
        send(ours, (self.target, list(sys.path), self.params))
        self._procs.append(_Process(popen, ours, time.monotonic()))

    def _send(self, proc: _Process, batch: Batch) -> None:
        proc.batch = batch
        proc.deadline = time.monotonic() + self.timeout_s
        send(proc.sock, (batch.number, batch.paths, batch.types, batch.sizes, batch.mtimes))

    def _wait(self) -> Iterator[Outcome]:
        """Waits for a message, a death or the nearest deadline (at most POLL_S); the outcomes
        of the batches that ended meanwhile."""
        nearest = min((self._deadline(p) for p in self._procs), default=math.inf)
        timeout = max(0.0, min(POLL_S, nearest - time.monotonic()))
        by_socket = {p.sock: p for p in self._procs}
        for ready in wait(list(by_socket), timeout=timeout):
            assert isinstance(ready, socket.socket)
            outcome = self._receive(by_socket[ready])
            if outcome is not None:
                yield outcome
        now = time.monotonic()
        for proc in list(self._procs):
            if self._deadline(proc) <= now:
                yield from self._time_out(proc)

    def _deadline(self, proc: _Process) -> float:
        # A process still importing the plugin has the batch timeout to get ready.
        return proc.deadline if proc.ready else proc.started + self.timeout_s

    def _receive(self, proc: _Process) -> Outcome | None:
        try:
            message = receive(proc.sock)
        except (EOFError, OSError):  # the socket ended: the process died
            return self._died(proc)
        if not proc.ready:
            if message[0] == "failed":
                raise PluginLoadError(self.target, message[1])
            proc.ready = True
            return None
        batch = proc.batch
        assert batch is not None and message[0] == batch.number
        proc.batch, proc.deadline = None, math.inf
        if message[1] == "ok":
            return Outcome(batch, rows=message[2], file_errors=message[3])
        return Outcome(batch, failure=(message[1], message[2], message[3]))

    def _died(self, proc: _Process) -> Outcome | None:
        self._stop(proc)
        code = proc.popen.returncode
        how = f"killed by signal {-code}" if code < 0 else f"exit status {code}"
        if not proc.ready:
            raise PluginLoadError(self.target, f"its worker process died on start ({how})")
        self._start()
        if proc.batch is None:
            return None
        message = f"its worker process died ({how})"
        return Outcome(proc.batch, failure=("crashed", message, None))

    def _time_out(self, proc: _Process) -> Iterator[Outcome]:
        self._stop(proc)
        if not proc.ready:
            raise PluginLoadError(
                self.target, f"its worker process was not ready after {self.timeout_s:g} s"
            )
        self._start()
        if proc.batch is not None:
            message = f"timed out after {self.timeout_s:g} s: its worker process was killed"
            yield Outcome(proc.batch, failure=("timeout", message, None))

    def _stop(self, proc: _Process) -> None:
        """Kills (if still alive) and reaps one process, and forgets it."""
        self._procs.remove(proc)
        proc.sock.close()
        if proc.popen.poll() is None:
            proc.popen.kill()
        proc.popen.wait()

    def close(self, *, kill: bool) -> None:
        """Stops every process and reaps it: after a normal end by closing its socket (it exits
        at the end of its input), killed after STOP_GRACE_S; otherwise at once (SIGKILL)."""
        procs, self._procs = self._procs, []
        for p in procs:
            if kill or not p.ready:  # (one still starting has nothing to finish)
                p.popen.kill()
            p.sock.close()
        deadline = time.monotonic() + STOP_GRACE_S
        for p in procs:
            try:
                p.popen.wait(max(0.0, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                p.popen.kill()
                p.popen.wait()


def available_cpus() -> int:
    """The CPUs this process may run on."""
    try:
        return len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        return os.cpu_count() or 1

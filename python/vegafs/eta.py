"""How long a job has left, where its total is known: a sharded job's shards, the steps of a
writing operation's plan while it is applied, a walk's expected entries (``jobs/expected.py``:
a walk does not know its total, but its last run's is a fair estimate).

The estimate is linear: what is left at the rate so far (``elapsed * left / done``)."""

import threading
import time
from dataclasses import dataclass, field


def eta_s(elapsed_s: float, done: int, total: int) -> float | None:
    """Seconds left at the rate so far, to 0.1 s; None before anything is done (no rate yet)."""
    if total <= 0 or done <= 0 or elapsed_s < 0:
        return None
    if done >= total:
        return 0.0
    return round(elapsed_s * (total - done) / done, 1)


@dataclass
class Steps:
    """A phase of known length (the steps of a plan being applied), as its runner advances it;
    read from another thread (a job's heartbeat)."""

    total: int = 0
    done: int = 0
    started: float | None = None  # time.monotonic() at start()
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False, compare=False)

    def start(self, total: int) -> None:
        with self._lock:
            self.total, self.done, self.started = total, 0, time.monotonic()

    def advance(self, done: int) -> None:
        with self._lock:
            self.done = done

    def progress(self, now: float | None = None) -> dict[str, int | float | None] | None:
        """``steps``, ``steps_done`` and ``eta_s`` once started; None before."""
        with self._lock:
            if self.started is None:
                return None
            elapsed = (time.monotonic() if now is None else now) - self.started
            return {
                "steps": self.total,
                "steps_done": self.done,
                "eta_s": eta_s(elapsed, self.done, self.total),
            }

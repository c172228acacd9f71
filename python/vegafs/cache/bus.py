"""Events between the parts of a service: "job N changed", "job N: cancel".

An event carries no data, only its topic: whoever wakes up reads the truth from the database.
``LocalHub`` delivers events inside one process, to threads and to asyncio tasks alike; the Redis
bus carries them between processes and hands them to each process's hub.
"""

import asyncio
import contextlib
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Protocol


class Waiter:
    """One subscriber's wake-up flag. A thread calls ``wait``; a coroutine ``wait_async``."""

    def __init__(self, loop: asyncio.AbstractEventLoop | None) -> None:
        self._loop = loop
        self._async = asyncio.Event() if loop is not None else None
        self._thread = threading.Event()

    def fire(self) -> None:
        self._thread.set()
        if self._loop is not None and self._async is not None:
            # RuntimeError: the loop has closed, nobody is waiting any more.
            with contextlib.suppress(RuntimeError):
                self._loop.call_soon_threadsafe(self._async.set)

    def wait(self, timeout: float) -> bool:
        fired = self._thread.wait(timeout)
        self._thread.clear()
        return fired

    async def wait_async(self, timeout: float) -> bool:
        assert self._async is not None, "subscribe with loop= to wait from a coroutine"
        try:
            await asyncio.wait_for(self._async.wait(), timeout)
        except TimeoutError:
            return False
        self._async.clear()
        return True


class LocalHub:
    def __init__(self) -> None:
        self._topics: dict[str, set[Waiter]] = {}
        self._lock = threading.Lock()

    @contextmanager
    def subscribe(
        self, topic: str, loop: asyncio.AbstractEventLoop | None = None
    ) -> Iterator[Waiter]:
        waiter = Waiter(loop)
        with self._lock:
            self._topics.setdefault(topic, set()).add(waiter)
        try:
            yield waiter
        finally:
            with self._lock:
                waiters = self._topics.get(topic)
                if waiters is not None:
                    waiters.discard(waiter)
                    if not waiters:
                        del self._topics[topic]

    def deliver(self, topic: str) -> None:
        with self._lock:
            waiters = list(self._topics.get(topic, ()))
        for waiter in waiters:
            waiter.fire()


class Bus(Protocol):
    hub: LocalHub

    def publish(self, topic: str) -> None: ...

    def close(self) -> None: ...


class LocalBus:
    """The embedded bus: one process, no network."""

    def __init__(self) -> None:
        self.hub = LocalHub()

    def publish(self, topic: str) -> None:
        self.hub.deliver(topic)

    def close(self) -> None:
        pass


def job_topic(job_id: int) -> str:
    return f"job:{job_id}"


def cancel_topic(job_id: int) -> str:
    return f"cancel:{job_id}"

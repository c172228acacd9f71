"""Limits: the request body's size, as ASGI middleware (413 before the body is read into memory),
and the event streams a process keeps open."""

import threading
from collections.abc import Callable
from typing import Any

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from vegafs.api.problems import Problem, problem_response


class BodyTooLarge(Exception):
    pass


class BodyLimit:
    def __init__(self, app: ASGIApp, max_bytes: int) -> None:
        self.app = app
        self.max_bytes = max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        declared = dict(scope["headers"]).get(b"content-length")
        if declared is not None and (not declared.isdigit() or int(declared) > self.max_bytes):
            await self._reject(scope, receive, send)
            return
        seen = 0
        started = False

        async def limited_receive() -> Message:
            nonlocal seen
            message = await receive()
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
                if seen > self.max_bytes:
                    raise BodyTooLarge
            return message

        async def tracking_send(message: Message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        try:
            await self.app(scope, limited_receive, tracking_send)
        except BodyTooLarge:
            if not started:
                await self._reject(scope, receive, send)

    async def _reject(self, scope: Scope, receive: Receive, send: Send) -> None:
        response: Any = problem_response(
            413, "payload-too-large", f"the request body is over {self.max_bytes} bytes"
        )
        await response(scope, receive, send)


class StreamSlots:
    """Open event streams of this process: at most ``per_key`` for one API key (429) and
    ``total`` in all (503). A slot is taken before a stream starts and given back when it ends,
    however it ends."""

    def __init__(self, per_key: int, total: int) -> None:
        self.per_key = per_key
        self.total = total
        self._lock = threading.Lock()
        self._open: dict[str, int] = {}
        self._count = 0

    def take(self, key: str) -> Callable[[], None]:
        """A slot for ``key``'s stream, or a Problem; returns the function that gives it back."""
        with self._lock:
            if self._open.get(key, 0) >= self.per_key:
                raise Problem(
                    429,
                    "too-many-streams",
                    f"the API key {key!r} has {self.per_key} event streams open, the most it "
                    "may have (VEGAFS_MAX_STREAMS_PER_KEY): close one first",
                    headers={"Retry-After": "5"},
                )
            if self._count >= self.total:
                raise Problem(
                    503,
                    "server-busy",
                    f"this server has {self.total} event streams open, the most it serves "
                    "(VEGAFS_MAX_STREAMS): retry shortly",
                    headers={"Retry-After": "5"},
                )
            self._open[key] = self._open.get(key, 0) + 1
            self._count += 1
        given = False

        def give_back() -> None:
            nonlocal given
            with self._lock:
                if given:
                    return
                given = True
                self._count -= 1
                left = self._open[key] - 1
                if left:
                    self._open[key] = left
                else:
                    del self._open[key]

        return give_back

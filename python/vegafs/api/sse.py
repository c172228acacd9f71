"""``GET /jobs/{id}/events``: Server-Sent Events of a job's progress and state changes.

Every change of a job bumps its ``version``, which is the event's ``id:``. An event carries the
whole job (as ``GET /jobs/{id}``): ``state`` when its status changed (and always first), else
``progress``. A client that reconnects with ``Last-Event-ID: N`` gets the job's state as soon as
its version is past N and nothing it has already seen; progress snapshots in between are
superseded, not replayed. The stream ends after the event of a finished job. The bus (in-process
or Redis) wakes the stream at once; without it, the stream reads the database every ``poll_s``.
A comment line is sent after ``sse_keepalive_s`` of silence.

``GET /job-events``: the job list, live. Its first event, ``jobs``, is the page that
``GET /jobs`` would give for the same filters (with each job's progress; without summaries), and
a new ``jobs`` event follows whenever a job of that page changes or a new one enters it. The page
is read when a job is queued and every ``poll_s`` (a list has no single topic to wait on).

A process keeps at most ``VEGAFS_MAX_STREAMS_PER_KEY`` streams open for one API key (429
``too-many-streams`` beyond) and ``VEGAFS_MAX_STREAMS`` in all (503 ``server-busy``).
"""

import asyncio
import json
import time
from collections.abc import AsyncIterator, Callable
from typing import Annotated, Any

from fastapi import APIRouter, Header, Query, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import StreamingResponse
from starlette.types import Receive, Scope, Send

from vegafs.api.auth import Principal, ReadPrincipal
from vegafs.api.problems import AUTH_RESPONSES, INVALID, problem
from vegafs.api.responses import dumps
from vegafs.api.routes.jobs import NO_JOB, NO_NUL, JobId, out, services, visible_job
from vegafs.api.schemas import Status
from vegafs.cache.bus import job_topic
from vegafs.db import DatabaseUnavailable
from vegafs.db import jobs as job_repo
from vegafs.jobs.wakeup import QUEUE_TOPIC

router = APIRouter(tags=["jobs"], responses={**AUTH_RESPONSES, 422: INVALID})
STREAM_LIMITS: dict[int | str, dict[str, Any]] = {
    429: problem("`too-many-streams`: the key has VEGAFS_MAX_STREAMS_PER_KEY streams open."),
    503: problem(
        "`server-busy`: the process has VEGAFS_MAX_STREAMS streams open; "
        "`database-unavailable`: the database cannot be reached."
    ),
}
SSE_HEADERS = {"Cache-Control": "no-cache", "X-Accel-Buffering": "no"}


class _HeldStream(StreamingResponse):
    """A stream that gives its slot back when it ends, however it ends (even unstarted)."""

    def __init__(self, content: AsyncIterator[str], release: Callable[[], None], **kw: Any) -> None:
        super().__init__(content, **kw)
        self._release = release

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        try:
            await super().__call__(scope, receive, send)
        finally:
            self._release()


def _event(kind: str, row: Any) -> str:
    data = dumps(out(row))
    return f"id: {row.version}\nevent: {kind}\ndata: {data}\n\n"


def _last_id(header: str | None) -> int:
    try:
        return max(0, int(header or 0))
    except ValueError:
        return 0


@router.get(
    "/jobs/{job_id}/events",
    summary="Live progress and state changes (Server-Sent Events; resumable)",
    response_class=StreamingResponse,
    responses={
        200: {"content": {"text/event-stream": {}}},
        404: NO_JOB,
        **STREAM_LIMITS,
    },
)
async def job_events(
    request: Request,
    job_id: JobId,
    last_event_id: Annotated[str | None, Header(max_length=20)] = None,
    who: Principal = ReadPrincipal,
) -> StreamingResponse:
    svc = services(request)
    first_row = await run_in_threadpool(visible_job, svc, job_id, who)
    release = svc.streams.take(who.name)
    loop = asyncio.get_running_loop()
    poll_s, keepalive_s = svc.settings.poll_s, svc.settings.sse_keepalive_s

    async def stream() -> AsyncIterator[str]:
        seen, status = _last_id(last_event_id), None
        row: Any = first_row
        quiet_since = time.monotonic()
        with svc.bus.hub.subscribe(job_topic(job_id), loop=loop) as waiter:
            yield "retry: 1000\n\n"
            while row is not None:
                if row.version > seen:
                    yield _event("state" if row.status != status else "progress", row)
                    seen, status = row.version, row.status
                    quiet_since = time.monotonic()
                if row.status in job_repo.FINISHED:
                    return
                await waiter.wait_async(poll_s)
                if time.monotonic() - quiet_since >= keepalive_s:
                    yield ": keep-alive\n\n"
                    quiet_since = time.monotonic()
                try:
                    row = await run_in_threadpool(job_repo.get, svc.db, job_id)
                except DatabaseUnavailable:
                    continue
            yield f"event: deleted\ndata: {json.dumps({'id': job_id})}\n\n"

    return _HeldStream(stream(), release, media_type="text/event-stream", headers=SSE_HEADERS)


@router.get(
    "/job-events",
    summary="The job list, live (Server-Sent Events): the page of GET /jobs, again on each change",
    response_class=StreamingResponse,
    responses={200: {"content": {"text/event-stream": {}}}, **STREAM_LIMITS},
)
async def job_list_events(
    request: Request,
    status: Annotated[list[Status] | None, Query(description="Any of these statuses.")] = None,
    operation: Annotated[str | None, Query(max_length=100, pattern=NO_NUL)] = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 50,
    who: Principal = ReadPrincipal,
) -> StreamingResponse:
    svc = services(request)
    limit = min(limit, svc.settings.page_max)

    def page() -> list[Any]:
        return job_repo.list_jobs(
            svc.db,
            owner=None if who.admin else who.name,  # as GET /jobs: a key sees its own jobs
            statuses=status or (),
            operation=operation,
            limit=limit,
        )

    first_page = await run_in_threadpool(page)
    release = svc.streams.take(who.name)
    loop = asyncio.get_running_loop()
    poll_s, keepalive_s = svc.settings.poll_s, svc.settings.sse_keepalive_s

    async def stream() -> AsyncIterator[str]:
        rows, sent = first_page, None
        quiet_since = time.monotonic()
        with svc.bus.hub.subscribe(QUEUE_TOPIC, loop=loop) as waiter:
            yield "retry: 1000\n\n"
            while True:
                seen = [(r.id, r.version) for r in rows]
                if seen != sent:
                    items = []
                    for r in rows:
                        job = out(r)
                        del job["summary"]  # large; GET /jobs/{id} has it
                        items.append(job)
                    yield f"event: jobs\ndata: {dumps({'items': items})}\n\n"
                    sent, quiet_since = seen, time.monotonic()
                await waiter.wait_async(poll_s)
                if time.monotonic() - quiet_since >= keepalive_s:
                    yield ": keep-alive\n\n"
                    quiet_since = time.monotonic()
                try:
                    rows = await run_in_threadpool(page)
                except DatabaseUnavailable:
                    continue

    return _HeldStream(stream(), release, media_type="text/event-stream", headers=SSE_HEADERS)

"""Liveness, readiness and metrics."""

import logging

from fastapi import APIRouter, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import Response
from prometheus_client import CONTENT_TYPE_LATEST

from vegafs.api.metrics import exposition
from vegafs.api.problems import DB_DOWN, Problem
from vegafs.api.schemas import Health
from vegafs.db import DatabaseUnavailable

log = logging.getLogger("vegafs.api")
router = APIRouter(tags=["health"])


@router.get("/healthz", summary="The process is up")
async def healthz() -> Health:
    return Health(status="ok")


@router.get(
    "/readyz",
    summary="The database answers",
    responses={503: DB_DOWN},
)
def readyz(request: Request) -> Health:
    try:
        request.app.state.services.db.ping()
    except DatabaseUnavailable as e:
        # The driver's message names the host, port and user: for the log, not for anyone.
        log.warning("readiness: the database cannot be reached: %s", e)
        raise Problem(
            503,
            "database-unavailable",
            "the database cannot be reached; retry shortly",
            headers={"Retry-After": "1"},
        ) from e
    return Health(status="ok")


@router.get(
    "/metrics",
    summary="Prometheus metrics",
    response_class=Response,
    responses={200: {"content": {"text/plain": {"schema": {"type": "string"}}}}},
)
async def metrics(request: Request) -> Response:
    body = await run_in_threadpool(exposition, request.app.state.services.job_stats)
    return Response(body, media_type=CONTENT_TYPE_LATEST)

"""The FastAPI application: ``create_app(settings)``; ``vegafs serve`` runs it with uvicorn."""

import gc
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from anyio import to_thread
from fastapi import FastAPI

from vegafs import __version__
from vegafs.api import problems, sse
from vegafs.api.limits import BodyLimit
from vegafs.api.metrics import HttpMetrics
from vegafs.api.responses import AsciiJSONResponse
from vegafs.api.routes import health, jobs, operations, paths
from vegafs.api.services import API_THREADS, Services
from vegafs.settings import Settings, get_settings
from vegafs.web import router as dashboard

log = logging.getLogger("vegafs.api")

DESCRIPTION = """\
Submit any VegaFS operation as a job, watch it live, cancel, retry, fetch its results.

Authentication: `Authorization: Bearer <key>` (keys from `vegafs keys create`). Errors are
`application/problem+json` with a stable `type`. Full reference: docs/api/index.md.
"""


def create_app(settings: Settings | None = None, *, worker_concurrency: int = 0) -> FastAPI:
    """The app. With ``worker_concurrency`` > 0 it also runs a worker in this process."""
    settings = settings or get_settings()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        services = Services.open(settings, worker_concurrency=worker_concurrency)
        app.state.services = services
        to_thread.current_default_thread_limiter().total_tokens = API_THREADS
        if services.worker is not None:
            services.worker.start()
        # Everything built so far (modules, routes, models, pools) lives as long as the process:
        # out of the collector's sight, a full collection no longer scans it (one took 35-150 ms
        # under load with ~110,000 such objects: a request's whole p99 budget).
        gc.collect()
        gc.freeze()
        try:
            yield
        finally:
            await services.close()

    app = FastAPI(
        title="VegaFS",
        version=__version__,
        description=DESCRIPTION,
        lifespan=lifespan,
        openapi_url="/api/v1/openapi.json",
        docs_url="/docs",
        redoc_url=None,
        default_response_class=AsciiJSONResponse,
    )
    problems.install(app)
    for router in (jobs.router, sse.router, operations.router, paths.router, health.router):
        app.include_router(router, prefix="/api/v1")
    # /healthz, /readyz and /metrics also at the root, where probes and scrapers look.
    app.include_router(health.router, include_in_schema=False)
    app.include_router(dashboard)  # the web dashboard at / (vegafs/web)
    app.add_middleware(BodyLimit, max_bytes=settings.max_body_bytes)
    app.add_middleware(HttpMetrics)
    return app

"""The bare floor for bench/jobs_api.py: FastAPI + asyncpg in one uvicorn process.

Usage: python bench/floor_app.py --database-url URL --port N [--pool 16]

It serves the two routes the benchmark drives, with nothing else (no authentication, no
idempotency, no metrics, no validation beyond JSON):

- ``POST /api/v1/jobs``: one ``INSERT ... RETURNING`` into a table of its own
  (``bench_floor_jobs``, created when missing in the bench database) and one ``NOTIFY``, each a
  statement of its own on a pooled connection (two round trips, autocommit); 202 with the row
  as JSON.
- ``GET /api/v1/jobs/{id}``: one ``SELECT`` by primary key; 200 with the row as JSON, 404 when
  missing.

Both answer the same fields as VegaFS's job JSON (the columns VegaFS does not have here are
constants), so the responses are of the same size. asyncpg prepares and caches the statements
(its default). The floor is what the two routes cost in Python with a fast driver and no
product: jobs_api.py divides VegaFS's figures by it. (asyncpg is also VegaFS's own driver for
the API's hot path on PostgreSQL, python/vegafs/db/store.py.)
"""

from __future__ import annotations

import argparse
import json
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from datetime import datetime
from typing import Any

import asyncpg
import uvicorn
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse, Response

TABLE = "bench_floor_jobs"
CHANNEL = "bench_floor_jobs"
BASE = "/api/v1"
CREATE = f"""
CREATE TABLE IF NOT EXISTS {TABLE} (
    id BIGSERIAL PRIMARY KEY,
    operation TEXT NOT NULL,
    spec JSONB NOT NULL,
    status TEXT NOT NULL DEFAULT 'queued',
    priority INTEGER NOT NULL DEFAULT 0,
    owner TEXT NOT NULL,
    created_at TIMESTAMPTZ NOT NULL DEFAULT now(),
    updated_at TIMESTAMPTZ NOT NULL DEFAULT now()
)
"""
COLUMNS = "id, operation, spec, status, priority, owner, created_at, updated_at"
INSERT = f"INSERT INTO {TABLE} (operation, spec, owner) VALUES ($1, $2, $3) RETURNING {COLUMNS}"
SELECT = f"SELECT {COLUMNS} FROM {TABLE} WHERE id = $1"
NOTIFY = f"NOTIFY {CHANNEL}"


def _utc(t: datetime) -> str:
    return t.isoformat().replace("+00:00", "Z")


def job_json(row: Any) -> dict[str, Any]:
    """The row in VegaFS's job JSON shape (api/schemas.py's job_json), so sizes match."""
    url = f"{BASE}/jobs/{row['id']}"
    return {
        "id": row["id"],
        "operation": row["operation"],
        "params": row["spec"],
        "status": row["status"],
        "priority": row["priority"],
        "attempts": 0,
        "max_attempts": 3,
        "cancel_requested": False,
        "owner": row["owner"],
        "progress": None,
        "summary": None,
        "error": None,
        "result_rows": 0,
        "version": 1,
        "worker_id": None,
        "created_at": _utc(row["created_at"]),
        "updated_at": _utc(row["updated_at"]),
        "run_after": _utc(row["created_at"]),
        "started_at": None,
        "finished_at": None,
        "links": {
            "self": url,
            "results": f"{url}/results",
            "events": f"{url}/events",
            "cancel": f"{url}/cancel",
            "retry": f"{url}/retry",
        },
    }


async def _init(conn: Any) -> None:
    await conn.set_type_codec("jsonb", encoder=json.dumps, decoder=json.loads, schema="pg_catalog")
    await conn.execute("SET TIME ZONE 'UTC'")


def create_app(database_url: str, pool_size: int) -> FastAPI:
    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        pool = await asyncpg.create_pool(
            database_url, min_size=pool_size, max_size=pool_size, init=_init
        )
        async with pool.acquire() as conn:
            await conn.execute(CREATE)
        app.state.pool = pool
        try:
            yield
        finally:
            await pool.close()

    app = FastAPI(lifespan=lifespan, openapi_url=None, docs_url=None, redoc_url=None)

    @app.post(f"{BASE}/jobs")
    async def submit(request: Request) -> Response:
        body = await request.json()
        async with request.app.state.pool.acquire() as conn:
            row = await conn.fetchrow(INSERT, body["operation"], body["params"], "bench-floor")
            await conn.execute(NOTIFY)
        return JSONResponse(job_json(row), status_code=202)

    @app.get(f"{BASE}/jobs/{{job_id}}")
    async def get(request: Request, job_id: int) -> Response:
        async with request.app.state.pool.acquire() as conn:
            row = await conn.fetchrow(SELECT, job_id)
        if row is None:
            return JSONResponse({"detail": f"no job {job_id}"}, status_code=404)
        return JSONResponse(job_json(row))

    @app.get("/readyz")
    async def readyz() -> dict[str, str]:
        return {"status": "ready"}

    return app


def asyncpg_url(url: str) -> str:
    """SQLAlchemy's ``postgresql+psycopg://`` as asyncpg's ``postgresql://``."""
    scheme, sep, rest = url.partition("://")
    return scheme.split("+", 1)[0] + sep + rest


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="The bare FastAPI + asyncpg floor.")
    parser.add_argument("--database-url", required=True)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--pool", type=int, default=16, help="asyncpg pool size")
    args = parser.parse_args(argv)
    app = create_app(asyncpg_url(args.database_url), args.pool)
    uvicorn.run(app, host=args.host, port=args.port, access_log=False, log_level="warning")


if __name__ == "__main__":
    main()

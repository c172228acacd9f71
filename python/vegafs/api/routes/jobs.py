"""Jobs: submit, list, show, results, cancel, retry, delete. Events are in api/sse.py."""

import csv
import io
import json
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Annotated, Any, Literal, TypeVar

from anyio import to_thread
from fastapi import APIRouter, Body, Header, Query, Request, Response
from fastapi import Path as PathParam
from fastapi.responses import StreamingResponse
from pydantic import BaseModel, ValidationError
from sqlalchemy import Row

from vegafs import ops
from vegafs.api.auth import Principal, ReadPrincipal, SubmitPrincipal
from vegafs.api.problems import (
    AUTH_RESPONSES,
    INVALID,
    Problem,
    problem,
    validation_problem,
)
from vegafs.api.responses import AsciiJSONResponse, dumps
from vegafs.api.schemas import (
    ANALYZE_EXAMPLE,
    JobOut,
    JobPage,
    ResultPage,
    Status,
    SubmitJob,
    job_json,
    shard_json,
)
from vegafs.api.services import Services
from vegafs.cache.bus import cancel_topic, job_topic
from vegafs.db import jobs as job_repo
from vegafs.db import shards as shard_repo
from vegafs.errors import ParamsError, PatternError, SchemaError, SelectionError, TemplateError
from vegafs.jobs.confinement import narrowed_roots
from vegafs.jobs.wakeup import QUEUE_TOPIC
from vegafs.ops.confine import OUTSIDE, PathNotAllowed, PathPermissionDenied
from vegafs.ops.registry import can_split
from vegafs.settings import Settings

router = APIRouter(prefix="/jobs", tags=["jobs"], responses={**AUTH_RESPONSES, 422: INVALID})
NO_JOB = problem("`job-not-found`: no job with this id.")
BASE = "/api/v1"
JobId = Annotated[int, PathParam(ge=1, le=2**63 - 1, description="The job's id.")]
Cursor = Annotated[str | None, Query(max_length=20, pattern=r"^[0-9]+$")]
# PostgreSQL refuses NUL in text: a NUL in a filter is a 422, not a 500.
NO_NUL = r"^[^\x00]*$"
TOO_MANY_JOBS_RETRY_S = 5
JobRowT = TypeVar("JobRowT", Row[Any], Mapping[Any, Any])


def services(request: Request) -> Services:
    s: Services = request.app.state.services
    return s


def allowed_roots(settings: Settings, who: Principal) -> list[Path]:
    """The roots a principal's paths must lie in: the service's, narrowed by the key's root
    (the same rule the worker applies to the job later)."""
    try:
        return narrowed_roots(settings.roots, None if who.root is None else str(who.root))
    except PathNotAllowed as e:
        raise Problem(
            422, "path-not-allowed", f"the API key's root {e.path} is outside the service's "
            "roots (VEGAFS_ROOTS)", path=e.path,
        ) from None  # fmt: skip


def visible_job(svc: Services, job_id: int, who: Principal) -> Any:
    return visible(job_repo.get(svc.db, job_id), job_id, who)


def visible(row: JobRowT | None, job_id: int, who: Principal) -> JobRowT:
    """``row``, job ``job_id``, if it exists and ``who`` may see it."""
    if row is None:
        raise Problem(404, "job-not-found", f"no job {job_id}")
    if not who.may_see(row.owner if isinstance(row, Row) else row["owner"]):
        raise Problem(403, "forbidden", f"job {job_id} belongs to another API key")
    return row


def out(row: Row[Any] | Mapping[Any, Any]) -> dict[str, Any]:
    """A SQLAlchemy row, or a store's (an asyncpg record is not a registered Mapping)."""
    return job_json(row._mapping if isinstance(row, Row) else row, BASE)


def reply(content: Any, status: int = 200, headers: dict[str, str] | None = None) -> Response:
    """Responses are built here, not by FastAPI from the return value: no second validation,
    and ASCII JSON for paths that are not UTF-8 (api/responses.py)."""
    return AsciiJSONResponse(content, status_code=status, headers=headers)


@router.post(
    "",
    status_code=202,
    response_model=JobOut,
    summary="Submit a job",
    responses={
        200: {
            "model": JobOut,
            "description": "A repeat of an earlier request (same Idempotency-Key): that job.",
        },
        400: problem("`http-error`: the body could not be read (it is not UTF-8)."),
        403: problem(
            "`forbidden`: the key lacks the `submit` scope, asks for a `priority` above 0 "
            "without the `admin` scope, or asks a writing operation to `apply` its plan "
            "without the `write` scope."
        ),
        409: problem("`idempotency-key-reused`: the key was used with other parameters."),
        413: problem("`payload-too-large`: the body is over VEGAFS_MAX_BODY_BYTES."),
        422: problem(
            "`validation`: unknown operation or bad params (or a body that is not JSON); "
            "`path-not-allowed`: a path is not absolute, does not exist, or lies outside the "
            "allowed roots (or the key's root); `permission-denied`: a path inside the roots "
            "that the service may not look at."
        ),
        429: problem(
            "`too-many-jobs`: the key has VEGAFS_MAX_ACTIVE_JOBS_PER_KEY jobs queued or "
            "running; see Retry-After."
        ),
    },
)
async def submit(
    request: Request,
    body: Annotated[SubmitJob, Body(openapi_examples={"analyze": {"value": ANALYZE_EXAMPLE}})],
    idempotency_key: Annotated[
        str | None, Header(max_length=200, description="Repeats return the first job.")
    ] = None,
    who: Principal = SubmitPrincipal,
) -> Response:
    svc = services(request)
    if body.priority > 0 and not who.admin:
        raise Problem(
            403,
            "forbidden",
            f"priority {body.priority}: a priority above 0 needs the 'admin' scope",
            errors=[{"field": "priority", "message": "above 0 needs the 'admin' scope"}],
        )
    try:
        op = ops.get(body.operation)
    except KeyError as e:
        raise Problem(
            422,
            "validation",
            f"invalid operation: {e.args[0]}",
            errors=[{"field": "operation", "message": str(e.args[0])}],
        ) from None
    try:
        spec = op.params.model_validate(body.params)
    except ValidationError as e:
        raise validation_problem([dict(x) for x in e.errors()], prefix=("params",)) from None
    if (body.shards or 1) > 1 and not can_split(op.name):
        message = f"operation {op.name!r} cannot be split into shards"
        raise Problem(422, "validation", message, errors=[{"field": "shards", "message": message}])
    if getattr(spec, "apply", False) and "write" not in who.scopes and not who.admin:
        raise Problem(
            403,
            "forbidden",
            "params.apply: applying changes to files needs the 'write' scope",
            errors=[{"field": "params.apply", "message": "needs the 'write' scope"}],
        )
    roots = allowed_roots(svc.settings, who)
    try:
        # An undo reads its operation's steps from the journal, validate its schema file: in a
        # thread, off the event loop. The others look at the named paths only: inline.
        if op.blocking_checks:
            spec = await to_thread.run_sync(_confined_and_checked, op, spec, roots)
        else:
            spec = _confined_and_checked(op, spec, roots)
    except PathPermissionDenied as e:
        raise Problem(422, "permission-denied", str(e), path=e.path) from None
    except PathNotAllowed as e:
        detail = str(e)
        if who.root is not None and e.reason == OUTSIDE:
            detail = f"{e.path}: is outside the API key's root {roots[0]}"
        raise Problem(422, "path-not-allowed", detail, path=e.path) from None
    except SelectionError as e:
        field = f"params.selection.{e.field}" if e.field != "selection" else "params.selection"
        raise Problem(
            422,
            "validation",
            f"invalid {field}: {e.message}",
            errors=[{"field": field, "message": e.message}],
        ) from None
    except ParamsError as e:
        field = f"params.{e.field}"
        raise Problem(
            422,
            "validation",
            f"invalid {field}: {e.message}",
            errors=[{"field": field, "message": e.message}],
        ) from None
    except (PatternError, TemplateError) as e:  # a regex or a name template that is not valid
        kind = "template" if isinstance(e, TemplateError) else "pattern"
        message = f"invalid {kind}: {e}"
        # The field that holds it: search's patterns, a pipeline's steps, rename's match or to.
        names = ("to",) if kind == "template" else ("patterns", "steps", "match")
        field = next((f"params.{n}" for n in names if n in op.params.model_fields), "params")
        raise Problem(
            422, "validation", message, errors=[{"field": field, "message": message}]
        ) from None
    except SchemaError as e:  # a JSON Schema file: cannot be read or compiled
        # validate's schema_file, or a pipeline's validate step (in params.steps)
        field = "params.schema_file" if "schema_file" in op.params.model_fields else "params.steps"
        message = f"invalid {field.removeprefix('params.')}: {e}"
        raise Problem(
            422, "validation", message, errors=[{"field": field, "message": message}]
        ) from None
    try:
        row, created = await svc.store.submit(
            operation=op.name,
            spec=spec.model_dump(mode="json"),
            owner=who.name,
            priority=body.priority,
            max_attempts=body.max_attempts or svc.settings.max_attempts,
            use_cache=not body.fresh,
            idempotency_key=idempotency_key,
            key_root=None if who.root is None else str(who.root),
            most_active=svc.settings.max_active_jobs_per_key,
            shards=body.shards if (body.shards or 1) > 1 else None,
        )
    except job_repo.TooManyActiveJobs as e:
        raise Problem(
            429,
            "too-many-jobs",
            f"the API key {who.name!r} has {e.most} jobs queued or running, the most it may "
            "have (VEGAFS_MAX_ACTIVE_JOBS_PER_KEY): submit again when some have finished",
            headers={"Retry-After": str(TOO_MANY_JOBS_RETRY_S)},
        ) from None
    except job_repo.IdempotencyConflict as e:
        raise Problem(409, "idempotency-key-reused", str(e)) from None
    if created and not svc.store.notifies:  # (Redis, when set, may block: not in the loop)
        await to_thread.run_sync(svc.bus.publish, QUEUE_TOPIC)
    job = out(row)
    return reply(job, 202 if created else 200, {"Location": job["links"]["self"]})


def _confined_and_checked(op: ops.Operation, spec: BaseModel, roots: list[Path]) -> Any:
    """The params confined to ``roots`` (paths made absolute, each checked against them), then
    checked (patterns, templates, schema files): what a submit runs off the event loop."""
    spec = op.confine(spec, roots)
    op.check(spec)
    return spec


@router.get(
    "",
    response_model=JobPage,
    summary="List jobs, newest first (without summary and progress: GET /jobs/{id} has them)",
)
def list_jobs(
    request: Request,
    status: Annotated[list[Status] | None, Query(description="Any of these statuses.")] = None,
    operation: Annotated[str | None, Query(max_length=100, pattern=NO_NUL)] = None,
    cursor: Cursor = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 50,
    parent_id: Annotated[
        int | None, Query(ge=1, le=2**63 - 1, description="The shards of this job.")
    ] = None,
    who: Principal = ReadPrincipal,
) -> Response:
    svc = services(request)
    limit = min(limit, svc.settings.page_max)  # before `more` below compares with it
    rows = job_repo.list_jobs(
        svc.db,
        owner=None if who.admin else who.name,
        statuses=status or (),
        operation=operation,
        before_id=_cursor(cursor),
        limit=limit,
        parent_id=parent_id,
    )
    more = len(rows) == limit
    items = []
    for r in rows:  # summary and progress can be large: a page of 1,000 jobs stays small
        job = out(r)
        del job["summary"], job["progress"]
        items.append(job)
    return reply({"items": items, "next_cursor": str(rows[-1].id) if more else None})


def _cursor(cursor: str | None, largest: int = 2**63 - 1) -> int | None:
    """The cursor as an id (BIGINT) or a seq (INTEGER: ``largest=2**31 - 1``). A cursor past any
    there can be is the end (an empty page), not a value the database must refuse."""
    return None if cursor is None else min(int(cursor), largest)


@router.get(
    "/{job_id}",
    response_model=JobOut,
    summary="A job: status, progress, summary, error",
    responses={404: NO_JOB},
)
async def get_job(request: Request, job_id: JobId, who: Principal = ReadPrincipal) -> Response:
    svc = services(request)
    job = job_json(visible(await svc.store.get(job_id), job_id, who), BASE)
    if job["shards"] is not None:
        shards = await to_thread.run_sync(shard_repo.shards_of, svc.db, job_id)
        job["shard_jobs"] = [shard_json(r._mapping) for r in shards] or None
    return reply(job)


@router.get(
    "/{job_id}/results",
    summary="A job's result rows, by cursor; or all of them as an NDJSON or CSV download",
    response_model=ResultPage,
    responses={
        200: {"content": {"application/x-ndjson": {}, "text/csv": {}}},
        404: NO_JOB,
        409: problem("`job-not-finished`: the job is queued or running; it has no results yet."),
    },
)
def get_results(
    request: Request,
    job_id: JobId,
    cursor: Cursor = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
    format: Annotated[Literal["json", "ndjson", "csv"], Query()] = "json",
    who: Principal = ReadPrincipal,
) -> Any:
    svc = services(request)
    job = visible_job(svc, job_id, who)
    if job.status not in job_repo.FINISHED:
        raise Problem(
            409,
            "job-not-finished",
            f"job {job_id} has not finished ({job.status}): its results can be fetched once it has",
        )
    if format == "json":
        after = _cursor(cursor, 2**31 - 1)
        rows = job_repo.results(
            svc.db, job_id, after_seq=-1 if after is None else after, limit=limit
        )
        more = len(rows) == limit
        return reply(
            {
                "items": [{"seq": r.seq, "data": r.data} for r in rows],
                "next_cursor": str(rows[-1].seq) if more else None,
            }
        )
    media = "application/x-ndjson" if format == "ndjson" else "text/csv"
    lines = _ndjson(svc, job_id) if format == "ndjson" else _csv(svc, job_id)
    return StreamingResponse(
        lines,
        media_type=media,
        headers={"Content-Disposition": f'attachment; filename="job-{job_id}-results.{format}"'},
    )


def _all_rows(svc: Services, job_id: int) -> Iterator[dict[str, Any]]:
    after = -1
    while True:
        batch = job_repo.results(svc.db, job_id, after_seq=after, limit=1000)
        yield from (r.data for r in batch)
        if len(batch) < 1000:
            return
        after = batch[-1].seq


def _ndjson(svc: Services, job_id: int) -> Iterator[str]:
    for row in _all_rows(svc, job_id):
        yield dumps(row) + "\n"


def _csv(svc: Services, job_id: int) -> Iterator[bytes]:
    """Columns are the first row's keys; nested values are written as JSON. A path that is not
    UTF-8 is written as its own bytes, as `vegafs analyze --csv` does."""
    buffer = io.StringIO()
    writer: Any = None
    for row in _all_rows(svc, job_id):
        if writer is None:
            writer = csv.DictWriter(buffer, fieldnames=list(row), extrasaction="ignore")
            writer.writeheader()
        writer.writerow(
            {k: json.dumps(v) if isinstance(v, dict | list) else v for k, v in row.items()}
        )
        yield buffer.getvalue().encode("utf-8", "surrogateescape")
        buffer.seek(0)
        buffer.truncate()


SHARD_OF_JOB = (
    " `shard-of-job`: the job is a shard of a sharded job (`parent_id`): act on that job; its"
    " shards follow it."
)


def refuse_shard(row: Any, action: str) -> None:
    """A shard is its job's part: cancelled alone it would run again, retried or deleted alone
    its job's merge would miss it. The user acts on the job (409 naming it)."""
    if row.parent_id is not None:
        raise Problem(
            409,
            "shard-of-job",
            f"job {row.id} is a shard of job {row.parent_id}: {action} job {row.parent_id}",
            parent_id=row.parent_id,
        )


@router.post(
    "/{job_id}/cancel",
    status_code=202,
    response_model=JobOut,
    summary="Cancel a job: a queued one at once, a running one within a second",
    responses={
        404: NO_JOB,
        409: problem("`job-finished`: the job has already finished." + SHARD_OF_JOB),
    },
)
def cancel(request: Request, job_id: JobId, who: Principal = SubmitPrincipal) -> Response:
    svc = services(request)
    row = visible_job(svc, job_id, who)
    refuse_shard(row, "cancel")
    if row.status in job_repo.FINISHED:
        raise Problem(409, "job-finished", f"job {job_id} has already ended ({row.status})")
    row = job_repo.request_cancel(svc.db, job_id)
    if row is None:
        raise Problem(404, "job-not-found", f"no job {job_id}")
    svc.bus.publish(cancel_topic(job_id))
    svc.bus.publish(job_topic(job_id))
    return reply(out(row), 202)


@router.post(
    "/{job_id}/retry",
    status_code=202,
    response_model=JobOut,
    summary="Queue a failed or cancelled job again",
    responses={
        404: NO_JOB,
        409: problem("`job-not-retryable`: the job is not failed or cancelled." + SHARD_OF_JOB),
        422: problem(
            "`path-not-allowed`: a path of the job no longer passes the check of a submission "
            "(the service's roots narrowed by the submitting key's root)."
        ),
    },
)
def retry(request: Request, job_id: JobId, who: Principal = SubmitPrincipal) -> Response:
    svc = services(request)
    row = visible_job(svc, job_id, who)
    refuse_shard(row, "retry")
    if row.status not in ("failed", "cancelled"):
        state = "has succeeded" if row.status == "succeeded" else f"is {row.status}"
        raise Problem(
            409,
            "job-not-retryable",
            f"job {job_id} {state}; only failed or cancelled jobs can be retried",
        )
    # Confined again, as at submission: the tree may have changed since (a symlink swapped in).
    try:
        op = ops.get(row.operation)
        op.confine(
            op.params.model_validate(row.spec), narrowed_roots(svc.settings.roots, row.key_root)
        )
    except PathNotAllowed as e:
        raise Problem(422, "path-not-allowed", str(e), path=e.path) from None
    row = job_repo.requeue(svc.db, job_id)
    if row is None or row.status != "queued":  # finished or deleted meanwhile
        raise Problem(409, "job-not-retryable", f"job {job_id} cannot be retried now")
    svc.bus.publish(QUEUE_TOPIC)
    svc.bus.publish(job_topic(job_id))
    return reply(out(row), 202)


@router.delete(
    "/{job_id}",
    status_code=204,
    summary="Delete a finished job and its results",
    responses={
        404: NO_JOB,
        409: problem("`job-not-finished`: the job has not finished." + SHARD_OF_JOB),
    },
)
def delete_job(request: Request, job_id: JobId, who: Principal = SubmitPrincipal) -> Response:
    svc = services(request)
    row = visible_job(svc, job_id, who)
    refuse_shard(row, "delete")
    if row.status not in job_repo.FINISHED or not job_repo.delete_finished(svc.db, job_id):
        raise Problem(409, "job-not-finished", f"job {job_id} is {row.status}")
    return Response(status_code=204)

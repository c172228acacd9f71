"""The request and response bodies of the API."""

from collections.abc import Mapping
from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

Status = Literal["queued", "running", "succeeded", "failed", "cancelled"]

ANALYZE_EXAMPLE: dict[str, Any] = {
    "operation": "analyze",
    "params": {"selection": {"roots": ["/srv/data"], "exclude": ["*.tmp"]}, "top": 20},
}


class SubmitJob(BaseModel):
    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [ANALYZE_EXAMPLE]})

    operation: str = Field(max_length=100, description="A name from GET /api/v1/operations.")
    params: dict[str, Any] = Field(
        default_factory=dict, description="The operation's parameters (its JSON Schema)."
    )
    priority: int = Field(default=0, ge=-100, le=100, description="Higher runs first.")
    max_attempts: int | None = Field(
        default=None, ge=1, le=20, description="Attempts before failing (default: server's)."
    )
    fresh: bool = Field(default=False, description="Bypass the result cache.")
    shards: int | None = Field(
        default=None,
        ge=1,
        le=256,
        description="Split the job into up to this many shards that any worker may run "
        "(analyze, search, hash, validate; docs/concepts.md, Sharding). 1 or none: one job.",
    )


class JobLinks(BaseModel):
    self: str
    results: str
    events: str
    cancel: str
    retry: str
    shards: str


class JobBrief(BaseModel):
    """A job as GET /jobs lists it: JobOut without ``progress`` and ``summary``."""

    id: int
    operation: str
    params: dict[str, Any]
    status: Status
    priority: int
    attempts: int
    max_attempts: int
    cancel_requested: bool
    owner: str
    error: dict[str, Any] | None
    result_rows: int
    version: int
    worker_id: str | None
    parent_id: int | None = Field(description="A shard: the job it is part of.")
    shards: int | None = Field(description="A sharded job: the shards it asked for.")
    created_at: datetime
    updated_at: datetime
    run_after: datetime
    started_at: datetime | None
    finished_at: datetime | None
    links: JobLinks


class JobOut(JobBrief):
    progress: dict[str, Any] | None = Field(
        description="Counters of the running or last attempt: entries, dirs, bytes, errors, "
        "elapsed_s, rate_per_s, eta_s (null when unknown), cached."
    )
    summary: dict[str, Any] | None
    shard_jobs: list[dict[str, Any]] | None = Field(
        default=None,
        description="A sharded job: its shards (id, round, status, attempts, worker_id, "
        "progress, error), once it has been split; round 2: a dupes job's hashing shards.",
    )


def job_json(row: Mapping[Any, Any], base: str) -> dict[str, Any]:
    """A job row (its mapping: a SQLAlchemy row's ``_mapping`` or an asyncpg record) as
    JobOut's JSON (built directly: this is the API's hottest path)."""
    url = f"{base}/jobs/{row['id']}"
    return {
        "id": row["id"],
        "operation": row["operation"],
        "params": row["spec"],
        "status": row["status"],
        "priority": row["priority"],
        "attempts": row["attempts"],
        "max_attempts": row["max_attempts"],
        "cancel_requested": row["cancel_requested"],
        "owner": row["owner"],
        "progress": row["progress"],
        "summary": row["summary"],
        "error": row["error"],
        "result_rows": row["result_rows"],
        "version": row["version"],
        "worker_id": row["worker_id"],
        "parent_id": row["parent_id"],
        "shards": row["shards"],
        "created_at": _utc(row["created_at"]),
        "updated_at": _utc(row["updated_at"]),
        "run_after": _utc(row["run_after"]),
        "started_at": _utc(row["started_at"]),
        "finished_at": _utc(row["finished_at"]),
        "links": {
            "self": url,
            "results": f"{url}/results",
            "events": f"{url}/events",
            "cancel": f"{url}/cancel",
            "retry": f"{url}/retry",
            "shards": f"{base}/jobs?parent_id={row['id']}",
        },
    }


def shard_json(row: Mapping[Any, Any]) -> dict[str, Any]:
    """A shard as its job's detail lists it."""
    keys = ("id", "status", "attempts", "worker_id", "progress", "error", "result_rows")
    return {**{k: row[k] for k in keys}, "round": row["shard_round"] or 1}


def _utc(t: datetime | None) -> str | None:
    """ISO 8601 in UTC with a Z (times are stored as naive UTC)."""
    return None if t is None else t.isoformat() + "Z"


class JobPage(BaseModel):
    items: list[JobBrief] = Field(description="Without progress and summary: GET /jobs/{id}.")
    next_cursor: str | None = Field(description="Pass as ?cursor= for the next page.")


class ResultRow(BaseModel):
    seq: int
    data: dict[str, Any]


class ResultPage(BaseModel):
    items: list[ResultRow]
    next_cursor: str | None


class OperationOut(BaseModel):
    name: str
    summary: str
    mutates: bool
    params_schema: dict[str, Any]
    result_schema: dict[str, Any] = Field(description="The job's summary.")
    row_schema: dict[str, Any] | None = Field(
        description="One result row (GET /jobs/{id}/results); null: the operation has none."
    )


class Health(BaseModel):
    status: Literal["ok"]

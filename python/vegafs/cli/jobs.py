"""``vegafs jobs``: operations as jobs on a VegaFS server (``vegafs serve``).

Every command talks to ``--server`` / ``VEGAFS_SERVER`` with the key in ``VEGAFS_API_KEY``.
Exit codes (docs/cli.md, "Jobs on a server"): 0 done; 2 a request the server refused (the
message is its ``detail``) or bad usage; 4 the server cannot be reached or failed; ``watch``
(and ``submit --wait``) 1 when the job failed and 3 when it was cancelled; 130 interrupted.
"""

import json
import sys
import time
from collections.abc import Iterator
from enum import StrEnum
from typing import TYPE_CHECKING, Annotated, Any

import typer

from vegafs.cli import exits
from vegafs.cli.client import (
    DEFAULT_SERVER,
    FINISHED,
    ApiKey,
    RequestFailed,
    Server,
    clean,
    connect,
    dumps,
)
from vegafs.cli.exits import JOB_CANCELLED, JOB_FAILED, UNAVAILABLE
from vegafs.cli.values import human_bytes

if TYPE_CHECKING:
    from vegafs.cli.client import Client
    from vegafs.cli.present import Presenter

jobs_app = typer.Typer(
    help="Jobs on a VegaFS server: submit, list, show, watch, cancel, retry, delete, results.",
    no_args_is_help=True,
)


class SubmitGroup(typer.core.TyperGroup):
    """`vegafs jobs submit OP`: a command per operation, made when asked for."""

    def list_commands(self, ctx: Any) -> list[str]:
        from vegafs import ops

        return ops.names()

    def get_command(self, ctx: Any, cmd_name: str) -> Any:
        from vegafs.cli.operations import command_for, submit_command

        return command_for(cmd_name, submit_command)


submit_app = typer.Typer(
    cls=SubmitGroup,
    help="Submit an operation as a job; prints its id and URL.",
    no_args_is_help=True,
)
jobs_app.add_typer(submit_app, name="submit")

RECONNECT_S = 30.0  # `watch` gives up when a lost connection cannot be resumed for this long
EVENTS_READ_TIMEOUT_S = 60.0  # the server sends a keep-alive every 15 s (VEGAFS_SSE_KEEPALIVE_S)
SUBMIT_PANEL = "Job"


class Status(StrEnum):
    queued = "queued"
    running = "running"
    succeeded = "succeeded"
    failed = "failed"
    cancelled = "cancelled"


class ResultFormat(StrEnum):
    ndjson = "ndjson"
    csv = "csv"


JobId = Annotated[int, typer.Argument(min=1, help="The job's id.", show_default=False)]
AsJson = Annotated[bool, typer.Option("--json", help="The job as JSON (as GET /jobs/{id}).")]


# ---- submit ----------------------------------------------------------------------------------


def submit_and_report(
    operation: str,
    params: dict[str, Any],
    *,
    server: str,
    api_key: str | None,
    priority: int = 0,
    max_attempts: int | None = None,
    fresh: bool = False,
    shards: int | None = None,
    idempotency_key: str | None = None,
    wait: bool = False,
    as_json: bool = False,
    quiet: bool = False,
) -> None:
    """`vegafs jobs submit OP`: submit, announce the job, and with ``wait`` watch it to its end."""
    with connect(server, api_key) as client:
        job = submit(
            client,
            operation,
            params,
            priority=priority,
            max_attempts=max_attempts,
            fresh=fresh,
            shards=shards,
            idempotency_key=idempotency_key,
        )
        if not (wait and as_json):
            announce(client, job, as_json=as_json, quiet=quiet)
        if wait:
            final = watch(client, job["id"], quiet=quiet, shown=job["status"])
            report(final, as_json=as_json, quiet=quiet)


def submit(
    client: "Client",
    operation: str,
    params: dict[str, Any],
    *,
    priority: int = 0,
    max_attempts: int | None = None,
    fresh: bool = False,
    shards: int | None = None,
    idempotency_key: str | None = None,
) -> dict[str, Any]:
    """POST /jobs; the job as the server answers it."""
    body: dict[str, Any] = {"operation": operation, "params": params}
    if priority:
        body["priority"] = priority
    if max_attempts is not None:
        body["max_attempts"] = max_attempts
    if fresh:
        body["fresh"] = True
    if shards is not None:
        body["shards"] = shards
    headers = {"Idempotency-Key": idempotency_key} if idempotency_key else None
    job: dict[str, Any] = client.post("/jobs", body, headers=headers)
    return job


def announce(
    client: "Client", job: dict[str, Any], *, as_json: bool = False, quiet: bool = False
) -> None:
    """``job 7 queued: http://host:8000/api/v1/jobs/7`` (or the id alone, or the JSON)."""
    if as_json:
        print(dumps(job))
    elif quiet:
        print(job["id"])
    else:
        print(f"job {job['id']} {job['status']}: {client.url(job['links']['self'])}")


# ---- list, show ------------------------------------------------------------------------------


@jobs_app.command("list")
def list_jobs(
    status: Annotated[
        list[Status] | None,
        typer.Option(
            "--status", "-s", help="Only jobs with this status (repeatable).", show_default=False
        ),
    ] = None,
    operation: Annotated[
        str | None, typer.Option("--operation", help="Only jobs of this operation.")
    ] = None,
    limit: Annotated[int, typer.Option("--limit", "-n", min=1, help="Jobs listed at most.")] = 50,
    as_json: Annotated[bool, typer.Option("--json", help="One JSON job per line.")] = False,
    server: Server = DEFAULT_SERVER,
    api_key: ApiKey = None,
) -> None:
    """Jobs, newest first: id, status, operation, created (UTC), and the paths (tab-separated).

    An API key sees its own jobs; an admin key sees every job."""
    with connect(server, api_key) as client:
        cursor: str | None = None
        left = limit
        while left > 0:
            params: dict[str, Any] = {"limit": min(left, 1000)}
            if status:
                params["status"] = [s.value for s in status]
            if operation is not None:
                params["operation"] = operation
            if cursor is not None:
                params["cursor"] = cursor
            page = client.get("/jobs", params=params)
            items = page["items"][:left]
            for job in items:
                print(dumps(job) if as_json else _row(job))
            left -= len(items)
            cursor = page.get("next_cursor")
            if not cursor or not items:
                return


def _row(job: dict[str, Any]) -> str:
    created = job.get("created_at") or "-"
    return f"{job['id']}\t{job['status']}\t{job['operation']}\t{created}\t{_what(job)}"


def _what(job: dict[str, Any]) -> str:
    """What a job works on: its selection's roots, else its params."""
    params = job.get("params") or {}
    roots = (params.get("selection") or {}).get("roots") if isinstance(params, dict) else None
    if isinstance(roots, list):
        return " ".join(clean(str(r)) for r in roots)
    return clean(dumps(params))


@jobs_app.command("show")
def show(
    job_id: JobId,
    as_json: AsJson = False,
    server: Server = DEFAULT_SERVER,
    api_key: ApiKey = None,
) -> None:
    """A job: status, params, attempts, times, progress, summary, error."""
    with connect(server, api_key) as client:
        job = client.get(f"/jobs/{job_id}")
        if as_json:
            print(dumps(job))
            return
        for name, value in _fields(client, job):
            print(f"{name + ':':<10} {value}")


def _fields(client: "Client", job: dict[str, Any]) -> list[tuple[str, str]]:
    status = job["status"]
    if job.get("cancel_requested") and status not in FINISHED:
        status += " (cancel requested)"
    fields = [
        ("job", f"{job['id']}"),
        ("operation", job["operation"]),
        ("status", status),
        ("url", client.url(job["links"]["self"])),
        ("paths", _what(job)),
        ("params", clean(dumps(job["params"]))),
        ("owner", job["owner"]),
        ("priority", str(job["priority"])),
        ("attempts", f"{job['attempts']} of {job['max_attempts']}"),
        ("created", job["created_at"]),
        ("started", job.get("started_at")),
        ("finished", job.get("finished_at")),
        ("progress", _progress(job["progress"]) if job.get("progress") else None),
        ("summary", _summary(job["summary"]) if job.get("summary") else None),
        ("results", f"{job['result_rows']:,} rows" if status == "succeeded" else None),
        ("error", _error(job["error"]) if job.get("error") else None),
    ]
    return [(name, value) for name, value in fields if value is not None]


def _progress(p: dict[str, Any]) -> str:
    parts = [
        f"{p.get('entries', 0):,} entries",
        f"{p.get('dirs', 0):,} dirs",
        human_bytes(p.get("bytes", 0)),
        f"{p.get('rate_per_s', 0):,.0f} entries/s",
        f"{p.get('elapsed_s', 0):,.1f} s",
    ]
    if p.get("eta_s") is not None:
        parts.append(f"ETA {p['eta_s']:,.0f} s")
    if p.get("errors"):
        parts.append(f"{p['errors']:,} errors")
    if p.get("cached"):
        age = p.get("cached_age_s")
        parts.append(f"from the cache ({age:,.0f} s old)" if age is not None else "cached")
    return " · ".join(parts)


def _summary(summary: dict[str, Any]) -> str:
    """The summary's numbers (the whole of it: --json or GET /jobs/{id})."""
    return " ".join(
        f"{k}={v}"
        for k, v in summary.items()
        if isinstance(v, int | float) and k != "schema_version"
    )


def _error(error: dict[str, Any]) -> str:
    message = clean(str(error.get("message", "")))
    path = error.get("path")
    if path and not message.startswith(str(path)):
        message = f"{clean(str(path))}: {message}"
    kind = error.get("type")
    return f"{message} ({kind})" if kind else message


# ---- watch -----------------------------------------------------------------------------------


@jobs_app.command("watch")
def watch_job(
    job_id: JobId,
    as_json: Annotated[
        bool, typer.Option("--json", help="Print the finished job as JSON.")
    ] = False,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="No progress on stderr.")] = False,
    server: Server = DEFAULT_SERVER,
    api_key: ApiKey = None,
) -> None:
    """Follow a job's progress until it ends (Server-Sent Events; a lost connection is resumed).

    Exit code 0: succeeded; 1: failed; 3: cancelled; 2: no such job; 4: the server cannot be
    reached (for 30 s after a lost connection); 130: interrupted (the job goes on)."""
    with connect(server, api_key) as client:
        final = watch(client, job_id, quiet=quiet)
        report(final, as_json=as_json)


def watch(
    client: "Client", job_id: int, *, quiet: bool = False, shown: str | None = None
) -> dict[str, Any]:
    """Follow GET /jobs/{id}/events until the job has finished; the finished job.

    A stream that breaks (or ends early: a server restarting) is resumed with ``Last-Event-ID``
    after the server's ``retry:`` delay, for up to RECONNECT_S without success. Progress shows
    on stderr: a live line on a terminal, else a line per change of status."""
    progress = Progress(job_id, enabled=not quiet, status=shown)
    last_id: str | None = None
    retry_s = 1.0
    connected = False
    lost_at: float | None = None
    try:
        while True:
            try:
                for event in client.events(
                    f"/jobs/{job_id}/events", last_id, EVENTS_READ_TIMEOUT_S
                ):
                    connected, lost_at, last_id = True, None, event.id
                    if event.retry_ms is not None:
                        retry_s = event.retry_ms / 1000
                    if event.event == "deleted":
                        raise RequestFailed(f"job {job_id} was deleted", exits.USAGE)
                    if event.event not in ("state", "progress") or event.data is None:
                        continue
                    job: dict[str, Any] = json.loads(event.data)
                    progress.update(job)
                    if job["status"] in FINISHED:
                        return job
            except RequestFailed as e:
                # Refusals end the watch; so does a server not there in the first place.
                if e.code != UNAVAILABLE or not connected:
                    raise
            lost_at = lost_at if lost_at is not None else time.monotonic()
            if time.monotonic() - lost_at > RECONNECT_S:
                raise RequestFailed(
                    f"lost the connection to {client.server} and could not resume it "
                    f"within {RECONNECT_S:.0f} s",
                    UNAVAILABLE,
                )
            time.sleep(retry_s)
    except KeyboardInterrupt:
        progress.close()
        exits.fail(
            f"interrupted; job {job_id} goes on (`vegafs jobs cancel {job_id}` stops it)",
            exits.INTERRUPTED,
        )
    finally:
        progress.close()


class Progress:
    """The job's progress on stderr: a line redrawn in place on a terminal, else one line per
    status it passes through (the final one is the command's to print)."""

    def __init__(self, job_id: int, *, enabled: bool = True, status: str | None = None) -> None:
        self._id = job_id
        self._enabled = enabled
        self._tty = sys.stderr.isatty()
        self._status = status
        self._drawn = False

    def update(self, job: dict[str, Any]) -> None:
        status = job["status"]
        if not self._enabled:
            return
        if self._tty:
            line = f"job {self._id} {status}"
            if status == "running" and job.get("progress"):
                line += " · " + _progress(job["progress"])
            sys.stderr.write(f"\r\x1b[K{line}")
            sys.stderr.flush()
            self._drawn = True
        elif status != self._status and status not in FINISHED:
            print(f"job {self._id} {status}", file=sys.stderr, flush=True)
        self._status = status

    def close(self) -> None:
        if self._drawn:
            sys.stderr.write("\r\x1b[K")
            sys.stderr.flush()
            self._drawn = False


def report(job: dict[str, Any], *, as_json: bool = False, quiet: bool = False) -> None:
    """The end of a watch: ``job 7 succeeded`` (or the JSON) on stdout; a failed or cancelled
    job is an error, exit 1 or 3."""
    if as_json:
        print(dumps(job))
    check(job, quiet=as_json or quiet)


def check(job: dict[str, Any], *, quiet: bool = False) -> None:
    """Nothing when the job succeeded (but ``job 7 succeeded`` on stdout unless ``quiet``);
    else exit 1 (failed) or 3 (cancelled) with the reason on stderr."""
    job_id, status = job["id"], job["status"]
    if status == "cancelled":
        exits.fail(f"job {job_id} was cancelled", JOB_CANCELLED)
    if status != "succeeded":
        error = _error(job["error"]) if job.get("error") else status
        exits.fail(f"job {job_id} failed: {error}", JOB_FAILED)
    if not quiet:
        print(f"job {job_id} succeeded")


# ---- cancel, retry, delete, results ----------------------------------------------------------


@jobs_app.command("cancel")
def cancel(job_id: JobId, server: Server = DEFAULT_SERVER, api_key: ApiKey = None) -> None:
    """Cancel a job: a queued one at once, a running one within a second."""
    with connect(server, api_key) as client:
        job = client.post(f"/jobs/{job_id}/cancel")
        if job["status"] == "cancelled":
            print(f"job {job_id} cancelled")
        else:
            print(f"job {job_id} {job['status']}: cancel requested")


@jobs_app.command("retry")
def retry(job_id: JobId, server: Server = DEFAULT_SERVER, api_key: ApiKey = None) -> None:
    """Queue a failed or cancelled job again."""
    with connect(server, api_key) as client:
        job = client.post(f"/jobs/{job_id}/retry")
        print(f"job {job_id} {job['status']}")


@jobs_app.command("delete")
def delete(job_id: JobId, server: Server = DEFAULT_SERVER, api_key: ApiKey = None) -> None:
    """Delete a finished job and its results."""
    with connect(server, api_key) as client:
        client.delete(f"/jobs/{job_id}")
        print(f"job {job_id} deleted")


@jobs_app.command("results")
def results(
    job_id: JobId,
    fmt: Annotated[
        ResultFormat,
        typer.Option(
            "--format",
            "-f",
            help="NDJSON: one JSON object a line; CSV: a header "
            "line, then a row each (the first row's columns).",
        ),
    ] = ResultFormat.ndjson,
    server: Server = DEFAULT_SERVER,
    api_key: ApiKey = None,
) -> None:
    """Download a job's result rows to stdout (for analyze: the entries that could not be read).

    A job that is queued or running has no results yet: exit 2, saying so."""
    with connect(server, api_key) as client:
        params = {"format": fmt.value}
        try:
            with client.stream(f"/jobs/{job_id}/results", params=params, read_timeout=120) as r:
                _copy(r.iter_bytes())
        except RequestFailed as e:
            if e.status != 409:
                raise
            exits.fail(f"{e.message} (wait for it: vegafs jobs watch {job_id})", exits.USAGE)


def _copy(chunks: Any) -> None:
    out = sys.stdout.buffer
    try:
        for chunk in chunks:
            out.write(chunk)
        out.flush()
    except BrokenPipeError:  # `| head`: the reader has what it wanted
        _quiet_stdout()


def _quiet_stdout() -> None:
    import os

    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, sys.stdout.fileno())
    raise typer.Exit(exits.OK)


# ---- for `vegafs OP --submit` -----------------------------------------------------------------


def run_remote(
    operation: str,
    params: dict[str, Any],
    *,
    server: str,
    api_key: str | None,
    wait: bool,
    fresh: bool,
    presenter: "Presenter",
    shards: int | None = None,
) -> None:
    """Submit; without ``wait`` announce the job on stdout; with it, announce it on stderr, watch
    it, and show its result through ``presenter`` as a local run shows it (a failed job exits 1,
    a cancelled one 3)."""
    with connect(server, api_key) as client:
        job = submit(client, operation, params, fresh=fresh, shards=shards)
        if not wait:
            announce(client, job, as_json=presenter.as_json)
            return
        sys.stdout.flush()
        print(
            f"job {job['id']} {job['status']}: {client.url(job['links']['self'])}",
            file=sys.stderr,
        )
        final = watch(client, job["id"], shown=job["status"])
        check(final, quiet=True)
        progress = final.get("progress") or {}
        if progress.get("cached"):
            age = progress.get("cached_age_s")
            when = f", computed {age:,.0f} s ago" if isinstance(age, int | float) else ""
            print(f"vegafs: job {job['id']}: the result is from the server's cache{when} "
                  "(--fresh runs it again)", file=sys.stderr)  # fmt: skip
        if final["result_rows"]:
            for rows in result_pages(client, job["id"]):
                presenter.rows(rows)
        presenter.finish(final["summary"] or {})


def result_pages(client: "Client", job_id: int) -> Iterator[list[dict[str, Any]]]:
    """A job's result rows, a page at a time."""
    cursor: str | None = None
    while True:
        params: dict[str, Any] = {"limit": 1000}
        if cursor is not None:
            params["cursor"] = cursor
        page = client.get(f"/jobs/{job_id}/results", params=params)
        yield [item["data"] for item in page["items"]]
        cursor = page.get("next_cursor")
        if not cursor:
            return

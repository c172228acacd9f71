"""A job's life over HTTP, on SQLite and on PostgreSQL + Redis: submit, watch, results, cancel,
retry, delete, idempotency, the result cache, SSE resume."""

import json
import os
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from conftest import write
from polling import wait_for
from stack import Backend, Stack, slow_tree, slowed, strace_missing
from vegafs.ops import registry


def analyze_body(root: Path, **params: Any) -> dict[str, Any]:
    return {"operation": "analyze", "params": {"selection": {"roots": [str(root)]}, **params}}


@pytest.fixture
def slow_stack(backend: Backend, tmp_path: Path, service_root: Path) -> Iterator[Stack]:
    """A service whose jobs on ``service_root/slow`` take ~10 s (nested dirs, slowed getdents)."""
    why_not = strace_missing()
    if why_not:
        pytest.skip(why_not)
    dirs = slow_tree(service_root / "slow", depth=25)
    s = Stack(backend, tmp_path / "data", [service_root])
    s.data_dir.mkdir()
    try:
        yield s.start(prefix=slowed(dirs, delay_ms=200))
    finally:
        s.stop()


def test_a_job_runs_from_submit_to_results(stack: Stack, service_root: Path) -> None:
    with stack.client() as http:
        r = http.post("/jobs", json=analyze_body(service_root, top=2))
        assert r.status_code == 202, r.text
        job = r.json()
        assert r.headers["location"] == f"/api/v1/jobs/{job['id']}"
        assert job["status"] == "queued"
        assert job["params"]["selection"]["roots"] == [str(service_root)]
        assert job["links"]["results"] == f"/api/v1/jobs/{job['id']}/results"
        done = stack.wait_job(http, job["id"], {"succeeded", "failed"})
        assert done["status"] == "succeeded", done
        assert done["attempts"] == 1
        assert done["error"] is None
        summary = done["summary"]
        assert (summary["files"], summary["dirs"], summary["file_bytes"]) == (3, 3, 2130)
        assert [f["bytes"] for f in summary["largest_files"]] == [2000, 100]
        assert "errors" not in summary  # they are the result rows
        assert done["progress"]["entries"] == 6
        assert done["progress"]["cached"] is False
        assert done["result_rows"] == 0
        assert done["started_at"] <= done["finished_at"]
        page = http.get(f"/jobs/{job['id']}/results").json()
        assert page == {"items": [], "next_cursor": None}
        r = http.post(f"/jobs/{job['id']}/retry")
        assert (r.status_code, r.json()["type"], r.json()["detail"]) == (
            409,
            "/problems/job-not-retryable",
            f"job {job['id']} has succeeded; only failed or cancelled jobs can be retried",
        )


def test_results_are_the_entries_that_could_not_be_read(
    backend: Backend, tmp_path: Path, service_root: Path, unprivileged: list[str]
) -> None:
    locked = [service_root / f"locked{i}" for i in range(5)]
    for d in locked:
        d.mkdir()
        d.chmod(0)
    s = Stack(backend, tmp_path / "data", [service_root])
    s.data_dir.mkdir()
    try:
        s.start(prefix=unprivileged)
        with s.client() as http:
            job = http.post("/jobs", json=analyze_body(service_root)).json()
            done = s.wait_job(http, job["id"], {"succeeded", "failed"})
            assert done["status"] == "succeeded", done
            assert done["result_rows"] == 5
            assert done["summary"]["error_count"] == 5
            first = http.get(f"/jobs/{job['id']}/results", params={"limit": 2}).json()
            assert [row["seq"] for row in first["items"]] == [0, 1]
            assert first["next_cursor"] == "1"
            named: dict[str, str | int] = {"format": "json", "limit": 2}  # the default, by name
            assert http.get(f"/jobs/{job['id']}/results", params=named).json() == first
            rest = http.get(f"/jobs/{job['id']}/results", params={"limit": 2, "cursor": "1"}).json()
            assert [row["seq"] for row in rest["items"]] == [2, 3]
            last = http.get(f"/jobs/{job['id']}/results", params={"limit": 2, "cursor": "3"}).json()
            assert [row["seq"] for row in last["items"]] == [4]
            assert last["next_cursor"] is None
            rows = [r["data"] for r in first["items"] + rest["items"] + last["items"]]
            assert [r["path"] for r in rows] == [str(d) for d in locked]
            assert {r["kind"] for r in rows} == {"permission_denied"}

            nd = http.get(f"/jobs/{job['id']}/results", params={"format": "ndjson"})
            assert nd.headers["content-type"] == "application/x-ndjson"
            assert [json.loads(line) for line in nd.text.splitlines()] == rows
            csv_text = http.get(f"/jobs/{job['id']}/results", params={"format": "csv"}).text
            lines = csv_text.splitlines()
            assert lines[0] == "path,kind,error"
            assert [line.split(",")[0] for line in lines[1:]] == [str(d) for d in locked]
    finally:
        s.stop()
        for d in locked:
            d.chmod(0o755)


def test_a_repeated_idempotency_key_returns_the_same_job(stack: Stack, service_root: Path) -> None:
    body = analyze_body(service_root)
    with stack.client() as http:
        first = http.post("/jobs", json=body, headers={"Idempotency-Key": "k1"})
        again = http.post("/jobs", json=body, headers={"Idempotency-Key": "k1"})
        assert (first.status_code, again.status_code) == (202, 200)
        assert again.json()["id"] == first.json()["id"]
        other = http.post(
            "/jobs", json=analyze_body(service_root, top=3), headers={"Idempotency-Key": "k1"}
        )
        assert other.status_code == 409
        assert other.headers["content-type"] == "application/problem+json"
        assert other.json()["type"] == "/problems/idempotency-key-reused"
        fresh = http.post("/jobs", json=body, headers={"Idempotency-Key": "k2"})
        assert fresh.status_code == 202
        assert fresh.json()["id"] != first.json()["id"]
        listed = http.get("/jobs").json()["items"]
        assert sorted(j["id"] for j in listed) == sorted([first.json()["id"], fresh.json()["id"]])


def test_the_second_identical_analysis_comes_from_the_cache_unless_fresh(
    stack: Stack, service_root: Path
) -> None:
    with stack.client() as http:
        ids = []
        for extra in ({}, {}, {"fresh": True}):
            job = http.post("/jobs", json={**analyze_body(service_root), **extra}).json()
            ids.append(stack.wait_job(http, job["id"], {"succeeded"}))
        assert [j["progress"]["cached"] for j in ids] == [False, True, False]
        assert ids[1]["summary"] == ids[0]["summary"]
        write(service_root / "new.txt", 7)
        # A fresh run sees the change; the cached one (within its TTL) did not.
        assert ids[2]["summary"]["files"] == 3  # submitted before the new file
        newer = http.post("/jobs", json={**analyze_body(service_root), "fresh": True}).json()
        assert stack.wait_job(http, newer["id"], {"succeeded"})["summary"]["files"] == 4


def test_a_walks_last_run_is_the_next_runs_expected_entries(
    stack: Stack, service_root: Path
) -> None:
    """A walk has no total; the entries the same job met last time stand in for one (its ETA),
    and a tree that outgrew it has no ETA, not a wrong one."""
    with stack.client() as http:

        def run() -> dict[str, Any]:
            job = http.post("/jobs", json={**analyze_body(service_root), "fresh": True}).json()
            progress: dict[str, Any] = stack.wait_job(http, job["id"], {"succeeded"})["progress"]
            return progress

        first = run()
        assert (first["entries"], first["entries_expected"], first["eta_s"]) == (6, None, None)
        write(service_root / "new.txt", 7)
        second = run()  # met one more entry than it expected: no ETA at its end
        assert (second["entries"], second["entries_expected"], second["eta_s"]) == (7, 6, None)
        third = run()
        assert (third["entries"], third["entries_expected"]) == (7, 7)


def test_listing_filters_and_pages(stack: Stack, service_root: Path) -> None:
    with stack.client() as http:
        ids = [http.post("/jobs", json=analyze_body(service_root)).json()["id"] for _ in range(5)]
        for i in ids:
            stack.wait_job(http, i, {"succeeded"})
        bad = http.post("/jobs", json=analyze_body(service_root / "a", top=1)).json()["id"]
        stack.wait_job(http, bad, {"succeeded"})
        page1 = http.get("/jobs", params={"limit": 4}).json()
        assert [j["id"] for j in page1["items"]] == [bad, *ids[::-1][:3]]
        # A listing leaves out summary and progress (GET /jobs/{id} has them).
        assert set(page1["items"][0]) == set(http.get(f"/jobs/{bad}").json()) - {
            "summary",
            "progress",
        }
        page2 = http.get("/jobs", params={"limit": 4, "cursor": page1["next_cursor"]}).json()
        assert [j["id"] for j in page2["items"]] == ids[1::-1]
        assert page2["next_cursor"] is None
        assert http.get("/jobs", params={"status": "failed"}).json()["items"] == []
        assert (
            len(http.get("/jobs", params={"status": ["succeeded", "failed"]}).json()["items"]) == 6
        )
        assert http.get("/jobs", params={"operation": "nope"}).json()["items"] == []
        r = http.get("/jobs", params={"status": "sleeping"})
        assert r.status_code == 422
        assert r.json()["errors"][0]["field"] == "status[0]"


def test_cancel_stops_a_running_job_promptly(slow_stack: Stack, service_root: Path) -> None:
    with slow_stack.client() as http:
        job = http.post("/jobs", json=analyze_body(service_root / "slow")).json()
        slow_stack.wait_job(http, job["id"], {"running"})
        wait_for(
            "the walk under way",
            lambda: (http.get(f"/jobs/{job['id']}").json()["progress"] or {}).get("dirs"),
            context=slow_stack.log_text,
        )
        asked = time.monotonic()
        r = http.post(f"/jobs/{job['id']}/cancel")
        assert r.status_code == 202
        assert r.json()["cancel_requested"] is True
        done = slow_stack.wait_job(http, job["id"], {"cancelled", "succeeded", "failed"})
        took = time.monotonic() - asked
        assert done["status"] == "cancelled", done
        assert done["error"]["type"] == "cancelled"
        assert done["summary"] is None
        # Seconds to spare on a loaded machine, yet far less than the ~10 s the walk would take.
        assert took < 5.0, f"cancel took {took:.2f} s"
        again = http.post(f"/jobs/{job['id']}/cancel")
        assert again.status_code == 409
        assert again.json()["type"] == "/problems/job-finished"


def test_a_queued_job_is_cancelled_at_once_and_can_be_retried(
    backend: Backend, tmp_path: Path, service_root: Path
) -> None:
    s = Stack(backend, tmp_path / "data", [service_root])
    s.data_dir.mkdir()
    try:
        s.start_server("--no-worker")
        with s.client() as http:
            job = http.post("/jobs", json=analyze_body(service_root)).json()
            r = http.post(f"/jobs/{job['id']}/cancel")
            assert (r.status_code, r.json()["status"]) == (202, "cancelled")
            assert http.post(f"/jobs/{job['id']}/retry").json()["status"] == "queued"
            running = http.post("/jobs", json=analyze_body(service_root)).json()
            assert http.post(f"/jobs/{running['id']}/retry").status_code == 409
            assert http.delete(f"/jobs/{running['id']}").status_code == 409
            s.start_worker()
            assert s.wait_job(http, job["id"], {"succeeded"})["attempts"] == 1
    finally:
        s.stop()


def test_a_failed_job_can_be_retried_and_deleted(
    backend: Backend, tmp_path: Path, service_root: Path
) -> None:
    target = service_root / "later"
    target.mkdir()
    s = Stack(backend, tmp_path / "data", [service_root])
    s.data_dir.mkdir()
    try:
        s.start_server("--no-worker")
        with s.client() as http:
            # Submitted while the directory exists; gone when a worker looks: a permanent
            # failure, not retried.
            job = http.post("/jobs", json=analyze_body(target)).json()
            target.rmdir()
            s.start_worker()
            failed = s.wait_job(http, job["id"], {"succeeded", "failed"})
            assert failed["status"] == "failed"
            assert failed["error"]["type"] == "path-not-allowed"
            assert failed["error"]["path"] == str(target)
            assert failed["attempts"] == 1
            target.mkdir()
            r = http.post(f"/jobs/{job['id']}/retry")
            assert (r.status_code, r.json()["status"], r.json()["attempts"]) == (202, "queued", 0)
            assert r.json()["error"] is None
            assert s.wait_job(http, job["id"], {"succeeded"})["summary"]["dirs"] == 1
            assert http.delete(f"/jobs/{job['id']}").status_code == 204
            gone = http.get(f"/jobs/{job['id']}")
            assert gone.status_code == 404
            assert gone.json()["type"] == "/problems/job-not-found"
    finally:
        s.stop()


def sse_events(response: httpx.Response) -> Iterator[dict[str, Any]]:
    event: dict[str, Any] = {}
    for line in response.iter_lines():
        if not line:
            if "data" in event:
                yield event
            event = {}
        elif line.startswith(":"):
            continue
        else:
            name, _, value = line.partition(": ")
            event[name] = json.loads(value) if name == "data" else value


def test_events_stream_progress_and_resume_after_the_last_id(
    slow_stack: Stack, service_root: Path
) -> None:
    with slow_stack.client(timeout=60) as http:
        job = http.post("/jobs", json=analyze_body(service_root / "slow")).json()
        seen: list[dict[str, Any]] = []
        with http.stream("GET", f"/jobs/{job['id']}/events") as r:
            assert r.headers["content-type"].startswith("text/event-stream")
            for event in sse_events(r):
                seen.append(event)
                if event["data"]["status"] == "running" and event["event"] == "progress":
                    break
        assert seen[0]["event"] == "state"
        ids = [int(e["id"]) for e in seen]
        assert ids == sorted(set(ids)), ids
        assert [e["data"]["version"] for e in seen] == ids
        last = ids[-1]
        resumed: list[dict[str, Any]] = []
        headers = {"Last-Event-ID": str(last)}
        with http.stream("GET", f"/jobs/{job['id']}/events", headers=headers) as r:
            resumed = list(sse_events(r))
        assert all(int(e["id"]) > last for e in resumed), [e["id"] for e in resumed]
        assert resumed[-1]["event"] == "state"
        assert resumed[-1]["data"]["status"] == "succeeded"
        assert [e["event"] for e in resumed].count("state") == 2  # resumed, then finished
        # Resuming after the final event: nothing more to say, the stream ends at once.
        headers = {"Last-Event-ID": resumed[-1]["id"]}
        with http.stream("GET", f"/jobs/{job['id']}/events", headers=headers) as r:
            assert list(sse_events(r)) == []


def test_operations_list_the_registry_with_schemas(stack: Stack) -> None:
    with stack.client() as http:
        ops = http.get("/operations").json()
    assert [op["name"] for op in ops] == registry.names()  # every operation, by name
    by_name = {op["name"]: op for op in ops}
    analyze, listing, search = by_name["analyze"], by_name["list"], by_name["search"]
    dupes = by_name["dupes"]
    assert "selection" in analyze["params_schema"]["properties"]
    assert analyze["mutates"] is False
    assert set(analyze["result_schema"]["properties"]) >= {"files", "error_count", "elapsed_s"}
    assert "errors" not in analyze["result_schema"]["properties"]  # they are the rows
    assert set(analyze["row_schema"]["properties"]) == {"path", "kind", "error"}
    assert set(listing["row_schema"]["properties"]) == {"path", "type", "size", "mtime"}
    assert listing["row_schema"]["required"] == ["path", "type", "size", "mtime"]
    assert search["params_schema"]["required"] == ["selection", "patterns"]
    assert set(search["row_schema"]["properties"]) == {
        "type", "path", "line_number", "byte_offset", "line", "submatches", "count"
    }  # fmt: skip
    assert dupes["row_schema"]["required"] == ["hash", "size", "count", "wasted_bytes", "paths"]


def test_health_readiness_and_metrics(stack: Stack, service_root: Path) -> None:
    with stack.client() as http:
        job = http.post("/jobs", json=analyze_body(service_root)).json()
        stack.wait_job(http, job["id"], {"succeeded"})
    assert httpx.get(f"{stack.url}/healthz").json() == {"status": "ok"}
    assert httpx.get(f"{stack.url}/readyz").json() == {"status": "ok"}
    text = httpx.get(f"{stack.url}/metrics").text
    assert 'vegafs_jobs{operation="analyze",status="succeeded"} 1.0' in text
    assert "vegafs_queue_depth 0.0" in text
    assert "vegafs_database_up 1.0" in text
    posts = 'vegafs_http_request_duration_seconds_count{method="POST",route="/api/v1/jobs",'
    assert posts + 'status="202"} 1.0' in text
    if stack.backend.embedded:  # the worker runs in the server's process
        assert (
            'vegafs_job_duration_seconds_count{operation="analyze",status="succeeded"} 1.0' in text
        )


def test_bad_requests_get_problems_naming_the_field(stack: Stack, service_root: Path) -> None:
    with stack.client() as http:
        r = http.post("/jobs", json={"operation": "defrag", "params": {}})
        assert r.status_code == 422
        assert r.headers["content-type"] == "application/problem+json"
        body = r.json()
        assert body["type"] == "/problems/validation"
        assert body["errors"][0]["field"] == "operation"
        assert "defrag" in body["detail"]

        r = http.post("/jobs", json=analyze_body(service_root, top=-1))
        assert r.status_code == 422
        assert r.json()["errors"][0]["field"] == "params.top"

        bad = {
            "operation": "analyze",
            "params": {"selection": {"roots": [str(service_root)], "min_size": "big"}},
        }
        r = http.post("/jobs", json=bad)
        assert r.json()["errors"][0]["field"] == "params.selection.min_size"

        # What the core would refuse is refused at submit, naming the field.
        for selection, field, message in (
            ({"include": ["a["]}, "params.selection.include", "unclosed character class"),
            ({"path_regex": "("}, "params.selection.path_regex", "unclosed group"),
            ({"min_size": 5, "max_size": 1}, "params.selection.min_size", "larger than"),
            ({"exclude": ["\udcff"]}, "params.selection", "exclude"),
        ):
            body = analyze_body(service_root)
            body["params"]["selection"].update(selection)
            # json.dumps escapes the lone surrogate as \udcff, as a JSON client may send it.
            r = http.post(
                "/jobs", content=json.dumps(body), headers={"content-type": "application/json"}
            )
            assert r.status_code == 422, (selection, r.text)
            assert r.json()["errors"][0]["field"] == field
            assert message in r.json()["detail"], r.json()
        r = http.post("/jobs", json=analyze_body(service_root, now="0001-01-01T00:00:00"))
        assert r.status_code == 422
        assert r.json()["errors"][0]["field"] == "params.now"

        r = http.post("/jobs", json={"operation": "analyze", "params": {}, "colour": "red"})
        assert r.status_code == 422
        assert r.json()["errors"][0]["field"] == "colour"

        r = http.post("/jobs", content=b"{not json", headers={"content-type": "application/json"})
        assert r.status_code == 422

        r = http.post("/jobs", data={"operation": "analyze"})  # a form, not JSON
        assert (r.status_code, r.json()["type"], r.json()["detail"]) == (
            422,
            "/problems/validation",
            "the body must be JSON, sent with Content-Type: application/json "
            "(got Content-Type application/x-www-form-urlencoded)",
        )
        assert r.json()["errors"][0]["field"] == "body"

        huge = {"operation": "analyze", "params": {"pad": "x" * (2 << 20)}}
        r = http.post("/jobs", json=huge)
        assert r.status_code == 413
        assert r.json()["type"] == "/problems/payload-too-large"

        for path in ("/jobs/0", "/jobs/99999", "/jobs/abc"):
            r = http.get(path)
            assert r.status_code in (404, 422), path
            assert r.headers["content-type"] == "application/problem+json"
        assert http.get("/jobs/99999").json()["type"] == "/problems/job-not-found"
        assert http.get("/nowhere").json()["type"] == "/problems/not-found"


def test_a_non_loopback_address_needs_a_key(stack: Stack) -> None:
    done = stack.cli("serve", "--host", "0.0.0.0", "--port", "1")
    assert done.returncode == 2
    assert "refusing to listen on 0.0.0.0 without an API key" in done.stderr


def test_a_quiet_event_stream_sends_keep_alives(
    backend: Backend, tmp_path: Path, service_root: Path
) -> None:
    s = Stack(backend, tmp_path / "data", [service_root])
    s.data_dir.mkdir()
    try:
        s.start_server("--no-worker")  # the job stays queued: nothing to report
        with s.client(timeout=30) as http:
            job = http.post("/jobs", json=analyze_body(service_root)).json()
            lines: list[str] = []
            with http.stream("GET", f"/jobs/{job['id']}/events") as r:
                for line in r.iter_lines():
                    lines.append(line)
                    if line == ": keep-alive":
                        break
        assert lines[:3] == ["retry: 1000", "", "id: 1"]
        assert lines[3] == "event: state"
        assert json.loads(lines[4].removeprefix("data: "))["status"] == "queued"
        assert lines[5:] == ["", ": keep-alive"]  # VEGAFS_SSE_KEEPALIVE_S is 1 s in tests
    finally:
        s.stop()


def test_names_that_are_not_utf8_come_back_as_their_exact_bytes(
    stack: Stack, service_root: Path
) -> None:
    name = os.fsencode(service_root) + b"/caf\xe9-\xff.bin"
    Path(os.fsdecode(name)).write_bytes(b"x" * 5000)
    with stack.client() as http:
        job = http.post("/jobs", json=analyze_body(service_root, top=1)).json()
        stack.wait_job(http, job["id"], {"succeeded"})
        r = http.get(f"/jobs/{job['id']}")
        assert r.status_code == 200
        r.content.decode("ascii")  # escaped, never raw bytes in JSON
        [largest] = r.json()["summary"]["largest_files"]
        assert os.fsencode(largest["path"]) == name
        with http.stream("GET", f"/jobs/{job['id']}/events") as events:
            [event] = list(sse_events(events))
        assert os.fsencode(event["data"]["summary"]["largest_files"][0]["path"]) == name


def test_a_job_that_has_not_finished_has_no_results_yet(
    backend: Backend, tmp_path: Path, service_root: Path
) -> None:
    s = Stack(backend, tmp_path / "data", [service_root])
    s.data_dir.mkdir()
    try:
        s.start_server("--no-worker")  # the job stays queued
        with s.client() as http:
            job = http.post("/jobs", json=analyze_body(service_root)).json()
            n = job["id"]
            for fmt in ("json", "ndjson", "csv"):
                r = http.get(f"/jobs/{n}/results", params={"format": fmt})
                assert (r.status_code, r.json()["type"], r.json()["detail"]) == (
                    409,
                    "/problems/job-not-finished",
                    f"job {n} has not finished (queued): its results can be fetched once it has",
                ), fmt
            done = s.cli("jobs", "results", str(n), "--server", s.url)
            assert (done.returncode, done.stdout, done.stderr) == (
                2,
                "",
                f"vegafs: error: job {n} has not finished (queued): its results can be fetched "
                f"once it has (wait for it: vegafs jobs watch {n})\n",
            )
            r = http.post(f"/jobs/{n}/retry")
            assert r.json()["detail"] == (
                f"job {n} is queued; only failed or cancelled jobs can be retried"
            )
            assert http.post(f"/jobs/{n}/cancel").status_code == 202
            r = http.post(f"/jobs/{n}/cancel")
            assert (r.status_code, r.json()["detail"]) == (
                409,
                f"job {n} has already ended (cancelled)",
            )
            # Ended: its results (none) are final.
            page = http.get(f"/jobs/{n}/results").json()
            assert page == {"items": [], "next_cursor": None}
    finally:
        s.stop()


def test_metrics_read_the_job_counts_at_most_once_per_cache_period(
    backend: Backend, tmp_path: Path, service_root: Path
) -> None:
    s = Stack(
        backend, tmp_path / "data", [service_root], env_extra={"VEGAFS_METRICS_CACHE_S": "3600"}
    )
    s.data_dir.mkdir()
    try:
        s.start_server("--no-worker")
        with s.client() as http:
            first = http.post("/jobs", json=analyze_body(service_root))
            assert first.status_code == 202
            text = httpx.get(f"{s.url}/metrics").text
            queued = 'vegafs_jobs{operation="analyze",status="queued"} '
            assert queued + "1.0" in text
            assert "vegafs_queue_depth 1.0" in text
            assert http.post("/jobs", json=analyze_body(service_root)).status_code == 202
            # Within the period the table is not read again: the counts are the first scrape's.
            text = httpx.get(f"{s.url}/metrics").text
            assert queued + "1.0" in text
            assert "vegafs_queue_depth 1.0" in text
            assert "vegafs_database_up 1.0" in text
    finally:
        s.stop()

"""The API against its own OpenAPI schema: schemathesis drives a real `vegafs serve`, on SQLite and
on PostgreSQL + Redis, with an admin key.

Every operation of /api/v1/openapi.json gets schemathesis' examples, boundary values (coverage
phase), random valid and invalid requests (fuzzing) and chains of calls (stateful). Every response
must be no 5xx, have a documented status code and content type, match the documented schema
(problem+json for errors), and valid requests must not be refused as invalid. A few finished jobs
exist beforehand, so that ids 1, 2, 3 reach real jobs rather than 404s only.

The run is bounded (examples per operation, steps per scenario) and derandomized (deterministic
generation, no example database), so it reruns the same requests. Requests that schemathesis
rarely makes are in test_odd_requests_are_refused_not_failed.
"""

import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import httpx

from stack import Stack

MAX_EXAMPLES = 25
ST_TIMEOUT_S = 300

# 422 is a valid answer to a schema-valid submission: the schema of `params` is an open object
# (each operation has its own), and a path in it must also exist inside the allowed roots (so
# for a path check too).
CONFIG = f"""\
workers = 1
request-timeout = 10
max-stream-events = 20

[generation]
max-examples = {MAX_EXAMPLES}
deterministic = true
database = "none"

[phases.stateful]
max-steps = 6

[[operations]]
include-operation-id = "submit_api_v1_jobs_post"
checks.positive_data_acceptance.expected-statuses = ["2xx", "401", "403", "409", "422"]

[[operations]]
include-operation-id = "check_path_api_v1_paths_check_post"
checks.positive_data_acceptance.expected-statuses = ["2xx", "401", "403", "422"]

# The live job list never ends and sends nothing while no job changes: every call would wait out
# request-timeout. tests/test_dashboard.py checks its answers (200 stream, 401, 429).
[[operations]]
include-operation-id = "job_list_events_api_v1_job_events_get"
enabled = false
"""

CHECKS = ",".join(
    (
        "not_a_server_error",
        "status_code_conformance",
        "content_type_conformance",
        "response_headers_conformance",
        "response_schema_conformance",
        "negative_data_rejection",
        "positive_data_acceptance",
        "missing_required_header",
        "unsupported_method",
        "allow_header_conformance",
        "ignored_auth",
    )
)


def st_exe() -> Path:
    return Path(sys.executable).parent / "st"


def finished_jobs(stack: Stack, key: str, root: Path) -> list[int]:
    """Three finished jobs: ids 1, 2, 3 (one submitted with an Idempotency-Key)."""
    ids = []
    with stack.client(key) as http:
        for n, extra in enumerate(({}, {"top": 1}, {"max_errors": 0})):
            params: dict[str, Any] = {"selection": {"roots": [str(root)]}, **extra}
            body = {"operation": "analyze", "params": params}
            headers = {"Idempotency-Key": "schema-test"} if n == 2 else {}
            r = http.post("/jobs", json=body, headers=headers)
            assert r.status_code == 202, r.text
            ids.append(r.json()["id"])
        for job_id in ids:
            stack.wait_job(http, job_id, {"succeeded", "failed", "cancelled"})
    return ids


def test_the_api_matches_its_openapi_schema(
    stack: Stack, service_root: Path, tmp_path: Path
) -> None:
    key = stack.create_key("schema-admin", "admin")
    assert finished_jobs(stack, key, service_root) == [1, 2, 3]
    config = tmp_path / "schemathesis.toml"
    config.write_text(CONFIG)
    done = subprocess.run(
        [
            str(st_exe()),
            "--config-file",
            str(config),
            "--no-color",
            "run",
            f"{stack.url}/api/v1/openapi.json",
            "--header",
            f"Authorization: Bearer {key}",
            "--checks",
            CHECKS,
        ],
        capture_output=True,
        text=True,
        timeout=ST_TIMEOUT_S,
        cwd=tmp_path,
        check=False,
    )
    output = done.stdout + done.stderr
    assert done.returncode == 0, f"{output}\n{stack.log_text()}"
    generated = re.search(r"(\d+) generated", output)
    assert generated is not None, output
    print(f"schemathesis ({stack.backend.name}): {generated.group(0)} test cases")
    assert int(generated.group(1)) >= 100, output  # it did run every phase


def test_odd_requests_are_refused_not_failed(stack: Stack, service_root: Path) -> None:
    key = stack.create_key("schema-admin", "admin")
    with stack.client(key) as http:
        # PostgreSQL refuses NUL in text: the filter is refused before it reaches the database.
        r = http.get("/jobs", params={"operation": "analyze\x00"})
        assert r.status_code == 422, r.text
        assert r.headers["content-type"] == "application/problem+json"
        assert r.json()["errors"][0]["field"] == "operation"
        # A cursor past any id or seq is the end, not an error.
        job = http.post(
            "/jobs",
            json={"operation": "analyze", "params": {"selection": {"roots": [str(service_root)]}}},
        ).json()
        stack.wait_job(http, job["id"], {"succeeded"})  # results exist once it has finished
        r = http.get(f"/jobs/{job['id']}/results", params={"cursor": "9" * 20})
        assert r.json() == {"items": [], "next_cursor": None}
        r = http.get("/jobs", params={"cursor": "9" * 20})
        assert [j["id"] for j in r.json()["items"]] == [job["id"]]
        # A body that is not UTF-8 cannot be read: 400.
        r = http.post("/jobs", content=b"\xff", headers={"Content-Type": "application/json"})
        assert (r.status_code, r.json()["type"]) == (400, "/problems/http-error")
        r = http.get(f"/jobs/{2**63}")
        assert (r.status_code, r.json()["type"]) == (422, "/problems/validation")
        # Allow lists every method of the path, not only the first route's.
        r = http.request("PUT", "/jobs")
        assert (r.status_code, r.json()["type"]) == (405, "/problems/method-not-allowed")
        assert r.headers["allow"] == "GET, POST"
        assert http.request("PATCH", "/jobs/1").headers["allow"] == "GET, DELETE"
        r = http.get("/no-such-thing")
        assert (r.status_code, r.json()["type"]) == (404, "/problems/not-found")
    r = httpx.post(
        f"{stack.url}/api/v1/jobs",
        content=b"{" + b" " * (1 << 20) + b"}",
        headers={"Authorization": f"Bearer {key}", "Content-Type": "application/json"},
    )
    assert (r.status_code, r.json()["type"]) == (413, "/problems/payload-too-large")


def test_errors_are_declared_as_problems_in_the_schema(stack: Stack) -> None:
    schema = httpx.get(f"{stack.url}/api/v1/openapi.json").json()
    assert "Problem" in schema["components"]["schemas"]
    assert "HTTPValidationError" not in schema["components"]["schemas"]
    assert schema["components"]["securitySchemes"]["HTTPBearer"]["scheme"] == "bearer"
    for path, methods in schema["paths"].items():
        for method, op in methods.items():
            for status, response in op["responses"].items():
                if status.startswith(("4", "5")):
                    assert list(response["content"]) == ["application/problem+json"], (
                        method,
                        path,
                        status,
                    )
            if not path.endswith(("/healthz", "/readyz", "/metrics")):
                assert op["security"] == [{"HTTPBearer": []}], (method, path)
                assert {"401", "403", "503"} <= set(op["responses"]), (method, path)

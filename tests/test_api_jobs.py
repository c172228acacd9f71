"""A job's life over HTTP, on SQLite and on PostgreSQL + Redis."""

from pathlib import Path
from typing import Any

from stack import Stack


def analyze_body(root: Path, **params: Any) -> dict[str, Any]:
    return {"operation": "analyze", "params": {"selection": {"roots": [str(root)]}, **params}}


def test_a_job_runs_from_submit_to_results(stack: Stack, service_root: Path) -> None:
    with stack.client() as http:
        r = http.post("/jobs", json=analyze_body(service_root, top=2))
        assert r.status_code == 202, r.text
        job = r.json()
        assert r.headers["location"] == f"/api/v1/jobs/{job['id']}"
        assert job["status"] == "queued"
        assert job["params"]["selection"]["roots"] == [str(service_root)]
        done = stack.wait_job(http, job["id"], {"succeeded", "failed"})
        assert done["status"] == "succeeded", done
        assert done["attempts"] == 1
        summary = done["summary"]
        assert (summary["files"], summary["dirs"], summary["file_bytes"]) == (3, 3, 2130)
        assert [f["bytes"] for f in summary["largest_files"]] == [2000, 100]
        assert done["progress"]["entries"] == 6
        assert done["result_rows"] == 0
        page = http.get(f"/jobs/{job['id']}/results").json()
        assert page == {"items": [], "next_cursor": None}

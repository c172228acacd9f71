"""API keys, scopes, ownership, and confinement of every path to the allowed roots."""

from pathlib import Path
from typing import Any

import httpx

from stack import Backend, Stack


def analyze_body(*roots: str, **selection: Any) -> dict[str, Any]:
    return {"operation": "analyze", "params": {"selection": {"roots": list(roots), **selection}}}


def test_without_keys_the_service_is_open_then_a_key_closes_it(stack: Stack) -> None:
    with stack.client() as http:
        assert http.get("/jobs").status_code == 200
    key = stack.create_key("alice")
    assert key.startswith("vfs_")
    with stack.client() as http:
        r = http.get("/jobs")
        assert r.status_code == 401
        assert r.headers["www-authenticate"] == "Bearer"
        assert r.json()["type"] == "/problems/unauthorized"
    for bad in ("Bearer nope", "Bearer vfs_0000_xxxx", "Basic abc", f"Bearer {key}x"):
        r = httpx.get(f"{stack.url}/api/v1/jobs", headers={"Authorization": bad})
        assert r.status_code == 401, bad
    with stack.client(key) as http:
        assert http.get("/jobs").status_code == 200
    # Health and metrics stay open for probes and scrapers.
    assert httpx.get(f"{stack.url}/healthz").status_code == 200
    assert httpx.get(f"{stack.url}/readyz").status_code == 200


def test_scopes_and_ownership(stack: Stack, service_root: Path) -> None:
    alice = stack.create_key("alice", "read,submit")
    bob = stack.create_key("bob", "read,submit")
    reader = stack.create_key("reader", "read")
    admin = stack.create_key("root", "admin")
    with stack.client(alice) as http:
        job = http.post("/jobs", json=analyze_body(str(service_root))).json()
        assert job["owner"] == "alice"
        stack.wait_job(http, job["id"], {"succeeded"})
    with stack.client(reader) as http:
        r = http.post("/jobs", json=analyze_body(str(service_root)))
        assert r.status_code == 403
        assert r.json()["type"] == "/problems/forbidden"
        assert "submit" in r.json()["detail"]
        assert http.get("/jobs").json()["items"] == []  # sees only its own jobs
    with stack.client(bob) as http:
        for method, path in (
            ("GET", f"/jobs/{job['id']}"),
            ("GET", f"/jobs/{job['id']}/results"),
            ("GET", f"/jobs/{job['id']}/events"),
            ("POST", f"/jobs/{job['id']}/cancel"),
            ("POST", f"/jobs/{job['id']}/retry"),
            ("DELETE", f"/jobs/{job['id']}"),
        ):
            r = http.request(method, path)
            assert r.status_code == 403, (method, path, r.text)
        assert http.get("/jobs").json()["items"] == []
    with stack.client(admin) as http:
        assert [j["id"] for j in http.get("/jobs").json()["items"]] == [job["id"]]
        assert http.get(f"/jobs/{job['id']}").json()["owner"] == "alice"
    assert stack.cli("keys", "revoke", "alice").returncode == 0
    with stack.client(alice) as http:
        assert http.get("/jobs").status_code == 401
    listed = stack.cli("keys", "list").stdout.splitlines()
    assert listed[0].split("\t") == ["alice", "read,submit", "-", "revoked"]


def test_key_creation_rejects_bad_input(stack: Stack, tmp_path: Path) -> None:
    done = stack.cli("keys", "create", "--name", "x", "--scopes", "read,launch")
    assert (done.returncode, done.stderr.strip()) == (
        2,
        "vegafs: error: --scopes: unknown scope 'launch' (known: read, submit, admin)",
    )
    stack.create_key("x")
    done = stack.cli("keys", "create", "--name", "x")
    assert (done.returncode, done.stderr.strip()) == (
        2,
        "vegafs: error: --name: a key named 'x' exists",
    )
    done = stack.cli("keys", "create", "--name", "y", "--root", str(tmp_path / "missing"))
    assert done.returncode == 2
    assert "not a directory" in done.stderr


def escape_attempts(root: Path, outside: Path) -> list[tuple[str, str]]:
    """(path, what the 422 says about it): every way out of the root that must be refused."""
    return [
        (f"{root}/../{outside.name}", "is outside the allowed roots"),
        (f"{root}/a/../../{outside.name}", "is outside the allowed roots"),
        (str(outside), "is outside the allowed roots"),
        ("/etc", "is outside the allowed roots"),
        ("/", "is outside the allowed roots"),
        (f"{root}/%2e%2e/{outside.name}", "does not exist"),
        (f"{root}/..%2f{outside.name}", "does not exist"),
        (f"{root}/a\0/../..", "contains a NUL byte"),
        (f"{root}/{'n' * 256}", "has a name longer than 255 bytes"),
        (f"{root}/" + "d/" * 2100, "longer than 4096 bytes"),
        ("a/one.txt", "is not an absolute path"),
        (f"{root}/link-out", "is outside the allowed roots (it resolves to"),
        (f"{root}/a/link-up", "is outside the allowed roots (it resolves to"),
    ]


def test_paths_are_confined_to_the_roots(stack: Stack, service_root: Path) -> None:
    outside = service_root.parent / "outside"
    outside.mkdir()
    (outside / "secret.txt").write_text("x")
    (service_root / "link-out").symlink_to(outside)
    (service_root / "a" / "link-up").symlink_to("../..")
    (service_root / "link-in").symlink_to("a")
    with stack.client() as http:
        for path, reason in escape_attempts(service_root, outside):
            r = http.post("/jobs", json=analyze_body(path))
            assert r.status_code == 422, (path, r.text)
            body = r.json()
            assert body["type"] == "/problems/path-not-allowed", (path, body)
            assert reason in body["detail"], (path, body["detail"])
        r = http.post("/jobs", json=analyze_body(str(service_root), follow_symlinks=True))
        assert r.status_code == 422
        assert "follow_symlinks" in r.json()["detail"]
        # Inside: accepted, and stored as the real path the worker will walk.
        r = http.post("/jobs", json=analyze_body(f"{service_root}/link-in/b/.."))
        assert r.status_code == 202, r.text
        assert r.json()["params"]["selection"]["roots"] == [str(service_root / "a")]
        assert http.get("/jobs").json()["items"][0]["id"] == r.json()["id"]


def test_a_submit_key_sees_its_own_jobs(stack: Stack, service_root: Path) -> None:
    submitter = stack.create_key("ci", "submit")
    with stack.client(submitter) as http:
        job = http.post("/jobs", json=analyze_body(str(service_root))).json()
        assert http.get(f"/jobs/{job['id']}").status_code == 200
        assert [j["id"] for j in http.get("/jobs").json()["items"]] == [job["id"]]


def test_a_key_root_outside_the_roots_is_named(stack: Stack, service_root: Path) -> None:
    elsewhere = service_root.parent / "elsewhere"
    elsewhere.mkdir()
    key = stack.create_key("stray", root=elsewhere)
    with stack.client(key) as http:
        r = http.post("/jobs", json=analyze_body(str(service_root)))
    assert r.status_code == 422
    assert r.json()["detail"] == (
        f"the API key's root {elsewhere} is outside the service's roots (VEGAFS_ROOTS)"
    )


def test_a_key_with_a_root_is_confined_to_it(stack: Stack, service_root: Path) -> None:
    narrow = stack.create_key("narrow", root=service_root / "a")
    with stack.client(narrow) as http:
        assert (
            http.post("/jobs", json=analyze_body(str(service_root / "a" / "b"))).status_code == 202
        )
        r = http.post("/jobs", json=analyze_body(str(service_root)))
        assert r.status_code == 422
        assert r.json()["path"] == str(service_root)


def test_with_no_roots_configured_every_path_is_refused(
    backend: Backend, tmp_path: Path, service_root: Path
) -> None:
    s = Stack(backend, tmp_path / "data", roots=[])
    s.data_dir.mkdir()
    try:
        s.start_server()
        with s.client() as http:
            r = http.post("/jobs", json=analyze_body(str(service_root)))
        assert r.status_code == 422
        assert r.json()["detail"] == (
            f"{service_root}: is outside the allowed roots (none are configured)"
        )
    finally:
        s.stop()

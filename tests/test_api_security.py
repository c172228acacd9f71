"""API keys, scopes, ownership, and confinement of every path to the allowed roots."""

import datetime
import hashlib
import time
from contextlib import ExitStack
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
        "vegafs: error: --scopes: unknown scope 'launch' (known: read, submit, write, admin)",
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
        (f"{root}/link-out", "is outside the allowed roots"),
        (f"{root}/a/link-up", "is outside the allowed roots"),
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
            assert body["detail"] == f"{path.replace(chr(0), chr(92) + '0')}: {reason}" or (
                reason.startswith("longer") and body["detail"].endswith(reason)
            ), (path, body["detail"])
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
    # `keys create` refuses such a root today; a key made while VEGAFS_ROOTS was wider remains.
    stack.roots.append(elsewhere)
    key = stack.create_key("stray", root=elsewhere)
    stack.roots.pop()
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
        assert r.json()["detail"] == (
            f"{service_root}: is outside the API key's root {service_root / 'a'}"
        )


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


def test_open_mode_exists_only_on_a_loopback_address(
    backend: Backend, tmp_path: Path, service_root: Path
) -> None:
    """Bound to 0.0.0.0, revoking the last key does not open the service: every request then
    needs a key (in one process, and in each process of --workers)."""
    for n, extra in enumerate((("--host", "0.0.0.0"), ("--host", "0.0.0.0", "--workers", "2"))):
        s = Stack(backend, tmp_path / f"data{n}", [service_root])
        s.data_dir.mkdir()
        try:
            key = s.create_key(f"only{n}")
            s.start_server(*extra, "--no-worker")
            with s.client(key) as http:
                assert http.get("/jobs").status_code == 200
            assert s.cli("keys", "revoke", f"only{n}").returncode == 0
            with s.client() as http:
                for _ in range(4):  # with --workers 2, more than one process answers
                    r = http.get("/jobs")
                    assert r.status_code == 401, (extra, r.text)
                    assert r.json()["type"] == "/problems/unauthorized"
                    assert r.json()["detail"] == (
                        "an API key is required (Authorization: Bearer <key>)"
                    )
        finally:
            s.stop()
        if backend.name == "pg":
            from conftest import clean_pg

            assert backend.database_url is not None
            clean_pg(backend.database_url)


def test_outside_the_roots_every_path_gets_the_same_answer(
    stack: Stack, service_root: Path
) -> None:
    """Whether it exists, cannot be read, or is a link (to something there or not): the same
    422, which never says where a link leads. Inside the roots, a missing path is named so."""
    outside = service_root.parent / "outside"
    (outside / "locked").mkdir(parents=True)
    (outside / "secret.txt").write_text("x")
    (outside / "locked" / "x").write_text("x")
    (outside / "locked").chmod(0)
    (service_root / "to-secret").symlink_to(outside / "secret.txt")
    (service_root / "to-missing").symlink_to(outside / "missing")
    (service_root / "to-passwd").symlink_to("/etc/passwd")
    (service_root / "a" / "up-missing").symlink_to("../../nowhere")
    try:
        with stack.client() as http:
            for path in (
                f"{outside}/secret.txt",
                f"{outside}/missing",
                f"{outside}/locked",
                f"{outside}/locked/x",
                "/etc/passwd",
                "/etc/vegafs-no-such-file",
                f"{service_root}/../outside/secret.txt",
                f"{service_root}/../outside/missing",
                f"{service_root}/to-secret",
                f"{service_root}/to-missing",
                f"{service_root}/to-passwd",
                f"{service_root}/a/up-missing",
            ):
                r = http.post("/jobs", json=analyze_body(path))
                assert r.status_code == 422, (path, r.text)
                body = r.json()
                assert (body["type"], body["detail"], body["path"]) == (
                    "/problems/path-not-allowed",
                    f"{path}: is outside the allowed roots",
                    path,
                )
            r = http.post("/jobs", json=analyze_body(f"{service_root}/nope"))
            assert r.json()["detail"] == f"{service_root}/nope: does not exist"
    finally:
        (outside / "locked").chmod(0o755)


def test_a_path_inside_the_roots_the_service_may_not_look_at_is_named(
    backend: Backend, tmp_path: Path, service_root: Path, unprivileged: list[str]
) -> None:
    locked = service_root / "locked"
    (locked / "inner").mkdir(parents=True)
    locked.chmod(0)
    s = Stack(backend, tmp_path / "data", [service_root])
    s.data_dir.mkdir()
    try:
        s.start_server("--no-worker", prefix=unprivileged)
        with s.client() as http:
            r = http.post("/jobs", json=analyze_body(str(locked / "inner")))
        assert r.status_code == 422, r.text
        body = r.json()
        assert (body["type"], body["detail"], body["path"]) == (
            "/problems/permission-denied",
            f"{locked / 'inner'}: permission denied (the service may not look at it)",
            str(locked / "inner"),
        )
    finally:
        locked.chmod(0o755)
        s.stop()


def open_stream(http: httpx.Client, path: str, streams: ExitStack) -> httpx.Response:
    """GET ``path`` as a stream; a 200 stays open (until ``streams`` closes), else it is read."""
    r = streams.enter_context(http.stream("GET", path))
    if r.status_code != 200:
        r.read()
    return r


def test_a_shared_service_limits_jobs_streams_and_priority_per_key(
    backend: Backend, tmp_path: Path, service_root: Path
) -> None:
    s = Stack(
        backend,
        tmp_path / "data",
        [service_root],
        env_extra={
            "VEGAFS_MAX_ACTIVE_JOBS_PER_KEY": "2",
            "VEGAFS_MAX_STREAMS_PER_KEY": "2",
            "VEGAFS_MAX_STREAMS": "3",
        },
    )
    s.data_dir.mkdir()
    try:
        alice = s.create_key("alice")
        bob = s.create_key("bob")
        admin = s.create_key("boss", "admin")
        s.start_server("--no-worker")  # jobs stay queued
        body = analyze_body(str(service_root))
        with s.client(alice) as a, s.client(bob) as b, s.client(admin) as root:
            # priority above 0: admin only
            r = a.post("/jobs", json={**body, "priority": 5})
            assert (r.status_code, r.json()["type"], r.json()["detail"]) == (
                403,
                "/problems/forbidden",
                "priority 5: a priority above 0 needs the 'admin' scope",
            )
            assert r.json()["errors"] == [
                {"field": "priority", "message": "above 0 needs the 'admin' scope"}
            ]
            assert root.post("/jobs", json={**body, "priority": 5}).json()["priority"] == 5

            # queued + running jobs per key
            first = a.post("/jobs", json={**body, "priority": -1}).json()
            assert first["priority"] == -1
            queued = a.post("/jobs", json=body, headers={"Idempotency-Key": "q"})
            assert queued.status_code == 202
            r = a.post("/jobs", json=body)
            assert r.status_code == 429, r.text
            # A repeat of an earlier request is not a new job: it gets that job, limit or not.
            again = a.post("/jobs", json=body, headers={"Idempotency-Key": "q"})
            assert (again.status_code, again.json()["id"]) == (200, queued.json()["id"])
            assert r.headers["retry-after"] == "5"
            assert (r.json()["type"], r.json()["detail"]) == (
                "/problems/too-many-jobs",
                "the API key 'alice' has 2 jobs queued or running, the most it may have "
                "(VEGAFS_MAX_ACTIVE_JOBS_PER_KEY): submit again when some have finished",
            )
            bobs = b.post("/jobs", json=body)
            assert bobs.status_code == 202
            assert a.post(f"/jobs/{first['id']}/cancel").status_code == 202
            assert a.post("/jobs", json=body).status_code == 202

            # event streams (of a queued job: they stay open): 2 per key, 3 in the process
            events = f"/jobs/{queued.json()['id']}/events"
            with ExitStack() as streams:
                assert open_stream(a, events, streams).status_code == 200
                second = open_stream(a, events, streams)
                assert second.status_code == 200
                r = open_stream(a, events, streams)
                assert (r.status_code, r.json()["type"], r.headers["retry-after"]) == (
                    429,
                    "/problems/too-many-streams",
                    "5",
                )
                assert r.json()["detail"] == (
                    "the API key 'alice' has 2 event streams open, the most it may have "
                    "(VEGAFS_MAX_STREAMS_PER_KEY): close one first"
                )
                bob_events = f"/jobs/{bobs.json()['id']}/events"
                assert open_stream(b, bob_events, streams).status_code == 200
                r = open_stream(b, bob_events, streams)
                assert (r.status_code, r.json()["type"], r.json()["detail"]) == (
                    503,
                    "/problems/server-busy",
                    "this server has 3 event streams open, the most it serves "
                    "(VEGAFS_MAX_STREAMS): retry shortly",
                )
                # A closed stream gives its slot back.
                second.close()
                deadline = time.monotonic() + 10
                while open_stream(a, events, streams).status_code != 200:
                    assert time.monotonic() < deadline, s.log_text()
                    time.sleep(0.05)
    finally:
        s.stop()


def test_keys_have_a_64_bit_lookup_and_older_keys_keep_working(stack: Stack) -> None:
    from sqlalchemy import insert

    from vegafs.db import Database
    from vegafs.db.keys import KEY

    key = stack.create_key("new")
    prefix, lookup, _secret = key.split("_", 2)
    assert prefix == "vfs"
    assert len(lookup) == 16
    int(lookup, 16)  # hex digits
    # A key made when the lookup part was 8 hex digits.
    old = "vfs_0a1b2c3d_" + "s" * 43
    db = Database(stack.backend.database_url or f"sqlite:///{stack.data_dir / 'vegafs.db'}")
    try:
        with db.write() as conn:
            conn.execute(
                insert(KEY).values(
                    name="old",
                    lookup="0a1b2c3d",
                    key_hash=hashlib.sha256(old.encode()).hexdigest(),
                    scopes="read,submit",
                    root=None,
                    created_at=datetime.datetime(2024, 1, 1),
                )
            )
    finally:
        db.dispose()
    for k in (key, old):
        with stack.client(k) as http:
            assert http.get("/jobs").status_code == 200, k
    with stack.client(old[:-1] + "t") as http:
        assert http.get("/jobs").status_code == 401

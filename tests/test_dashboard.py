"""The web dashboard (python/vegafs/web) in a real browser: Debian's chromium driven by
playwright, against a real `vegafs serve` (on SQLite; the core flows on PostgreSQL + Redis too).
Plus the two API routes it added: the live job list (GET /job-events) and the path check
(POST /paths/check).

Screenshots go to test-artifacts/dashboard/ (docs/dashboard.md shows copies of them).
"""

import json
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from playwright.sync_api import Browser, Page, expect, sync_playwright

from conftest import pg_backend, write
from polling import wait_for
from stack import Backend, Stack, slow_tree, slowed, strace_missing

CHROMIUM = Path("/usr/bin/chromium")
ARTIFACTS = Path(__file__).resolve().parents[1] / "test-artifacts" / "dashboard"
XSS = "<img src=x onerror=alert(1)>"
XSS_DIR = "<svg onload=alert(2)>"
LISTED = 120  # files under many/: the list job's results take three pages of 50
WAIT_MS = 30_000


def dashboard_tree(root: Path) -> None:
    """Known kinds, sizes, owners and directories, and names that are markup."""
    write(root / "docs" / "report.pdf", 30_000)
    write(root / "docs" / "notes.txt", 1_000)
    write(root / "src" / "main.py", 5_000)
    write(root / "src" / "lib" / "util.py", 2_000)
    write(root / XSS, 50_000)
    write(root / XSS_DIR / "inner.txt", 40_000)
    for i in range(LISTED):
        write(root / "many" / f"f{i:03d}.dat", 10)


@pytest.fixture(scope="module")
def root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    base = Path(os.path.realpath(tmp_path_factory.mktemp("dashboard")))
    root = base / "root"
    dashboard_tree(root)
    return root


@pytest.fixture(scope="module")
def slow_root(root: Path) -> Path:
    return root.parent / "slow"


@pytest.fixture(scope="module")
def service(
    tmp_path_factory: pytest.TempPathFactory, root: Path, slow_root: Path
) -> Iterator[Stack]:
    """One open service (loopback, no key) over two roots: ``root``, and ``slow_root`` whose
    analyses take ~10 s."""
    why_not = strace_missing()
    if why_not:
        pytest.skip(why_not)
    dirs = slow_tree(slow_root, depth=25)
    s = Stack(Backend("sqlite", None, None), tmp_path_factory.mktemp("data"), [root, slow_root])
    try:
        yield s.start(prefix=slowed(dirs, delay_ms=200))
    finally:
        s.stop()


@pytest.fixture(params=["sqlite", "pg"])
def served(request: pytest.FixtureRequest, root: Path, tmp_path: Path) -> Iterator[Stack]:
    """The core flows on both backends: the module's SQLite service, or one of this test's own on
    PostgreSQL + Redis (a server and a worker process, so live events cross processes)."""
    if request.param == "sqlite":
        yield request.getfixturevalue("service")
        return
    s = Stack(pg_backend(request), tmp_path / "data", [root])
    s.data_dir.mkdir()
    try:
        yield s.start()
    finally:
        s.stop()


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    if not CHROMIUM.exists():
        pytest.skip(f"{CHROMIUM} is missing (apt-get install chromium)")
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    with sync_playwright() as pw:
        # Chromium's sandbox needs user namespaces that root in a container may not have.
        args = ["--no-sandbox"] if os.geteuid() == 0 else []
        b = pw.chromium.launch(executable_path=str(CHROMIUM), args=args)
        try:
            yield b
        finally:
            b.close()


class Watched:
    """A page, with every dialog (alert) it opened and every CSP violation it reported."""

    def __init__(self, page: Page) -> None:
        self.page = page
        self.dialogs: list[str] = []
        self.csp: list[str] = []
        self.errors: list[str] = []
        page.on("dialog", self._dialog)
        page.on("console", self._console)
        page.on("pageerror", lambda error: self.errors.append(str(error)))

    def _dialog(self, dialog: Any) -> None:
        self.dialogs.append(dialog.message)
        dialog.dismiss()

    def _console(self, message: Any) -> None:
        if "Content Security Policy" in message.text:
            self.csp.append(message.text)

    def clean(self) -> None:
        assert self.dialogs == []
        assert self.csp == []
        assert self.errors == []  # no uncaught exception in the page's scripts


@pytest.fixture
def page(browser: Browser) -> Iterator[Watched]:
    context = browser.new_context(viewport={"width": 1200, "height": 900})
    watched = Watched(context.new_page())
    watched.page.set_default_timeout(WAIT_MS)
    try:
        yield watched
    finally:
        context.close()
    watched.clean()


def shot(page: Page, name: str, *, full_page: bool = False) -> None:
    page.screenshot(path=str(ARTIFACTS / f"{name}.png"), full_page=full_page)


def submit_from_form(page: Page, service: Stack, operation: str, roots: str, **fields: str) -> int:
    """Fills the roots (and ``fields``: input id -> text) of an operation's form, submits it,
    and returns the id of the job whose page it then shows."""
    page.goto(f"{service.url}/#/submit/{operation}")
    for field, text in fields.items():
        page.fill(f"#{field}", text)
    page.fill("#f-selection-roots", roots)
    page.locator("#f-selection-roots").blur()
    expect(page.locator("#f-selection-roots-check")).to_have_text("✓ allowed")
    page.click(f"#form-{operation} button[type=submit]")
    page.wait_for_url("**/#/jobs/*")
    return int(page.url.rsplit("/", 1)[1])


# --- the pages and their headers ---------------------------------------------------------------


def test_every_dashboard_response_forbids_inline_scripts_and_styles(service: Stack) -> None:
    for path in ("/", "/ui/app.js", "/ui/style.css", "/ui/nothing.js"):
        r = httpx.get(service.url + path)
        assert r.status_code == (404 if "nothing" in path else 200), path
        csp = r.headers["content-security-policy"]
        assert "script-src 'self';" in csp
        assert "style-src 'self';" in csp
        assert "unsafe-inline" not in csp
        assert r.headers["x-content-type-options"] == "nosniff"
    html = httpx.get(service.url + "/").text
    assert "<script>" not in html and "style=" not in html  # (and the CSP would refuse them)


# --- submit, watch, charts, results --------------------------------------------------------------


def test_an_analysis_submitted_from_the_form_finishes_live_with_its_pictures(
    served: Stack, root: Path, page: Watched
) -> None:
    p = page.page
    job_id = submit_from_form(p, served, "analyze", str(root), **{"f-top": "5"})
    expect(p.locator("#job-status")).to_have_attribute("data-status", "succeeded")
    with served.client() as http:
        summary = http.get(f"/jobs/{job_id}").json()["summary"]
    assert p.locator("#chart-kinds rect.bar").count() == len(summary["by_kind"]) >= 2
    assert p.locator("#chart-extensions rect.bar").count() == min(15, len(summary["by_extension"]))
    assert p.locator("#chart-sizes rect.bar").count() == len(summary["size_histogram"])
    assert p.locator("#chart-ages rect.bar").count() == len(summary["age_histogram"])
    assert p.locator("#chart-owners rect.bar").count() == len(summary["by_owner"]) == 1
    tiles = p.locator("#chart-treemap rect.dir")
    assert tiles.count() == len(summary["largest_dirs"]) == 5
    expect(p.locator("#largest-files tr")).to_have_count(len(summary["largest_files"]))
    assert {tiles.nth(i).get_attribute("data-path") for i in range(tiles.count())} == {
        d["path"] for d in summary["largest_dirs"]
    }
    # The tiles of the treemap lie inside the picture and do not overlap their siblings'.
    boxes = [tiles.nth(i).bounding_box() for i in range(tiles.count())]
    assert all(b is not None and b["width"] >= 0 for b in boxes)
    shot(p, "analysis", full_page=True)


def test_the_form_sends_the_fields_it_has_and_the_schema_defaults_the_rest(
    service: Stack, root: Path, page: Watched
) -> None:
    p = page.page
    p.goto(f"{service.url}/#/submit/analyze")
    p.fill("#f-selection-roots", f"{root / 'docs'}\n{root / 'src'}")
    p.fill("#f-top", "3")
    p.fill("#f-selection-include", "*.py\n*.pdf")
    p.uncheck("#f-selection-types input[value=symlink]")
    p.evaluate("window.scrollTo(0, 0)")
    shot(p, "submit")
    p.click("#form-analyze button[type=submit]")
    p.wait_for_url("**/#/jobs/*")
    job_id = int(p.url.rsplit("/", 1)[1])
    with service.client() as http:
        params = http.get(f"/jobs/{job_id}").json()["params"]
    assert params["top"] == 3
    assert params["selection"]["roots"] == [str(root / "docs"), str(root / "src")]
    assert params["selection"]["include"] == ["*.py", "*.pdf"]
    assert sorted(params["selection"]["types"]) == ["dir", "file", "other"]
    assert params["selection"]["hidden"] is True  # the default: the form did not send it


def test_every_operation_has_its_form(service: Stack, root: Path, page: Watched) -> None:
    p = page.page
    with service.client() as http:
        operations = http.get("/operations").json()
    assert len(operations) >= 12
    for op in operations:
        p.goto(f"{service.url}/#/submit/{op['name']}")
        form = p.locator(f"#form-{op['name']}")
        expect(form).to_be_visible()
        fields = op["params_schema"]["properties"]
        expected = sum(
            len(sub["properties"]) if name == "selection" else 1 for name, sub in _defs(op, fields)
        )
        expect(form.locator(".field")).to_have_count(expected + 1)  # and the job's `fresh`
    # A destination may be a directory to be made; it is still checked against the roots.
    p.goto(f"{service.url}/#/submit/copy")
    p.fill("#f-dest", str(root / "new" / "dir"))
    p.locator("#f-dest").blur()
    expect(p.locator("#f-dest-check")).to_have_text("✓ allowed")
    p.fill("#f-dest", "/tmp/elsewhere")
    p.locator("#f-dest").blur()
    expect(p.locator("#f-dest-check")).to_have_text("/tmp/elsewhere: is outside the allowed roots")


def _defs(op: dict[str, Any], fields: dict[str, Any]) -> list[tuple[str, dict[str, Any]]]:
    """Each params field with its schema, a reference to $defs resolved."""
    defs = op["params_schema"].get("$defs", {})
    return [
        (name, defs[sub["$ref"].rsplit("/", 1)[1]] if "$ref" in sub else sub)
        for name, sub in fields.items()
    ]


def test_a_path_outside_the_roots_is_refused_before_submitting(
    service: Stack, root: Path, page: Watched, tmp_path: Path
) -> None:
    p = page.page
    with service.client() as http:
        before = len(http.get("/jobs", params={"limit": 1000}).json()["items"])
    p.goto(f"{service.url}/#/submit/analyze")
    for outside in ("/etc", str(tmp_path / "no-such-dir")):
        p.fill("#f-selection-roots", outside)
        p.click("#form-analyze button[type=submit]")
        expect(p.locator("#f-selection-roots-check")).to_have_text(
            f"{outside}: is outside the allowed roots"
        )
        expect(p.locator("#notice")).to_have_text(f"{outside}: is outside the allowed roots")
    p.fill("#f-selection-roots", str(root / "missing"))
    p.locator("#f-selection-roots").blur()
    expect(p.locator("#f-selection-roots-check")).to_have_text(f"{root}/missing: does not exist")
    with service.client() as http:
        assert len(http.get("/jobs", params={"limit": 1000}).json()["items"]) == before
    assert p.url.endswith("#/submit/analyze")


def test_results_are_paged_by_cursor_and_downloaded(
    served: Stack, root: Path, page: Watched
) -> None:
    p = page.page
    job_id = submit_from_form(p, served, "list", str(root / "many"))
    expect(p.locator("#job-status")).to_have_attribute("data-status", "succeeded")
    with served.client() as http:
        rows = http.get(f"/jobs/{job_id}").json()["result_rows"]
        ndjson = http.get(f"/jobs/{job_id}/results", params={"format": "ndjson"}).text
    expected = [json.loads(line)["path"] for line in ndjson.splitlines()]
    assert rows == len(expected) == LISTED + 1  # the files and many/ itself
    body = p.locator("#results-table tbody tr")
    column = p.locator("#results-table thead th").all_text_contents().index("path")
    seen: list[str] = []
    for number, size in ((1, 50), (2, 50), (3, 21)):
        expect(p.locator("#page-number")).to_have_text(f"page {number}")
        expect(body).to_have_count(size)
        seen += [body.nth(i).locator("td").nth(column).text_content() or "" for i in range(size)]
        if number == 2:
            p.locator("#results h2").evaluate("heading => heading.scrollIntoView()")
            shot(p, "results")
        if number < 3:
            p.click("#page-next")
    expect(p.locator("#page-next")).to_be_disabled()
    assert seen == expected
    p.click("#page-prev")
    expect(p.locator("#page-number")).to_have_text("page 2")
    with p.expect_download() as download:
        p.click("#download-csv")
    saved = Path(download.value.path()).read_text().splitlines()
    assert len(saved) == LISTED + 2  # a header and the rows
    assert saved[0].startswith("path,")


# --- the live list: filters, cancel, retry -------------------------------------------------------


def test_a_slow_job_is_watched_and_cancelled_from_the_live_list(
    service: Stack, slow_root: Path, page: Watched
) -> None:
    p = page.page
    p.goto(f"{service.url}/#/jobs")
    expect(p.locator("#jobs tr[data-job-id]").first).to_be_visible()
    with service.client() as http:
        job = http.post(
            "/jobs",
            json={"operation": "analyze", "params": {"selection": {"roots": [str(slow_root)]}}},
        ).json()
    row = p.locator(f'#jobs tr[data-job-id="{job["id"]}"]')
    expect(row).to_have_attribute("data-status", "running")  # it appeared, then started: live
    shot(p, "jobs")
    row.locator("button.cancel").click()
    expect(row).to_have_attribute("data-status", "cancelled")
    with service.client() as http:
        assert http.get(f"/jobs/{job['id']}").json()["status"] == "cancelled"
    # Filters: only cancelled jobs, then only analyses.
    p.select_option("#filter-status", "cancelled")
    expect(p.locator("#jobs tr[data-job-id]")).to_have_count(1)
    assert p.url.endswith("#/jobs?status=cancelled")
    p.select_option("#filter-status", "")
    p.select_option("#filter-operation", "list")
    expect(p.locator('#jobs tr[data-job-id] >> text="analyze"')).to_have_count(0)
    p.select_option("#filter-operation", "analyze")
    # Retry from the list: queued again, running again; its page follows it live, and Cancel
    # there stops it again.
    row.locator("button.retry").click()
    expect(row).to_have_attribute("data-status", "running")
    row.locator(f'a[href="#/jobs/{job["id"]}"]').click()
    expect(p.locator("#job-status")).to_have_attribute("data-status", "running")
    expect(p.locator(".figures")).to_contain_text("entries/s")
    no_total = "unknown (a walk has no total before its first run)"  # cancelled, never run
    expect(p.locator(".figures")).to_contain_text(no_total)
    assert p.locator("#progress").get_attribute("value") is None  # under way, no total known
    p.locator(".state button.cancel").click()
    expect(p.locator("#job-status")).to_have_attribute("data-status", "cancelled")
    expect(p.locator(".state button.retry")).to_be_visible()


# --- file names are text -------------------------------------------------------------------------


def test_file_names_that_are_markup_are_shown_as_text(
    service: Stack, root: Path, page: Watched
) -> None:
    p = page.page
    job_id = submit_from_form(p, service, "list", str(root))
    expect(p.locator("#job-status")).to_have_attribute("data-status", "succeeded")
    paths = p.locator("#results-table tbody td")
    wait_for("result rows in the table", lambda: paths.count() > 0, timeout=30)
    shown = p.locator(f'#results-table td:text-is("{root}/{XSS}")')
    expect(shown).to_have_count(1)
    shown.evaluate("cell => cell.scrollIntoView({block: 'center'})")
    shot(p, "names")
    assert p.locator("main img").count() == 0
    job_id = submit_from_form(p, service, "analyze", str(root))
    expect(p.locator("#job-status")).to_have_attribute("data-status", "succeeded")
    tile = p.locator(f'#chart-treemap rect.dir[data-path="{root}/{XSS_DIR}"]')
    expect(tile).to_have_count(1)
    assert p.locator("main svg svg").count() == 0  # the <svg ...> name made no element
    expect(p.locator(f'#largest-files td:text-is("{root}/{XSS}")')).to_have_count(1)
    assert f"{root}/{XSS_DIR}" in (tile.locator("title").text_content() or "")
    page.clean()  # no alert: neither name ran
    del job_id


# --- with an API key ----------------------------------------------------------------------------


def test_with_keys_the_dashboard_asks_for_one_and_keeps_it_for_the_tab(
    tmp_path: Path, root: Path, browser: Browser
) -> None:
    s = Stack(Backend("sqlite", None, None), tmp_path / "data", [root])
    s.data_dir.mkdir()
    try:
        s.start()
        alice = s.create_key("alice")
        bob = s.create_key("bob")
        with s.client(bob) as http:
            theirs = http.post(
                "/jobs",
                json={
                    "operation": "list",
                    "params": {"selection": {"roots": [str(root / "docs")]}},
                },
            ).json()
        context = browser.new_context()
        watched = Watched(context.new_page())
        p = watched.page
        p.set_default_timeout(WAIT_MS)
        p.goto(f"{s.url}/#/jobs")
        expect(p.locator("#notice")).to_contain_text(
            "an API key is required (Authorization: Bearer <key>): type an API key"
        )
        p.fill("#key-input", "vfs_not_a_key")
        p.click("#key-form button[type=submit]")
        expect(p.locator("#notice")).to_contain_text("not valid")
        p.fill("#key-input", alice)
        p.click("#key-form button[type=submit]")
        expect(p.locator("#jobs td.empty")).to_have_text("No jobs.")  # bob's job is not shown
        job_id = submit_from_form(p, s, "list", str(root / "docs"))
        expect(p.locator("#job-status")).to_have_attribute("data-status", "succeeded")
        assert p.evaluate("sessionStorage.getItem('vegafs.key')") == alice
        p.goto(f"{s.url}/#/jobs")
        expect(p.locator("#jobs tr[data-job-id]")).to_have_count(1)
        expect(p.locator(f'#jobs tr[data-job-id="{job_id}"]')).to_have_count(1)
        p.goto(f"{s.url}/#/jobs/{theirs['id']}")
        expect(p.locator("#notice")).to_contain_text("belongs to another API key")
        context.close()
        watched.clean()
    finally:
        s.stop()


# --- the API routes the dashboard added ----------------------------------------------------------


def first_events(response: httpx.Response, n: int) -> list[tuple[str, Any]]:
    events: list[tuple[str, Any]] = []
    kind = None
    for line in response.iter_lines():
        if line.startswith("event: "):
            kind = line.removeprefix("event: ")
        elif line.startswith("data: "):
            events.append((kind or "message", json.loads(line.removeprefix("data: "))))
            if len(events) == n:
                return events
    return events


def test_the_job_list_stream_sends_the_page_again_when_a_job_changes(
    service: Stack, root: Path
) -> None:
    query: dict[str, str | int] = {"operation": "list", "limit": 3}
    with service.client(timeout=30) as http, http.stream("GET", "/job-events", params=query) as r:
        assert r.status_code == 200
        assert r.headers["content-type"].startswith("text/event-stream")
        lines = r.iter_lines()
        first = next(_events(lines))
        assert first[0] == "jobs"
        listed = http.get("/jobs", params={"operation": "list", "limit": 3}).json()["items"]
        assert [j["id"] for j in first[1]["items"]] == [j["id"] for j in listed]
        assert all("summary" not in j and "progress" in j for j in first[1]["items"])
        job = http.post(
            "/jobs",
            json={"operation": "list", "params": {"selection": {"roots": [str(root / "src")]}}},
        ).json()
        statuses = []
        for kind, data in _events(lines):
            assert kind == "jobs"
            top = data["items"][0]
            assert top["id"] == job["id"] and len(data["items"]) <= 3
            statuses.append(top["status"])
            if top["status"] == "succeeded":
                break
        assert statuses[-1] == "succeeded"


def _events(lines: Iterator[str]) -> Iterator[tuple[str, Any]]:
    kind = "message"
    for line in lines:
        if line.startswith("event: "):
            kind = line.removeprefix("event: ")
        elif line.startswith("data: "):
            yield kind, json.loads(line.removeprefix("data: "))


def test_the_job_list_stream_shows_a_key_its_own_jobs_and_counts_against_its_streams(
    backend: Backend, tmp_path: Path, root: Path
) -> None:
    """On SQLite and on PostgreSQL + Redis (a worker process runs the jobs)."""
    s = Stack(
        backend,
        tmp_path / "data",
        [root],
        env_extra={"VEGAFS_MAX_STREAMS_PER_KEY": "1"},
    )
    s.data_dir.mkdir()
    try:
        s.start()
        admin = s.create_key("root", scopes="admin")
        alice, bob = s.create_key("alice"), s.create_key("bob")
        body = {"operation": "list", "params": {"selection": {"roots": [str(root / "docs")]}}}
        with s.client(alice) as a, s.client(bob) as b:
            mine = a.post("/jobs", json=body).json()
            theirs = b.post("/jobs", json=body).json()
        for key, ids in ((alice, [mine["id"]]), (admin, [theirs["id"], mine["id"]])):
            with s.client(key, timeout=30) as http, http.stream("GET", "/job-events") as r:
                kind, data = next(_events(r.iter_lines()))
                assert (kind, [j["id"] for j in data["items"]]) == ("jobs", ids)
        with s.client(alice, timeout=30) as http, http.stream("GET", "/job-events") as open_one:
            events = _events(open_one.iter_lines())  # (kept: dropping it would close the stream)
            assert next(events)[0] == "jobs"
            refused = http.get("/job-events")
            assert refused.status_code == 429
            assert refused.json()["type"] == "/problems/too-many-streams"
            other = http.get(f"/jobs/{mine['id']}/events")  # the same budget as a job's stream
            assert other.status_code == 429
        with s.client() as anonymous:
            assert anonymous.get("/job-events").status_code == 401
    finally:
        s.stop()


def test_a_path_check_answers_as_a_submission_does(
    tmp_path: Path, root: Path, service: Stack
) -> None:
    outside = tmp_path / "outside"
    outside.mkdir()
    (root / "link-out").symlink_to(outside)
    try:
        with service.client() as http:
            ok = http.post("/paths/check", json={"path": str(root / "docs")})
            assert ok.status_code == 200
            assert ok.json() == {"path": str(root / "docs"), "real_path": str(root / "docs")}
            new = http.post(
                "/paths/check", json={"path": str(root / "docs" / "x" / "y"), "new": True}
            )
            assert new.json()["real_path"] == str(root / "docs" / "x" / "y")
            for path in (
                "/etc",  # exists, outside
                str(tmp_path / "nothing"),  # does not exist, outside: the same answer
                str(root / "link-out"),  # a link out of the roots: the same answer
                f"{root}/../outside",
                "relative/path",
                str(root / "missing"),
            ):
                check = http.post("/paths/check", json={"path": path})
                job = http.post(
                    "/jobs",
                    json={"operation": "analyze", "params": {"selection": {"roots": [path]}}},
                )
                assert check.status_code == job.status_code == 422, path
                c, j = check.json(), job.json()
                assert (c["type"], c["detail"], c["path"]) == (j["type"], j["detail"], j["path"])
            # A destination that may be made: outside the roots it is refused as written, never
            # by its nearest existing parent (which would tell which parents exist there).
            for dest in ("/etc/made/here", str(tmp_path / "a" / "b"), str(outside / "new")):
                check = http.post("/paths/check", json={"path": dest, "new": True})
                copy = {"selection": {"roots": [str(root / "docs")]}, "dest": dest}
                job = http.post("/jobs", json={"operation": "copy", "params": copy})
                assert check.status_code == job.status_code == 422, dest
                assert (
                    check.json()["detail"]
                    == job.json()["detail"]
                    == (f"{dest}: is outside the allowed roots")
                )
            nothing = http.post("/paths/check", json={"path": str(tmp_path / "nothing")}).json()
            assert nothing["detail"] == f"{tmp_path / 'nothing'}: is outside the allowed roots"
            assert http.post("/paths/check", json={}).status_code == 422
    finally:
        (root / "link-out").unlink()


def test_a_sharded_jobs_page_shows_its_shards_and_eta(
    service: Stack, slow_root: Path, page: Watched
) -> None:
    for unit in ("a/b", "c/d"):  # two units besides the slow chain, which is excluded
        write(slow_root / unit / "f.txt", 10)
    params = {"selection": {"roots": [str(slow_root)], "exclude": ["d00"]}}
    with service.client() as http:
        job = http.post("/jobs", json={"operation": "hash", "params": params, "shards": 2}).json()
        parent = service.wait_job(http, job["id"], {"succeeded", "failed", "cancelled"}, 60)
    assert parent["status"] == "succeeded", parent
    assert len(parent["shard_jobs"]) == 3  # the top shard and one per unit
    p = page.page
    p.goto(f"{service.url}/#/jobs/{job['id']}")
    expect(p.locator("#job-status")).to_have_attribute("data-status", "succeeded")

    def figure(name: str) -> Any:
        return p.locator(".figures div", has=p.locator(f'dt:text-is("{name}")')).locator("dd")

    expect(figure("Shards")).to_have_text("3 of 3 done")
    expect(figure("ETA")).to_have_text("0.0 s")
    assert p.locator("#progress").evaluate("bar => [bar.value, bar.max]") == [3, 3]

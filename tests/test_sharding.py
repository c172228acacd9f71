"""One job split into shards that many workers run (docs/concepts.md, Sharding): the merged
result equals one walk's, a worker killed mid-shard costs nothing but time, cancel stops every
shard, a shard that fails fails its job, and a retry runs the failed shards again.

Real `vegafs serve` / `vegafs worker` processes on PostgreSQL (three workers) and on SQLite;
shards are kept running long enough to act on by strace's delay on chosen directories."""

import contextlib
import functools
import json
import os
import shutil
import signal
import subprocess
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from conftest import REDIS_URL, clean_pg, write
from polling import wait_for
from stack import Backend, Stack, slow_tree, slowed, slowed_reads, strace_missing
from vegafs import engine
from vegafs.ops import RowBuffer, RunContext, get, sharding
from vegafs.ops.analyze import AnalyzeSpec

FINISHED = {"succeeded", "failed", "cancelled"}
NOW = 1_767_225_600  # 2026-01-01: the age histogram of every run is taken against it
SHORT_LEASE = {"VEGAFS_LEASE_S": "2"}


def build_tree(root: Path, slow_depth: int = 0) -> list[Path]:
    """Three top directories of two units each (a/x, a/y, ...), files at every level, a
    symlink and an empty directory among the units, a hidden top directory, a unit whose name
    holds glob characters, an unreadable directory inside a unit and one above the units.
    With ``slow_depth``: a chain of that many nested directories in each unit; returns them
    (for ``slowed``)."""
    slow: list[Path] = []
    t = NOW - 86_400
    for i, top in enumerate(("a", "b", "c")):
        write(root / top / f"beside-{top}.txt", 10 + i, t - i * 3_000_000)
        for j, unit in enumerate(("x", "y")):
            base = root / top / unit
            for k in range(5 + 3 * i + j):
                ext = ("txt", "py", "jpg", "log", "")[k % 5]
                name = f"f{k}.{ext}" if ext else f"f{k}"
                write(base / name, 100 * (k + 1) * (i + 1) + j, t - k * 400_000)
                write(base / "deeper" / f"g{k}.csv", 7 * k + i, t - k * 40_000_000)
            if slow_depth:
                slow += slow_tree(base / "slow", depth=slow_depth)
    write(root / "top.md", 5, t)
    write(root / ".hidden" / "h1" / "secret.txt", 1234, t)
    write(root / "a" / "we[ir]d*{1,2}" / "odd.bin", 4321, t)
    (root / "b" / "empty").mkdir()
    (root / "c" / "link").symlink_to("../a/x")
    (root / "a" / "x" / "locked").mkdir()
    (root / "a" / "x" / "locked" / "away.txt").write_bytes(b"z" * 50)
    (root / "locked-top").mkdir()
    return slow


@contextlib.contextmanager
def locked(root: Path) -> Iterator[None]:
    """The tree's two unreadable directories, readable again afterwards."""
    dirs = [root / "a" / "x" / "locked", root / "locked-top"]
    for d in dirs:
        d.chmod(0)
    try:
        yield
    finally:
        for d in dirs:
            d.chmod(0o755)


def without_elapsed(summary: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in summary.items() if k != "elapsed_s"}


def analyze_body(root: Path, shards: int | None = None, **params: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "operation": "analyze",
        "params": {"selection": {"roots": [str(root)]}, "now": NOW, **params},
        "fresh": True,
    }
    if shards is not None:
        body["shards"] = shards
    return body


# --- the split and the merge, in process --------------------------------------------------------


def run_sharded(spec: AnalyzeSpec, n: int) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """What a sharded job computes, without the queue: the plan, each shard, the merge."""
    op = get("analyze")
    plan = sharding.plan(op, spec, n, RunContext())
    assert plan is not None
    shards = []
    for params in plan:
        rows = RowBuffer()
        top = sharding.is_top(params, spec.model_dump(mode="json"))
        summary = sharding.run_shard(
            op, AnalyzeSpec.model_validate(params), RunContext(rows=rows), top
        )
        shards.append(sharding.Shard(params, summary, functools.partial(list, rows.rows)))
    result = sharding.merge_analyze(spec.model_dump(mode="json"), shards, 0.0)
    return result.model_dump(mode="json", exclude={"errors"}), [
        e.model_dump(mode="json") for e in result.errors
    ]


@pytest.mark.parametrize("n", [2, 8])
@pytest.mark.parametrize(
    "selection",
    [
        {},
        {"hidden": False, "exclude": ["deeper"], "max_depth": 4},
        {"types": ["file"], "min_size": 100, "include": ["*.txt", "*.csv"]},
    ],
)
def test_a_sharded_analysis_equals_one_walk(
    tmp_path: Path, n: int, selection: dict[str, Any]
) -> None:
    root = tmp_path / "tree"
    build_tree(root)
    other = tmp_path / "other"
    write(other / "p" / "q" / "r.txt", 77, NOW - 5)
    write(other / "s" / "t" / "u.txt", 88, NOW - 5)
    spec = AnalyzeSpec.model_validate(
        {"selection": {"roots": [root, other], **selection}, "now": NOW, "top": 7}
    )
    whole = engine.analyze(spec.selection, top=7, now=spec.now)
    summary, errors = run_sharded(spec, n)
    assert without_elapsed(summary) == without_elapsed(
        whole.model_dump(mode="json", exclude={"errors"})
    )
    assert errors == [e.model_dump(mode="json") for e in whole.errors]


def add_links(root: Path) -> list[Path]:
    """Hard links over ``build_tree``'s units: across two units, three links in three units, two
    within one unit, and from the top shard's files into a unit; the directories holding them."""
    t = NOW - 86_400
    write(root / "a" / "y" / "big.bin", 60_000, t)
    write(root / "b" / "x" / "three.log", 777, t)
    pairs = [
        ("a/x/f0.txt", "c/y/f0-again.txt"),
        ("a/y/big.bin", "c/x/big-copy.bin"),
        ("b/x/three.log", "a/x/three.log"),
        ("b/x/three.log", "c/y/deeper/three.log"),
        ("b/y/f1.py", "b/y/deeper/f1-again.py"),
        ("top.md", "b/x/top-again.md"),
    ]
    for old, new in pairs:
        os.link(root / old, root / new)
    return sorted({(root / p).parent for pair in pairs for p in pair})


def comparable(summary: dict[str, Any], linked_dirs: list[Path]) -> dict[str, Any]:
    """A summary but its elapsed time and the totals of the directories that hold a hard link
    or lie above one (which of them holds a shared inode's bytes depends on the walk's order),
    so the directories in path order."""
    linked = {str(p) for d in linked_dirs for p in (d, *d.parents)}
    dirs = sorted(summary["largest_dirs"], key=lambda d: d["path"])
    return {
        **without_elapsed(summary),
        "largest_dirs": [d if d["path"] not in linked else {"path": d["path"]} for d in dirs],
    }


@pytest.mark.parametrize("n", [2, 8])
def test_a_sharded_analysis_counts_an_inode_linked_from_many_shards_once(
    tmp_path: Path, n: int
) -> None:
    root = tmp_path / "tree"
    build_tree(root)
    linked_dirs = add_links(root)
    spec = AnalyzeSpec.model_validate(
        {"selection": {"roots": [root]}, "now": NOW, "top": 50}  # every directory listed
    )
    whole = engine.analyze(spec.selection, top=50, now=spec.now)
    whole_summary = whole.model_dump(mode="json", exclude={"errors"})
    summary, _ = run_sharded(spec, n)
    assert comparable(summary, linked_dirs) == comparable(whole_summary, linked_dirs)
    assert summary["repeated_links"] == 6
    assert summary["largest_files"][0] == {"path": str(root / "a/y/big.bin"), "bytes": 60_000}
    assert {"path": str(root / "a/x/three.log"), "bytes": 777} in summary["largest_files"]
    assert summary["by_extension"][0] == {
        "extension": "bin",
        "kind": "binary",
        "files": 3,
        "bytes": 60_000 + 4321,
    }
    # Each shared inode's bytes are in one directory's total, that of the shard holding its
    # smallest path (top.md's in b, with b/x/top-again.md): the directories below the root and
    # the root's own entry add up to the summary.
    tops = [d for d in summary["largest_dirs"] if Path(d["path"]).parent == root]
    assert sum(d["bytes"] for d in tops) + root.stat().st_size == summary["apparent_bytes"]


@pytest.mark.parametrize(
    "operation, params",
    [
        ("hash", {}),
        ("search", {"patterns": ["x{3}"], "count": True}),
        ("validate", {}),
    ],
)
def test_a_sharded_operation_whose_rows_are_the_result_appends_them(
    tmp_path: Path, operation: str, params: dict[str, Any]
) -> None:
    root = tmp_path / "tree"
    build_tree(root)
    write(root / "a" / "x" / "bad.json", 0).write_text("{oops")
    write(root / "b" / "y" / "good.json", 0).write_text('{"ok": true}')
    op = get(operation)
    spec = op.params.model_validate({"selection": {"roots": [root]}, **params})
    whole_rows = RowBuffer()
    whole = op.run(spec, RunContext(rows=whole_rows)).model_dump(mode="json")
    plan = sharding.plan(op, spec, 3, RunContext())
    assert plan is not None and len(plan) == 4
    summaries, rows = [], []
    for shard in plan:
        buffer = RowBuffer()
        top = sharding.is_top(shard, spec.model_dump(mode="json"))
        shard_spec = op.params.model_validate(shard)
        summaries.append(sharding.run_shard(op, shard_spec, RunContext(rows=buffer), top))
        rows += buffer.rows
    merged = sharding.merge_counts(spec.model_dump(mode="json"), summaries, 0.0)
    assert without_elapsed(merged) == without_elapsed(whole)
    assert sorted(rows, key=str) == sorted(whole_rows.rows, key=str)
    assert rows


def add_dupes(root: Path) -> None:
    """Duplicates whose copies lie in different units (so different shards): small ones, large
    ones (hashed in full) and large ones equal at their edges alone; a hard link from one unit to
    a file of another (one inode, never waste), and a file above the units equal to one below."""
    big = bytes(range(256)) * 400  # 100 KiB: past the size hashed whole by the edges stage
    for unit in ("a/x", "b/y", "c/x"):
        (root / unit / "copy.dat").write_bytes(b"same bytes everywhere")
        (root / unit / "big.bin").write_bytes(big)
    middle = bytearray(big)
    middle[50_000] ^= 0xFF
    (root / "c" / "y" / "big-middle.bin").write_bytes(bytes(middle))
    (root / "b" / "x" / "lonely.dat").write_bytes(b"a size no other file has" * 3)
    os.link(root / "b" / "x" / "lonely.dat", root / "c" / "y" / "lonely-link.dat")
    os.link(root / "a" / "x" / "copy.dat", root / "b" / "x" / "copy-link.dat")
    (root / "top-copy.dat").write_bytes(b"same bytes everywhere")


def run_dupes_sharded(
    spec: Any, n: int, second_round: bool = False
) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """What a sharded dupes job computes, without the queue: the plan, each shard's walk, the
    merge (which hashes the candidates itself, or with ``second_round`` splits them by size
    into hashing shards, each run on its files as its input rows hold them, then merged)."""
    op = get("dupes")
    params = spec.model_dump(mode="json")
    plan = sharding.plan(op, spec, n, RunContext())
    assert plan is not None and len(plan) == n + 1
    shards = []
    for shard_params in plan:
        rows = RowBuffer()
        top = sharding.is_top(shard_params, params)
        summary = sharding.run_shard(
            op, op.params.model_validate(shard_params), RunContext(rows=rows), top
        )
        assert summary["duplicate_groups"] == 0  # a shard only walks
        shards.append(sharding.Shard(shard_params, summary, functools.partial(iter, rows.rows)))
    out = RowBuffer()
    if not second_round:
        merged = sharding.merge_dupes(params, shards, RunContext(rows=out), 0.0)
        return merged.model_dump(mode="json"), out.rows
    files = sharding.dupe_candidates(shards)
    assert sharding.plan_hashing(files, n, sharding.hash_weight(files) + 1) is None
    second = sharding.plan_hashing(files, n, 0)
    assert second is not None and len(second.parts) == n
    sizes = [{f[1] for f in part} for part in second.parts]
    assert sum(len(s) for s in sizes) == len(set().union(*sizes))  # a size in one part only
    assert sorted(f for part in second.parts for f in part) == sorted(files)
    hashed = []
    for part in second.parts:
        rows = RowBuffer()
        stored = sharding.files_of(sharding.input_rows(part))
        assert stored == part
        found = sharding.hash_files(params, stored, RunContext(rows=rows))
        hashed.append(
            sharding.Shard(
                params, found.model_dump(mode="json"), functools.partial(iter, rows.rows)
            )
        )
    walks = [s.summary for s in shards]
    merged = sharding.merge_hashed(params, walks, hashed, RunContext(rows=out), 0.0)
    return merged.model_dump(mode="json"), out.rows


@pytest.mark.parametrize("second_round", [False, True], ids=["hashed-at-merge", "second-round"])
@pytest.mark.parametrize("n", [2, 5])
@pytest.mark.parametrize("selection", [{}, {"min_size": 0, "exclude": ["deeper"]}])
def test_sharded_dupes_equal_one_run_across_shard_boundaries(
    tmp_path: Path, n: int, selection: dict[str, Any], second_round: bool
) -> None:
    root = tmp_path / "tree"
    build_tree(root)
    add_dupes(root)
    op = get("dupes")
    spec = op.params.model_validate({"selection": {"roots": [root], **selection}})
    whole_rows = RowBuffer()
    whole = op.run(spec, RunContext(rows=whole_rows)).model_dump(mode="json")
    merged, rows = run_dupes_sharded(spec, n, second_round)
    assert without_elapsed(merged) == without_elapsed(whole)
    assert rows == whole_rows.rows
    by_paths = {tuple(r["paths"]): r for r in rows}
    copies = tuple(str(root / p) for p in ["a/x/copy.dat", "b/x/copy-link.dat", "b/y/copy.dat"])
    copies += (str(root / "c/x/copy.dat"), str(root / "top-copy.dat"))
    assert by_paths[copies]["count"] == 4  # the hard link across shards is one inode
    bigs = tuple(str(root / u / "big.bin") for u in ("a/x", "b/y", "c/x"))
    assert by_paths[bigs]["count"] == 3  # big-middle.bin shares its edges, not its content
    assert whole["hard_links"] == 2 and whole["by_edges"]["files"] > whole["by_content"]["files"]


def test_the_plan_covers_each_unit_once_and_leaves_the_rest_to_the_top_shard(
    tmp_path: Path,
) -> None:
    root = tmp_path / "tree"
    build_tree(root)
    spec = AnalyzeSpec.model_validate({"selection": {"roots": [root]}, "now": NOW})
    plan = sharding.plan(get("analyze"), spec, 3, RunContext())
    assert plan is not None
    top, *units = plan
    assert top["selection"]["roots"] == [str(root)]
    unit_roots = sorted(r for p in units for r in p["selection"]["roots"])
    assert len(units) == 3
    assert unit_roots == sorted(
        str(root / p)
        for p in [
            "a/x",
            "a/y",
            "b/x",
            "b/y",
            "c/x",
            "c/y",
            "b/empty",
            "a/we[ir]d*{1,2}",
            ".hidden/h1",
        ]
    )
    assert r"a/we\[ir\]d\*\{1,2\}" in top["selection"]["exclude"]
    assert all(p["now"] == top["now"] for p in units)


@pytest.mark.parametrize(
    "selection",
    [{"include": ["a/*.txt"]}, {"ignore_files": True}, {"max_depth": 2}],
)
def test_a_selection_the_split_cannot_keep_exact_is_not_split(
    tmp_path: Path, selection: dict[str, Any]
) -> None:
    root = tmp_path / "tree"
    build_tree(root)
    spec = AnalyzeSpec.model_validate({"selection": {"roots": [root], **selection}})
    assert sharding.plan(get("analyze"), spec, 4, RunContext()) is None


# --- the service ----------------------------------------------------------------------------------


@pytest.fixture
def slowable() -> None:
    why_not = strace_missing()
    if why_not:
        pytest.skip(why_not)


@pytest.fixture
def pg(pg_schema: str) -> Backend:
    """PostgreSQL + Redis as the ``backend`` fixture gives them, emptied first."""
    import redis
    from sqlalchemy.engine import make_url

    clean_pg(pg_schema)
    assert REDIS_URL is not None
    redis_url = make_url(REDIS_URL).set(database=str(os.getpid() % 15 + 1))
    redis_text = redis_url.render_as_string(hide_password=False)
    redis.Redis.from_url(redis_text).flushdb()
    return Backend("pg", pg_schema, redis_text)


@contextlib.contextmanager
def running(stack: Stack) -> Iterator[Stack]:
    stack.data_dir.mkdir()
    try:
        yield stack
    finally:
        stack.stop()


def shard_jobs(http: httpx.Client, job_id: int) -> list[dict[str, Any]]:
    return http.get(f"/jobs/{job_id}").json().get("shard_jobs") or []


def all_rows(http: httpx.Client, job_id: int) -> list[dict[str, Any]]:
    return [r["data"] for r in http.get(f"/jobs/{job_id}/results?limit=1000").json()["items"]]


def slowed_workers(
    s: Stack, n: int, slow: list[Path], unprivileged: list[str]
) -> dict[str, subprocess.Popen[bytes]]:
    """``n`` workers (w1, w2, ...) of one job at a time, each slowed in the directories ``slow``."""
    return {
        f"w{i}": s.start_worker(
            "--id", f"w{i}", "-j", "1", prefix=[*slowed(slow, 150), *unprivileged]
        )
        for i in range(1, n + 1)
    }


def kill_a_unit_shards_worker(
    s: Stack,
    http: httpx.Client,
    job_id: int,
    root: Path,
    workers: dict[str, subprocess.Popen[bytes]],
    under_way: Callable[[dict[str, Any]], Any],
) -> dict[str, Any]:
    """Waits for a running shard of units (not the top shard, whose root is ``root``) that
    ``under_way`` says has started, SIGKILLs its worker and waits for it to die; the shard,
    as it was then."""

    def unit_shard_under_way() -> dict[str, Any] | None:
        for j in shard_jobs(http, job_id):
            shard: dict[str, Any] = http.get(f"/jobs/{j['id']}").json()
            running = shard["status"] == "running" and under_way(shard)
            if running and shard["params"]["selection"]["roots"] != [str(root)]:
                return shard
        return None

    doomed = wait_for("a unit shard under way", unit_shard_under_way, context=s.log_text)
    s.signal(workers[doomed["worker_id"]], signal.SIGKILL)
    workers[doomed["worker_id"]].wait()
    return doomed


def test_three_workers_one_killed_give_the_single_process_result(
    pg: Backend, tmp_path: Path, unprivileged: list[str], slowable: None
) -> None:
    root = Path(os.path.realpath(tmp_path / "root"))
    slow = build_tree(root, slow_depth=12)
    with locked(root), running(Stack(pg, tmp_path / "data", [root], SHORT_LEASE)) as s:
        workers = slowed_workers(s, 3, slow, unprivileged)
        s.start_server("--no-worker")
        with s.client() as http:
            job = http.post("/jobs", json=analyze_body(root, shards=3)).json()
            job_id = job["id"]
            assert job["shards"] == 3

            # Once split, every worker runs a shard: kill one that is walking its units (each
            # holds a chain of 12 slowed directories: seconds to go).
            doomed = kill_a_unit_shards_worker(
                s, http, job_id, root, workers, lambda shard: (shard["progress"] or {}).get("dirs")
            )
            victim = doomed["worker_id"]
            parent = s.wait_job(http, job_id, FINISHED, timeout=120)
            assert parent["status"] == "succeeded", parent
            shards = parent["shard_jobs"]
            assert len(shards) == 4  # the top shard and three of units
            assert all(j["status"] == "succeeded" for j in shards)
            rerun = next(j for j in shards if j["id"] == doomed["id"])
            assert rerun["attempts"] == 2  # the killed worker's shard, run again
            assert rerun["worker_id"] != victim
            progress = parent["progress"]
            assert (progress["shards"], progress["shards_done"]) == (4, 4)
            assert progress["entries"] >= parent["summary"]["files"]

            # The same analysis as one job of one worker.
            single = http.post("/jobs", json=analyze_body(root)).json()["id"]
            one = s.wait_job(http, single, FINISHED, timeout=120)
            assert one["status"] == "succeeded", one
            assert without_elapsed(parent["summary"]) == without_elapsed(one["summary"])
            assert all_rows(http, job_id) == all_rows(http, single)
            assert parent["summary"]["error_count"] == 2
            assert parent["result_rows"] == 2

            # Shards are not in the job list, but are under their job.
            listed = [j["id"] for j in http.get("/jobs").json()["items"]]
            assert listed == [single, job_id]
            under = http.get("/jobs", params={"parent_id": job_id}).json()["items"]
            assert sorted(j["id"] for j in under) == sorted(j["id"] for j in shards)
            assert {j["parent_id"] for j in under} == {job_id}


def test_a_sharded_job_on_sqlite(tmp_path: Path, unprivileged: list[str]) -> None:
    root = Path(os.path.realpath(tmp_path / "root"))
    build_tree(root)
    backend = Backend("sqlite", None, None)
    with locked(root), running(Stack(backend, tmp_path / "data", [root])) as s:
        s.start_server(prefix=unprivileged)
        with s.client() as http:
            job_id = http.post("/jobs", json=analyze_body(root, shards=4, top=5)).json()["id"]
            single = http.post("/jobs", json=analyze_body(root, top=5)).json()["id"]
            parent = s.wait_job(http, job_id, FINISHED, timeout=60)
            one = s.wait_job(http, single, FINISHED, timeout=60)
            assert (parent["status"], one["status"]) == ("succeeded", "succeeded")
            assert len(parent["shard_jobs"]) == 5
            assert without_elapsed(parent["summary"]) == without_elapsed(one["summary"])
            assert all_rows(http, job_id) == all_rows(http, single)
            assert len(parent["summary"]["largest_dirs"]) == 5
            assert parent["summary"]["largest_dirs"][0]["path"] == str(root / "c")


@pytest.mark.parametrize("where", ["sqlite", "pg"])
def test_a_sharded_job_over_hard_links_across_shards_gives_the_single_run(
    where: str, tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    root = Path(os.path.realpath(tmp_path / "root"))
    build_tree(root)
    linked_dirs = add_links(root)
    backend = request.getfixturevalue("pg") if where == "pg" else Backend("sqlite", None, None)
    with running(Stack(backend, tmp_path / "data", [root])) as s:
        s.start()  # on PostgreSQL a worker process of two jobs at once
        with s.client() as http:
            job_id = http.post("/jobs", json=analyze_body(root, shards=6, top=50)).json()["id"]
            single = http.post("/jobs", json=analyze_body(root, top=50)).json()["id"]
            parent = s.wait_job(http, job_id, FINISHED, timeout=60)
            one = s.wait_job(http, single, FINISHED, timeout=60)
            assert (parent["status"], one["status"]) == ("succeeded", "succeeded")
            assert len(parent["shard_jobs"]) == 7
            summary = parent["summary"]
            assert comparable(summary, linked_dirs) == comparable(one["summary"], linked_dirs)
            assert (summary["repeated_links"], summary["error_count"]) == (6, 0)
            assert "linked" not in summary and "unit_bytes" not in summary


def dupes_body(root: Path, shards: int | None = None) -> dict[str, Any]:
    body: dict[str, Any] = {
        "operation": "dupes",
        "params": {"selection": {"roots": [str(root)]}},
        "fresh": True,
    }
    return body if shards is None else {**body, "shards": shards}


@pytest.mark.parametrize("where", ["sqlite", "pg"])
def test_a_sharded_dupes_job_with_a_killed_worker_gives_the_single_run(
    where: str,
    tmp_path: Path,
    unprivileged: list[str],
    slowable: None,
    request: pytest.FixtureRequest,
) -> None:
    root = Path(os.path.realpath(tmp_path / "root"))
    slow = build_tree(root, slow_depth=12)
    add_dupes(root)
    backend = request.getfixturevalue("pg") if where == "pg" else Backend("sqlite", None, None)
    with locked(root), running(Stack(backend, tmp_path / "data", [root], SHORT_LEASE)) as s:
        workers = slowed_workers(s, 2, slow, unprivileged)
        s.start_server("--no-worker")
        with s.client() as http:
            job_id = http.post("/jobs", json=dupes_body(root, shards=3)).json()["id"]
            doomed = kill_a_unit_shards_worker(
                s, http, job_id, root, workers, lambda shard: shard["worker_id"] in workers
            )
            victim = doomed["worker_id"]
            parent = s.wait_job(http, job_id, FINISHED, timeout=120)
            assert parent["status"] == "succeeded", parent
            rerun = next(j for j in parent["shard_jobs"] if j["id"] == doomed["id"])
            assert (rerun["status"], rerun["attempts"]) == ("succeeded", 2)
            assert rerun["worker_id"] != victim

            single = http.post("/jobs", json=dupes_body(root)).json()["id"]
            one = s.wait_job(http, single, FINISHED, timeout=120)
            assert one["status"] == "succeeded", one
            assert without_elapsed(parent["summary"]) == without_elapsed(one["summary"])
            assert all_rows(http, job_id) == all_rows(http, single)
            assert parent["result_rows"] == one["result_rows"] == one["summary"]["duplicate_groups"]
            assert parent["summary"]["hard_links"] == 2
            assert parent["summary"]["error_count"] == 2  # the two unreadable directories


# A sharded dupes job that hashes in a second round of shards, however few its candidates.
HASH_ROUND = {**SHORT_LEASE, "VEGAFS_DUPES_SPLIT_HASH_BYTES": "0"}


def add_slow_hashing(root: Path) -> list[Path]:
    """Eight pairs of equal files of about 300 KB (each pair its own size), the two copies in
    two units: the files ``slowed_reads`` holds back, so that hashing them takes seconds."""
    units = ("a/x", "a/y", "b/x", "b/y", "c/x", "c/y")
    files = []
    for i in range(8):
        data = bytes([i + 1]) * (300_000 + i)
        for copy in (0, 1):
            path = root / units[(i + copy * 3) % len(units)] / f"slow-{i}-{copy}.bin"
            path.write_bytes(data)
            files.append(path)
    return files


def hashing_shard(http: httpx.Client, job_id: int, hashed: bool) -> dict[str, Any] | None:
    """A running shard of the job's second round (with ``hashed``: one that has read bytes)."""
    for j in shard_jobs(http, job_id):
        started = not hashed or (j["progress"] or {}).get("bytes")
        if j["round"] == 2 and j["status"] == "running" and j["worker_id"] and started:
            return j
    return None


@pytest.mark.parametrize("where", ["sqlite", "pg"])
def test_a_hashing_shard_killed_mid_hash_runs_again_and_the_job_equals_the_single_run(
    where: str,
    tmp_path: Path,
    unprivileged: list[str],
    slowable: None,
    request: pytest.FixtureRequest,
) -> None:
    root = Path(os.path.realpath(tmp_path / "root"))
    build_tree(root)
    add_dupes(root)
    slow = add_slow_hashing(root)
    backend = request.getfixturevalue("pg") if where == "pg" else Backend("sqlite", None, None)
    with locked(root), running(Stack(backend, tmp_path / "data", [root], HASH_ROUND)) as s:
        prefix = [*slowed_reads(slow, 200), *unprivileged]
        workers = {
            f"w{i}": s.start_worker("--id", f"w{i}", "-j", "1", prefix=prefix) for i in (1, 2)
        }
        s.start_server("--no-worker")
        with s.client() as http:
            job_id = http.post("/jobs", json=dupes_body(root, shards=2)).json()["id"]
            doomed = wait_for(
                "a hashing shard under way",
                lambda: hashing_shard(http, job_id, hashed=True),
                timeout=120,
                context=s.log_text,
            )
            victim = doomed["worker_id"]
            s.signal(workers[victim], signal.SIGKILL)
            workers[victim].wait()
            parent = s.wait_job(http, job_id, FINISHED, timeout=180)
            assert parent["status"] == "succeeded", parent
            shards = parent["shard_jobs"]
            assert [j["round"] for j in shards] == [1, 1, 1, 2, 2]  # top + 2 walks, 2 hashings
            assert all(j["status"] == "succeeded" for j in shards)
            rerun = next(j for j in shards if j["id"] == doomed["id"])
            assert rerun["attempts"] == 2
            assert rerun["worker_id"] != victim
            progress = parent["progress"]
            assert (progress["shards"], progress["shards_done"]) == (5, 5)

            single = http.post("/jobs", json=dupes_body(root)).json()["id"]
            one = s.wait_job(http, single, FINISHED, timeout=180)
            assert one["status"] == "succeeded", one
            assert without_elapsed(parent["summary"]) == without_elapsed(one["summary"])
            assert all_rows(http, job_id) == all_rows(http, single)
            assert parent["result_rows"] == one["result_rows"] == one["summary"]["duplicate_groups"]
            assert one["summary"]["duplicate_groups"] >= 8 + 2  # the slow pairs, copies, bigs
            assert parent["summary"]["hard_links"] == 2
            assert parent["summary"]["error_count"] == 2  # the two unreadable directories


def start_slowed(s: Stack, backend: Backend, prefix: list[str], workers: int) -> None:
    """The service with its jobs run under ``prefix``: embedded, its own worker; otherwise a
    server with none and ``workers`` workers (w1, w2, ...) of one job at a time."""
    if backend.embedded:
        s.start_server(prefix=prefix)
        return
    s.start_server("--no-worker")
    for i in range(1, workers + 1):
        s.start_worker("--id", f"w{i}", "-j", "1", prefix=prefix)


def test_cancelling_a_dupes_job_in_its_hashing_round_stops_it(
    backend: Backend, tmp_path: Path, slowable: None
) -> None:
    root = Path(os.path.realpath(tmp_path / "root"))
    build_tree(root)
    slow = add_slow_hashing(root)
    with running(Stack(backend, tmp_path / "data", [root], HASH_ROUND)) as s:
        start_slowed(s, backend, slowed_reads(slow, 300), workers=2)
        with s.client() as http:
            job_id = http.post("/jobs", json=dupes_body(root, shards=2)).json()["id"]
            wait_for(
                "a hashing shard running",
                lambda: hashing_shard(http, job_id, hashed=False),
                timeout=120,
                context=s.log_text,
            )
            assert http.post(f"/jobs/{job_id}/cancel").status_code == 202
            parent = s.wait_job(http, job_id, FINISHED, timeout=60)
            assert parent["status"] == "cancelled", parent
            hashing = [j for j in parent["shard_jobs"] if j["round"] == 2]
            assert len(hashing) == 2
            assert {j["status"] for j in hashing} <= {"cancelled", "succeeded"}
            assert any(j["status"] == "cancelled" for j in hashing)
            walks = [j for j in parent["shard_jobs"] if j["round"] == 1]
            assert {j["status"] for j in walks} == {"succeeded"}
            assert (parent["summary"], parent["result_rows"]) == (None, 0)


def test_a_sharded_job_of_an_operation_that_cannot_split_is_refused(
    stack: Stack, service_root: Path
) -> None:
    with stack.client() as http:
        body = {
            "operation": "list",
            "params": {"selection": {"roots": [str(service_root)]}},
            "shards": 2,
        }
        r = http.post("/jobs", json=body)
        assert r.status_code == 422
        assert r.json()["errors"] == [
            {"field": "shards", "message": "operation 'list' cannot be split into shards"}
        ]


def test_cancelling_a_sharded_job_stops_every_shard(
    backend: Backend, tmp_path: Path, slowable: None
) -> None:
    root = Path(os.path.realpath(tmp_path / "root"))
    slow = build_tree(root, slow_depth=20)
    with running(Stack(backend, tmp_path / "data", [root])) as s:
        start_slowed(s, backend, slowed(slow, 200), workers=2)
        with s.client() as http:
            job_id = http.post("/jobs", json=analyze_body(root, shards=3)).json()["id"]
            wait_for(
                "a shard running",
                lambda: any(j["status"] == "running" for j in shard_jobs(http, job_id)),
                context=s.log_text,
            )
            assert http.post(f"/jobs/{job_id}/cancel").status_code == 202
            parent = s.wait_job(http, job_id, FINISHED, timeout=30)
            assert parent["status"] == "cancelled", parent
            assert {j["status"] for j in parent["shard_jobs"]} == {"cancelled"} | (
                {"succeeded"} & {j["status"] for j in parent["shard_jobs"]}
            )
            assert any(j["status"] == "cancelled" for j in parent["shard_jobs"])
            assert parent["summary"] is None


def test_a_failed_shard_fails_its_job_and_a_retry_runs_it_again(
    backend: Backend, tmp_path: Path, slowable: None
) -> None:
    root = Path(os.path.realpath(tmp_path / "root"))
    slow = build_tree(root, slow_depth=4)
    with running(Stack(backend, tmp_path / "data", [root])) as s:
        start_slowed(s, backend, slowed(slow, 200), workers=1)
        with s.client() as http:
            job_id = http.post("/jobs", json=analyze_body(root, shards=3)).json()["id"]
            shards = wait_for("the split", lambda: shard_jobs(http, job_id), context=s.log_text)
            # The last shard's first unit goes before a worker gets to it: that shard fails.
            last = http.get(f"/jobs/{shards[-1]['id']}").json()
            gone = Path(last["params"]["selection"]["roots"][0])
            assert last["status"] == "queued"
            moved = tmp_path / "moved"
            shutil.move(gone, moved)
            parent = s.wait_job(http, job_id, FINISHED, timeout=60)
            assert parent["status"] == "failed", parent
            error = parent["error"]
            assert error["type"] == "shard-failed"
            assert error["shard"] == last["id"]
            # The worker checks a shard's roots as a job's: one that is gone is refused.
            assert error["shard_error"]["type"] == "path-not-allowed"
            assert error["shard_error"]["path"] == str(gone)
            assert error["message"].startswith(f"shard 4 of 4 (job {last['id']}) failed: ")
            statuses = {j["id"]: j["status"] for j in parent["shard_jobs"]}
            assert statuses[last["id"]] == "failed"

            shutil.move(moved, gone)
            assert http.post(f"/jobs/{job_id}/retry").status_code == 202
            parent = s.wait_job(http, job_id, FINISHED, timeout=60)
            assert parent["status"] == "succeeded", parent
            single = http.post("/jobs", json=analyze_body(root)).json()["id"]
            one = s.wait_job(http, single, FINISHED, timeout=60)
            assert without_elapsed(parent["summary"]) == without_elapsed(one["summary"])


def test_a_sharded_hash_job_has_every_row_of_the_single_job(tmp_path: Path) -> None:
    root = Path(os.path.realpath(tmp_path / "root"))
    build_tree(root)
    backend = Backend("sqlite", None, None)
    with running(Stack(backend, tmp_path / "data", [root])) as s:
        s.start_server()
        with s.client() as http:
            body = {"operation": "hash", "params": {"selection": {"roots": [str(root)]}}}
            job_id = http.post("/jobs", json={**body, "shards": 3}).json()["id"]
            single = http.post("/jobs", json=body).json()["id"]
            parent = s.wait_job(http, job_id, FINISHED, timeout=60)
            one = s.wait_job(http, single, FINISHED, timeout=60)
            assert (parent["status"], one["status"]) == ("succeeded", "succeeded")
            assert len(parent["shard_jobs"]) == 4
            assert without_elapsed(parent["summary"]) == without_elapsed(one["summary"])
            rows = http.get(f"/jobs/{job_id}/results?limit=1000").json()["items"]
            assert [r["seq"] for r in rows] == list(range(len(rows)))
            assert parent["result_rows"] == len(rows) == one["result_rows"]
            key = str
            assert sorted((r["data"] for r in rows), key=key) == sorted(
                all_rows(http, single), key=key
            )


def test_the_command_line_submits_a_sharded_job_with_shards(tmp_path: Path) -> None:
    root = Path(os.path.realpath(tmp_path / "root"))
    build_tree(root)
    backend = Backend("sqlite", None, None)
    with running(Stack(backend, tmp_path / "data", [root])) as s:
        s.start_server()
        args = [str(root), "--now", f"@{NOW}", "--json", "--server", s.url]
        local = s.cli("analyze", *args)
        sharded = s.cli("analyze", *args, "--submit", "--wait", "--shards", "3")
        assert (local.returncode, sharded.returncode) == (0, 0), sharded.stderr
        assert without_elapsed(json.loads(sharded.stdout)) == without_elapsed(
            json.loads(local.stdout)
        )
        queued = s.cli(
            "jobs", "submit", "hash", str(root), "--shards", "2", "--json", "--wait",
            "--server", s.url,
        )  # fmt: skip
        assert queued.returncode == 0, queued.stderr
        job = json.loads(queued.stdout)
        assert (job["status"], job["shards"]) == ("succeeded", 2)
        with s.client() as http:
            assert len(shard_jobs(http, job["id"])) == 3

        alone = s.cli("analyze", str(root), "--shards", "2")
        assert alone.returncode == 2
        assert "--shards needs --submit" in alone.stderr
        unsplittable = s.cli("list", str(root), "--submit", "--shards", "2")
        assert unsplittable.returncode == 2
        assert "No such option: --shards" in unsplittable.stderr


@pytest.mark.parametrize("where", ["sqlite", "pg"])
def test_cancelling_a_job_whose_shards_are_all_queued_ends_it_at_once(
    tmp_path: Path, where: str, request: pytest.FixtureRequest
) -> None:
    from vegafs.db import Database, migrate
    from vegafs.db import jobs as queue
    from vegafs.db import shards as shard_repo

    if where == "pg":
        url = request.getfixturevalue("pg_schema")
        clean_pg(url)
    else:
        url = f"sqlite:///{tmp_path / 'jobs.db'}"
    db = Database(url)
    try:
        migrate.upgrade(db)
        spec = {"selection": {"roots": [str(tmp_path)]}}
        row, _ = queue.submit(db, operation="analyze", spec=spec, owner="me", shards=2)
        job = queue.claim(db, "w", 30)
        assert job is not None and job.id == row.id and job.shards == 2
        ids = shard_repo.add_shards(db, job, [spec, spec])
        assert ids is not None
        assert queue.active_count_of(db, "me") == 1  # the shards are not counted
        ended = queue.request_cancel(db, job.id)
        assert ended is not None and ended.status == "cancelled"
        assert {s.status for s in shard_repo.shards_of(db, job.id)} == {"cancelled"}
        assert [j.id for j in queue.list_jobs(db, owner=None)] == [job.id]
        assert queue.delete_finished(db, job.id)
        assert [queue.get(db, i) for i in [job.id, *ids]] == [None, None, None]
    finally:
        db.dispose()


def test_a_shard_is_not_cancelled_retried_or_deleted_on_its_own(tmp_path: Path) -> None:
    root = Path(os.path.realpath(tmp_path / "root"))
    build_tree(root)
    backend = Backend("sqlite", None, None)
    with running(Stack(backend, tmp_path / "data", [root])) as s:
        s.start_server()
        with s.client() as http:
            body = {"operation": "hash", "params": {"selection": {"roots": [str(root)]}}}
            job_id = http.post("/jobs", json={**body, "shards": 2}).json()["id"]
            parent = s.wait_job(http, job_id, FINISHED, timeout=60)
            assert parent["status"] == "succeeded", parent
            # Once ended, a sharded job's progress says all its shards are done: ETA 0.
            progress = parent["progress"]
            assert (progress["shards"], progress["shards_done"], progress["eta_s"]) == (3, 3, 0.0)
            shard = parent["shard_jobs"][1]["id"]
            for method, path, action in [
                ("DELETE", f"/jobs/{shard}", "delete"),
                ("POST", f"/jobs/{shard}/retry", "retry"),
                ("POST", f"/jobs/{shard}/cancel", "cancel"),
            ]:
                r = http.request(method, path)
                assert r.status_code == 409, r.text
                problem = r.json()
                assert problem["type"] == "/problems/shard-of-job"
                assert problem["parent_id"] == job_id
                assert problem["detail"] == (
                    f"job {shard} is a shard of job {job_id}: {action} job {job_id}"
                )
            assert http.get(f"/jobs/{shard}").json()["status"] == "succeeded"
            assert http.delete(f"/jobs/{job_id}").status_code == 204
            assert http.get(f"/jobs/{shard}").status_code == 404


@pytest.fixture(params=["sqlite", "pg"])
def queue_db(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Any]:
    from vegafs.db import Database, migrate

    if request.param == "pg":
        url = request.getfixturevalue("pg_schema")
        clean_pg(url)
    else:
        url = f"sqlite:///{tmp_path / 'jobs.db'}"
    db = Database(url)
    try:
        migrate.upgrade(db)
        yield db
    finally:
        db.dispose()


def test_a_cancel_while_splitting_adds_no_shard_and_ends_the_job(
    queue_db: Any, tmp_path: Path
) -> None:
    from vegafs.db import jobs as queue
    from vegafs.db import shards as shard_repo

    spec = {"selection": {"roots": [str(tmp_path)]}}
    row, _ = queue.submit(queue_db, operation="analyze", spec=spec, owner="me", shards=2)
    job = queue.claim(queue_db, "w", 30)
    assert job is not None and job.id == row.id
    # The cancel comes after the scan and before the shards are added: none is queued.
    asked = queue.request_cancel(queue_db, job.id)
    assert asked is not None and (asked.status, asked.cancel_requested) == ("running", True)
    assert shard_repo.add_shards(queue_db, job, [spec, spec]) == []
    ended = queue.get(queue_db, job.id)
    assert ended is not None
    assert (ended.status, ended.lease_token) == ("cancelled", None)
    assert ended.error == {"type": "cancelled", "message": "cancelled while it was splitting"}
    assert shard_repo.shards_of(queue_db, job.id) == []


def test_a_waiting_jobs_eta_follows_its_shards_done(queue_db: Any, tmp_path: Path) -> None:
    from sqlalchemy import update

    from vegafs.db import jobs as queue
    from vegafs.db import shards as shard_repo
    from vegafs.db.jobs import JOB
    from vegafs.eta import eta_s

    spec = {"selection": {"roots": [str(tmp_path)]}}
    queue.submit(queue_db, operation="analyze", spec=spec, owner="me", shards=4)
    job = queue.claim(queue_db, "w", 30)
    assert job is not None
    ids = shard_repo.add_shards(queue_db, job, [spec] * 4)
    assert ids is not None and len(ids) == 4

    def progress() -> dict[str, Any]:
        shard_repo.refresh_progress(queue_db, job.id)
        row = queue.get(queue_db, job.id)
        assert row is not None
        return dict(row.progress)

    none_done = progress()
    assert (none_done["shards"], none_done["shards_done"], none_done["eta_s"]) == (4, 0, None)
    with queue_db.write() as conn:
        conn.execute(update(JOB).where(JOB.c.id == ids[0]).values(status="succeeded"))
    one_done = progress()
    assert (one_done["shards"], one_done["shards_done"]) == (4, 1)
    assert one_done["elapsed_s"] >= 0
    # Three shards left at the rate of the first: 3 x the time since the job started.
    assert one_done["eta_s"] == eta_s(one_done["elapsed_s"], 1, 4)
    assert one_done["eta_s"] == round(one_done["elapsed_s"] * 3, 1)


def split_dupes_job(queue_db: Any, tmp_path: Path) -> tuple[dict[str, Any], Any, list[int]]:
    """A dupes job on ``tmp_path``, claimed and split into two walk shards: (spec, job, walks)."""
    from vegafs.db import jobs as queue
    from vegafs.db import shards as shard_repo

    spec = {"selection": {"roots": [str(tmp_path)]}}
    queue.submit(queue_db, operation="dupes", spec=spec, owner="me", shards=2)
    job = queue.claim(queue_db, "w", 30)
    assert job is not None
    walks = shard_repo.add_shards(queue_db, job, [spec] * 2)
    assert walks is not None
    return spec, job, walks


def test_a_second_round_keeps_its_inputs_and_the_progress_counts_both_rounds(
    queue_db: Any, tmp_path: Path
) -> None:
    from sqlalchemy import update

    from vegafs.db import jobs as queue
    from vegafs.db import shards as shard_repo
    from vegafs.db.jobs import JOB

    spec, job, walks = split_dupes_job(queue_db, tmp_path)
    with queue_db.write() as conn:
        conn.execute(update(JOB).where(JOB.c.id.in_(walks)).values(status="succeeded"))
    merge = shard_repo.settle(queue_db, job.id, "w", 30).merge
    assert merge is not None
    inputs = [
        [{"files": [[str(tmp_path / "a"), 5, 1, 2]]}],
        [{"files": [[str(tmp_path / "b"), 7, 1, 3]]}, {"files": [[str(tmp_path / "c"), 7, 1, 4]]}],
    ]
    hashing = shard_repo.add_shards(queue_db, merge, [spec] * 2, shard_round=2, inputs=inputs)
    assert hashing is not None and len(hashing) == 2
    assert [shard_repo.inputs_of(queue_db, i) for i in hashing] == inputs
    shards = shard_repo.shards_of(queue_db, job.id)
    assert [s.shard_round for s in shards] == [None, None, 2, 2]
    waiting = queue.get(queue_db, job.id)
    assert waiting is not None and (waiting.status, waiting.lease_token) == ("running", None)
    assert (waiting.progress["shards"], waiting.progress["shards_done"]) == (4, 2)

    # A worker claims a hashing shard (its round with it); a claim again after its lease is
    # lost still finds its inputs (a claim deletes the attempt's rows, never its inputs).
    first = queue.claim(queue_db, "w1", 30)
    assert first is not None and (first.id, first.shard_round) == (hashing[0], 2)
    assert queue.add_rows(queue_db, first.id, first.lease_token, 0, [{"half": "done"}])
    with queue_db.write() as conn:
        conn.execute(
            update(JOB).where(JOB.c.id == first.id).values(status="queued", lease_token=None)
        )
    again = queue.claim(queue_db, "w2", 30)
    assert again is not None and again.id == first.id
    assert queue.results(queue_db, again.id) == []
    assert shard_repo.inputs_of(queue_db, again.id) == inputs[0]


def test_the_sizes_seen_twice_across_walks_are_counted_in_the_database(
    queue_db: Any, tmp_path: Path
) -> None:
    from vegafs.db import jobs as queue
    from vegafs.db import shards as shard_repo

    _, _, walks = split_dupes_job(queue_db, tmp_path)
    big = 5 * 2**32 + 1  # past 32 bits: the count must not cut it
    sizes = {walks[0]: [7, 9, big, 11, 11], walks[1]: [9, big, 3, 12]}
    for _ in walks:
        walk = queue.claim(queue_db, "w", 30)
        assert walk is not None
        rows = [
            {"path": f"/r/{walk.id}-{i}", "size": size, "dev": 1, "ino": i}
            for i, size in enumerate(sizes[walk.id])
        ]
        assert queue.add_rows(queue_db, walk.id, walk.lease_token, 0, rows)
    assert shard_repo.sizes_seen_twice(queue_db, walks) == {9, big, 11}
    assert shard_repo.sizes_seen_twice(queue_db, walks[1:]) == set()

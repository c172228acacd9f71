"""Python plugins: functions run on batches of files in worker processes (vegafs.plugins), from
the Python API and from `vegafs run --plugin MODULE:FUNCTION`."""

import json
import os
import signal
import subprocess
import sys
import textwrap
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from conftest import SUBPROCESS_TIMEOUT, Vegafs, cli_env, write
from polling import wait_for
from stack import Backend, Stack
from vegafs import Cancelled, ops
from vegafs.ops.plugins import PluginOperation, PluginSummary, plugin_operation
from vegafs.plugins._child import load

PLUGINS = '''
"""Test plugins."""
import os
import time
from pathlib import Path

from pydantic import BaseModel

from vegafs.plugins import File, FileError, plugin


def per_file(files):
    """One row per file."""
    return [{"path": f.path, "type": f.type, "size": f.size, "mtime": f.mtime} for f in files]


def per_batch(files):
    return {"n": len(files)}


def generator(files):
    for f in files:
        if f.path.endswith(".bad"):
            yield FileError(f.path, "refused by the plugin")
        else:
            yield {"path": f.path}


def fails(files):
    if any(f.path.endswith("boom.txt") for f in files):
        raise ValueError(f"boom in a batch of {len(files)}")
    return [{"path": f.path} for f in files]


def sleeps(files):
    if any(f.path.endswith("sleep.txt") for f in files):
        time.sleep(300)
    return [{"path": f.path} for f in files]


def dies(files):
    if any(f.path.endswith("die.txt") for f in files):
        os._exit(3)
    return [{"path": f.path} for f in files]


def not_rows(files):
    return [len(files)]


def waits(files):
    """Writes its pid to $PIDS/, then sleeps (until killed)."""
    Path(os.environ["PIDS"], str(os.getpid())).write_text("")
    time.sleep(300)


def gated(files):
    """A batch holding gate.txt writes its size to `waiting` beside its directory (outside the
    walk), then waits until the file `open` exists beside it."""
    waited = False
    for f in files:
        if f.path.endswith("gate.txt"):
            Path(f.path).parent.with_name("waiting").write_text(str(len(files)))
            while not Path(f.path).with_name("open").exists():
                time.sleep(0.02)
            waited = True
    return {"n": len(files), "bytes": sum(f.size for f in files), "waited": waited}


def raw_names(files):
    rows = []
    for f in files:
        with open(f.path, "rb") as h:
            data = h.read().decode()
            rows.append({"path": f.path, "hex": os.fsencode(f.path).hex(), "data": data})
    return rows


class Scale(BaseModel):
    factor: int = 2
    unit: str = "B"


@plugin(summary="Sizes, scaled.", params=Scale, text="{size} {unit} {path}")
def scaled(files, params):
    return [{"path": f.path, "size": f.size * params.factor, "unit": params.unit} for f in files]


NOT_A_FUNCTION = 42
'''


@pytest.fixture(scope="module")
def plugin_dir(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """A directory holding the module `tplugins`, on sys.path (its worker processes get it)."""
    where = tmp_path_factory.mktemp("plugins")
    (where / "tplugins.py").write_text(PLUGINS)
    sys.path.insert(0, str(where))
    try:
        yield where
    finally:
        sys.path.remove(str(where))
        sys.modules.pop("tplugins", None)


def operation(name: str) -> PluginOperation:
    return plugin_operation(name, f"tplugins:{name}", load(f"tplugins:{name}"))


def run(
    name: str, root: Path, ctx: ops.RunContext | None = None, **params: Any
) -> tuple[PluginSummary, list[dict[str, Any]]]:
    op = operation(name)
    ctx = ctx or ops.RunContext()
    spec = op.params.model_validate({"selection": {"roots": [str(root)]}, **params})
    summary = op.run(spec, ctx)
    assert isinstance(summary, PluginSummary)
    assert isinstance(ctx.rows, ops.RowBuffer)
    return summary, ctx.rows.rows


def tree(root: Path, names: list[str]) -> list[str]:
    """Files named ``names`` (each holding its name) under ``root``; their paths, sorted."""
    for name in names:
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(name)
    return sorted(str(root / n) for n in names)


def alive(pid: int) -> bool:
    """Whether ``pid`` is a process (a zombie counts: it was not reaped)."""
    return Path(f"/proc/{pid}").exists()


def children() -> set[int]:
    """This process's children, from /proc."""
    out: set[int] = set()
    for task in Path("/proc/self/task").iterdir():
        out |= {int(p) for p in (task / "children").read_text().split()}
    return out


def test_rows_of_a_plugin_are_its_rows_and_the_summary_counts_them(
    plugin_dir: Path, tmp_path: Path
) -> None:
    names = [f"d{i % 3}/f{i}.txt" for i in range(40)]
    paths = tree(tmp_path / "t", names)
    (tmp_path / "t" / "link").symlink_to("d0/f0.txt")
    summary, rows = run("per_file", tmp_path / "t", batch_size=7, processes=2)
    assert sorted(r["path"] for r in rows) == paths  # files only: no dir, no symlink
    by_path = {r["path"]: r for r in rows}
    for path in paths:
        st = os.lstat(path)
        assert by_path[path] == {
            "path": path, "type": "file", "size": st.st_size, "mtime": int(st.st_mtime)
        }  # fmt: skip
    total = sum(Path(p).stat().st_size for p in paths)
    assert (summary.files, summary.bytes, summary.rows) == (40, total, 40)
    assert (summary.failed_batches, summary.failed_files, summary.error_count) == (0, 0, 0)
    assert summary.errors == []
    assert summary.batches >= 6  # 40 files, at most 7 a batch
    assert summary.processes == 2
    assert summary.plugin == "tplugins:per_file"
    assert summary.roots == [str(tmp_path / "t")]


def test_batches_hold_at_most_batch_size_files_and_progress_counts_finished_batches(
    plugin_dir: Path, tmp_path: Path
) -> None:
    paths = tree(tmp_path / "t", [f"f{i:02d}.txt" for i in range(29)] + ["gate.txt"])
    ctx = ops.RunContext()
    done: list[Any] = []
    worker = threading.Thread(
        target=lambda: done.append(run("gated", tmp_path / "t", ctx, batch_size=4, processes=2))
    )
    worker.start()
    # Every batch but gate.txt's finishes (in the other process); the counters say so.
    waiting = tmp_path / "waiting"
    held = int(
        wait_for("the gated batch", lambda: waiting.read_text() if waiting.exists() else None)
    )
    wait_for("the other batches", lambda: ctx.progress.snapshot()[0] >= 30 - held)
    entries, dirs, size, errors = ctx.progress.snapshot()
    (tmp_path / "t" / "open").write_text("")
    worker.join(30)
    summary, rows = done[0]
    [gate] = [r for r in rows if r["waited"]]
    total = sum(Path(p).stat().st_size for p in paths)
    assert (entries, dirs, size, errors) == (30 - gate["n"], 0, total - gate["bytes"], 0)
    assert max(r["n"] for r in rows) <= 4
    assert sum(r["n"] for r in rows) == 30
    assert (summary.files, summary.rows, summary.batches) == (30, len(rows), len(rows))
    assert ctx.progress.snapshot() == (30, 0, total, 0)


def test_a_generator_plugin_streams_rows_and_its_file_errors_are_listed(
    plugin_dir: Path, tmp_path: Path
) -> None:
    paths = tree(tmp_path / "t", ["a.txt", "b.txt", "c.bad"])
    summary, rows = run("generator", tmp_path / "t")
    assert sorted(r["path"] for r in rows) == paths[:2]
    assert summary.error_count == 1
    assert summary.errors[0].model_dump() == {
        "path": paths[2], "kind": "file", "error": "refused by the plugin", "traceback": None,
        "files": [],
    }  # fmt: skip
    assert (summary.failed_batches, summary.failed_files, summary.rows) == (0, 0, 2)


def test_an_exception_is_an_error_with_its_traceback_and_the_run_goes_on(
    plugin_dir: Path, tmp_path: Path
) -> None:
    tree(tmp_path / "t", [f"f{i}.txt" for i in range(20)] + ["boom.txt"])
    summary, rows = run("fails", tmp_path / "t", batch_size=3, processes=1)
    assert summary.failed_batches == 1
    [error] = summary.errors
    assert str(tmp_path / "t" / "boom.txt") in error.files
    assert error.path == error.files[0]
    assert summary.failed_files == len(error.files)
    assert error.kind == "exception"
    assert error.error == f"ValueError: boom in a batch of {len(error.files)}"
    line = PLUGINS.splitlines().index(
        '        raise ValueError(f"boom in a batch of {len(files)}")'
    )
    assert error.traceback == (
        "Traceback (most recent call last):\n"
        f'  File "{plugin_dir / "tplugins.py"}", line {line + 1}, in fails\n'
        '    raise ValueError(f"boom in a batch of {len(files)}")\n'
        f"ValueError: boom in a batch of {len(error.files)}\n"
    )
    assert sorted(r["path"] for r in rows) == sorted(
        str(tmp_path / "t" / f"f{i}.txt") for i in range(20) if str(tmp_path / "t" / f"f{i}.txt")
        not in error.files
    )  # fmt: skip
    assert (summary.files, summary.error_count) == (21, 1)


def test_a_batch_that_times_out_has_its_process_killed_and_the_run_finishes(
    plugin_dir: Path, tmp_path: Path
) -> None:
    tree(tmp_path / "t", [f"f{i}.txt" for i in range(12)] + ["sleep.txt"])
    started = time.monotonic()
    summary, rows = run("sleeps", tmp_path / "t", batch_size=2, processes=2, timeout=1)
    assert time.monotonic() - started < 30
    [error] = summary.errors
    assert error.kind == "timeout"
    assert error.error == "timed out after 1 s: its worker process was killed"
    assert str(tmp_path / "t" / "sleep.txt") in error.files
    assert len(rows) == 13 - len(error.files)
    assert (summary.failed_batches, summary.failed_files) == (1, len(error.files))
    assert summary.processes == 3  # the killed one was replaced


def test_a_process_that_dies_fails_its_batch_only(plugin_dir: Path, tmp_path: Path) -> None:
    tree(tmp_path / "t", [f"f{i}.txt" for i in range(8)] + ["die.txt"])
    summary, rows = run("dies", tmp_path / "t", batch_size=3, processes=1)
    [error] = summary.errors
    assert (error.kind, error.error) == ("crashed", "its worker process died (exit status 3)")
    assert str(tmp_path / "t" / "die.txt") in error.files
    assert len(rows) == 9 - len(error.files)
    assert summary.processes == 2


def test_rows_that_are_not_json_objects_fail_their_batch(plugin_dir: Path, tmp_path: Path) -> None:
    tree(tmp_path / "t", ["a.txt"])
    summary, rows = run("not_rows", tmp_path / "t")
    assert rows == []
    [error] = summary.errors
    assert (error.kind, error.error) == ("bad-row", "row 0 of the batch is a int, not a dict")


def test_cancel_stops_the_run_and_leaves_no_process(plugin_dir: Path, tmp_path: Path) -> None:
    tree(tmp_path / "t", [f"f{i}.txt" for i in range(6)])
    pids = tmp_path / "pids"
    pids.mkdir()
    os.environ["PIDS"] = str(pids)
    ctx = ops.RunContext()
    raised: list[BaseException] = []

    def target() -> None:
        try:
            run("waits", tmp_path / "t", ctx, batch_size=1, processes=3)
        except BaseException as e:
            raised.append(e)

    worker = threading.Thread(target=target)
    worker.start()
    deadline = time.monotonic() + 30
    while len(list(pids.iterdir())) < 3 and time.monotonic() < deadline:
        time.sleep(0.02)
    started = {int(p.name) for p in pids.iterdir()}
    assert len(started) == 3
    assert started <= children()
    ctx.cancel.cancel()
    cancelled_at = time.monotonic()
    worker.join(60)
    assert time.monotonic() - cancelled_at < 20  # the batches would sleep 300 s
    assert [type(e) for e in raised] == [Cancelled]
    assert [pid for pid in started if alive(pid)] == []
    assert children() & started == set()


def test_ctrl_c_exits_130_and_leaves_no_process(
    plugin_dir: Path, tmp_path: Path, vegafs: Vegafs
) -> None:
    tree(tmp_path / "t", [f"f{i}.txt" for i in range(4)])
    pids = tmp_path / "pids"
    pids.mkdir()
    env = cli_env() | {"PIDS": str(pids), "PYTHONPATH": str(plugin_dir)}
    proc = subprocess.Popen(
        [str(vegafs.exe), "run", "--plugin", "tplugins:waits", "t", "--batch-size", "1",
         "--processes", "2"],
        cwd=tmp_path, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
        start_new_session=True,
    )  # fmt: skip
    deadline = time.monotonic() + 60
    while len(list(pids.iterdir())) < 2 and time.monotonic() < deadline:
        time.sleep(0.02)
    started = {int(p.name) for p in pids.iterdir()}
    assert len(started) == 2
    os.killpg(proc.pid, signal.SIGINT)  # as a terminal's Ctrl-C
    out, err = proc.communicate(timeout=SUBPROCESS_TIMEOUT)
    assert (proc.returncode, out, err.decode()) == (130, b"", "vegafs: error: interrupted\n")
    # Killed and reaped by vegafs before it exited.
    assert [pid for pid in started if alive(pid)] == []


def cli(
    vegafs: Vegafs, plugin_dir: Path, cwd: Path, *args: str
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(vegafs.exe), *args],
        cwd=cwd,
        env=cli_env(),
        capture_output=True,
        text=True,
        errors="surrogateescape",
        timeout=SUBPROCESS_TIMEOUT,
        check=False,
    )


@pytest.fixture
def here(plugin_dir: Path, tmp_path: Path) -> Path:
    """A working directory holding the plugin module (found there, as `python -m` finds it)."""
    (tmp_path / "tplugins.py").write_text(PLUGINS)
    return tmp_path


def test_run_plugin_prints_rows_as_text_or_json(vegafs: Vegafs, here: Path) -> None:
    tree(here / "t", ["a.txt", "sub/bb.txt"])
    done = cli(vegafs, here, here, "run", "--plugin", "tplugins:scaled", "t", "--param",
               "factor=10", "--param", "unit=bytes")  # fmt: skip
    assert (done.returncode, done.stderr) == (0, "")
    assert sorted(done.stdout.splitlines()) == ["100 bytes t/sub/bb.txt", "50 bytes t/a.txt"]
    done = cli(vegafs, here, here, "run", "--plugin", "tplugins:scaled", "t", "--json")
    assert (done.returncode, done.stderr) == (0, "")
    rows = sorted(done.stdout.splitlines())
    assert [json.loads(r) for r in rows] == [
        {"path": "t/a.txt", "size": 10, "unit": "B"},
        {"path": "t/sub/bb.txt", "size": 20, "unit": "B"},
    ]
    # Without a text form, a row is its JSON. The walk may send the two files in one batch or
    # in two (one per directory, as its threads find them), so only the total is fixed.
    done = cli(vegafs, here, here, "run", "--plugin", "tplugins:per_batch", "t")
    assert (done.returncode, done.stderr) == (0, "")
    lines = done.stdout.splitlines()
    assert set(lines) <= {'{"n":1}', '{"n":2}'}
    assert sum(json.loads(line)["n"] for line in lines) == 2


def test_run_plugin_errors_go_to_stderr_with_the_traceback_and_exit_1(
    vegafs: Vegafs, here: Path
) -> None:
    tree(here / "t", ["boom.txt"])
    done = cli(vegafs, here, here, "run", "--plugin", "tplugins:fails", "t")
    line = PLUGINS.splitlines().index(
        '        raise ValueError(f"boom in a batch of {len(files)}")'
    )
    assert (done.returncode, done.stdout) == (1, "")
    assert done.stderr == (
        "vegafs: t/boom.txt: ValueError: boom in a batch of 1 (a batch of 1 file, none with rows)\n"
        "    Traceback (most recent call last):\n"
        f'      File "{here / "tplugins.py"}", line {line + 1}, in fails\n'
        '        raise ValueError(f"boom in a batch of {len(files)}")\n'
        "    ValueError: boom in a batch of 1\n"
        "vegafs: 1 error (1 file in failed batches)\n"
    )


@pytest.mark.parametrize(
    ("target", "message"),
    [
        ("nosuch_module:f", "--plugin nosuch_module:f: no module named 'nosuch_module'"),
        ("tplugins:nope", "--plugin tplugins:nope: tplugins has no 'nope'"),
        ("tplugins", "invalid --plugin: 'tplugins': expected MODULE:FUNCTION"),
        ("tplugins:NOT_A_FUNCTION", "invalid --plugin: tplugins:NOT_A_FUNCTION is a int, not a "
         "function"),
    ],
)  # fmt: skip
def test_a_plugin_that_cannot_be_imported_exits_2_naming_it(
    vegafs: Vegafs, here: Path, target: str, message: str
) -> None:
    tree(here / "t", ["a.txt"])
    done = cli(vegafs, here, here, "run", "--plugin", target, "t")
    assert (done.returncode, done.stdout, done.stderr) == (2, "", f"vegafs: error: {message}\n")


def test_run_refuses_bad_usage_naming_the_option(vegafs: Vegafs, here: Path) -> None:
    tree(here / "t", ["a.txt"])
    for args, message in [
        ([], "t: cannot read the pipeline: Is a directory"),  # without --plugin: a FILE
        (["--batch-size", "5"],
         "--batch-size applies to --plugin; a pipeline document holds its selection and steps"),
        (["--plugin", "tplugins:scaled", "--param", "size=3"],
         "invalid --param 'size=3': expected NAME=VALUE, NAME one of: factor, unit"),
        (["--plugin", "tplugins:scaled", "--param", "factor=x"],
         "invalid --param factor: Input should be a valid integer, unable to parse string as an "
         "integer"),
        (["--plugin", "tplugins:per_file", "--param", "factor=3"],
         "--param: tplugins:per_file declares no parameters"),
        (["--plugin", "tplugins:per_file", "--batch-size", "0"],
         "invalid --batch-size: Input should be greater than or equal to 1"),
        (["--plugin", "tplugins:per_file", "--timeout", "0"],
         "invalid --timeout: Input should be greater than 0"),
    ]:  # fmt: skip
        done = cli(vegafs, here, here, "run", *args, "t")
        assert (done.returncode, done.stdout, done.stderr) == (2, "", f"vegafs: error: {message}\n")
    done = cli(vegafs, here, here, "run", "--plugin", "tplugins:per_file", "missing")
    assert (done.returncode, done.stderr) == (
        2, "vegafs: error: missing: No such file or directory\n"
    )  # fmt: skip


def test_names_that_are_not_utf8_reach_the_plugin_as_surrogate_escapes(
    vegafs: Vegafs, here: Path
) -> None:
    raw = os.fsencode(here) + b"/t/caf\xe9.txt"
    write(Path(os.fsdecode(raw)), 0)
    Path(os.fsdecode(raw)).write_text("d\u00e9j\u00e0")
    done = cli(vegafs, here, here, "run", "--plugin", "tplugins:raw_names", "t", "--json")
    assert (done.returncode, done.stderr) == (0, "")
    [row] = [json.loads(line) for line in done.stdout.splitlines()]
    assert row == {
        "path": "t/caf\udce9.txt",
        "hex": b"t/caf\xe9.txt".hex(),
        "data": "d\u00e9j\u00e0",
    }
    assert '"path":"t/caf\\udce9.txt"' in done.stdout


def test_a_plain_function_registered_by_an_entry_point_is_an_operation(
    plugin_dir: Path, tmp_path: Path, vegafs: Vegafs
) -> None:
    site = tmp_path / "site"
    info = site / "tplugins-0.1.dist-info"
    info.mkdir(parents=True)
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: tplugins\nVersion: 0.1\n")
    (info / "entry_points.txt").write_text(
        "[vegafs.operations]\nper-batch = tplugins:per_batch\nscaled = tplugins:scaled\n"
    )
    tree(tmp_path / "t", ["a.txt", "b.txt"])
    env = cli_env() | {"PYTHONPATH": f"{site}:{plugin_dir}"}

    def vegafs_run(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([str(vegafs.exe), *args], cwd=tmp_path, env=env,
                              capture_output=True, text=True, timeout=SUBPROCESS_TIMEOUT,
                              check=False)  # fmt: skip

    listed = vegafs_run("--help")
    assert listed.returncode == 0, listed.stderr
    assert "per-batch" in listed.stdout
    assert "Sizes, scaled." in listed.stdout
    done = vegafs_run("scaled", "t", "--factor", "3", "--unit", "b")
    assert (done.returncode, sorted(done.stdout.splitlines()), done.stderr) == (
        0, ["15 b t/a.txt", "15 b t/b.txt"], ""
    )  # fmt: skip
    done = vegafs_run("per-batch", "t", "--json", "--batch-size", "5")
    assert (done.returncode, done.stdout, done.stderr) == (0, '{"n":2}\n', "")
    submit = vegafs_run("jobs", "submit", "scaled", "--help")
    assert submit.returncode == 0, submit.stderr
    for option in ("--factor", "--unit", "--batch-size", "--timeout", "--processes"):
        assert option in submit.stdout
    # The server's and the worker's registry: the params are the common ones and the plugin's.
    script = textwrap.dedent(
        """
        import json
        from vegafs import ops
        op = ops.get("scaled")
        print(json.dumps([type(op).__name__, sorted(op.params_schema()["properties"]),
                          op.summary, ops.get("per-batch").row.model_json_schema()]))
        """
    )
    out = subprocess.run([sys.executable, "-c", script], env=env, capture_output=True,
                         text=True, check=True, timeout=SUBPROCESS_TIMEOUT)  # fmt: skip
    assert json.loads(out.stdout) == [
        "PluginOperation",
        ["batch_size", "factor", "max_errors", "processes", "selection", "timeout", "unit"],
        "Sizes, scaled.",
        {"additionalProperties": True, "description": "A row of a plugin that declares no row "
         "model: any JSON object.", "properties": {}, "title": "FreeRow", "type": "object"},
    ]  # fmt: skip


def test_entries_the_walk_cannot_read_are_listed_and_the_rest_is_run(
    vegafs: Vegafs, here: Path, locked_tree: Path, unprivileged: list[str]
) -> None:
    done = subprocess.run(
        [*unprivileged, str(vegafs.exe), "run", "--plugin", "tplugins:per_file", "tree",
         "--json"],
        cwd=locked_tree.parent, env=cli_env() | {"PYTHONPATH": str(here)}, capture_output=True,
        text=True, timeout=SUBPROCESS_TIMEOUT, check=False,
    )  # fmt: skip
    assert done.returncode == 1
    assert sorted(json.loads(line)["path"] for line in done.stdout.splitlines()) == [
        "tree/open/f", "tree/open/g"
    ]  # fmt: skip
    assert done.stderr == "vegafs: tree/locked: Permission denied (os error 13)\nvegafs: 1 error\n"


def test_a_cancelled_plugin_job_stops_and_leaves_no_process(
    plugin_dir: Path, backend: Backend, tmp_path: Path, service_root: Path
) -> None:
    site = tmp_path / "site"
    info = site / "tplugins-0.1.dist-info"
    info.mkdir(parents=True)
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: tplugins\nVersion: 0.1\n")
    (info / "entry_points.txt").write_text("[vegafs.operations]\nwaits = tplugins:waits\n")
    pids = tmp_path / "pids"
    pids.mkdir()
    tree(service_root / "t", [f"f{i}.txt" for i in range(4)])
    env = {"PYTHONPATH": f"{site}:{plugin_dir}", "PIDS": str(pids)}
    s = Stack(backend, tmp_path / "data", [service_root], env_extra=env)
    s.data_dir.mkdir()
    try:
        s.start()
        with s.client() as http:
            params = {"selection": {"roots": [str(service_root / "t")]}, "batch_size": 1,
                      "processes": 2}  # fmt: skip
            job = http.post("/jobs", json={"operation": "waits", "params": params}).json()
            deadline = time.monotonic() + 60
            while len(list(pids.iterdir())) < 2 and time.monotonic() < deadline:
                time.sleep(0.05)
            started = {int(p.name) for p in pids.iterdir()}
            assert len(started) == 2, s.log_text()
            assert http.post(f"/jobs/{job['id']}/cancel").status_code == 202
            asked = time.monotonic()
            done = s.wait_job(http, job["id"], {"cancelled", "succeeded", "failed"}, timeout=60)
            assert time.monotonic() - asked < 20  # the batches would sleep 300 s
            assert done["status"] == "cancelled", done
            assert [pid for pid in started if alive(pid)] == []
    finally:
        s.stop()

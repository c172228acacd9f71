"""One declaration per operation: the command reference, operations from other packages."""

import json
import os
import subprocess
import sys
from pathlib import Path

from conftest import SUBPROCESS_TIMEOUT, Vegafs, cli_env

DOCS = Path(__file__).parent.parent / "docs" / "cli.md"

PLUGIN = '''
"""An operation of another package: one row per root."""
from pydantic import BaseModel, ConfigDict

from vegafs.engine import Selection
from vegafs.ops import Operation, RunContext


class Params(BaseModel):
    model_config = ConfigDict(extra="forbid")
    selection: Selection
    repeat: int = 1


class Summary(BaseModel):
    roots: int


class Row(BaseModel):
    path: str


def run(params: Params, ctx: RunContext) -> Summary:
    for _ in range(params.repeat):
        ctx.rows([{"path": str(root)} for root in params.selection.roots])
    return Summary(roots=len(params.selection.roots))


ROOTS = Operation(
    name="count-roots",
    summary="One row per root (a test plugin).",
    params=Params,
    result=Summary,
    row=Row,
    run=run,
    text=lambda row: row["path"],
)
'''


def install_plugin(site: Path) -> None:
    """A package with an entry point in `vegafs.operations`, found on PYTHONPATH."""
    (site / "demo_ops").mkdir(parents=True)
    (site / "demo_ops" / "__init__.py").write_text(PLUGIN)
    info = site / "demo_ops-0.1.dist-info"
    info.mkdir()
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: demo-ops\nVersion: 0.1\n")
    (info / "entry_points.txt").write_text("[vegafs.operations]\ncount-roots = demo_ops:ROOTS\n")


def run_with(site: Path, exe: Path, *args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    env = cli_env() | {"PYTHONPATH": str(site)}
    return subprocess.run(
        [str(exe), *args],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=SUBPROCESS_TIMEOUT,
        check=False,
    )


def test_the_command_reference_in_the_docs_is_what_the_commands_say() -> None:
    done = subprocess.run(
        [sys.executable, "-m", "vegafs.cli.reference", "--check", str(DOCS)],
        capture_output=True,
        text=True,
        env=cli_env(),
        timeout=SUBPROCESS_TIMEOUT,
        check=False,
    )
    assert (done.returncode, done.stderr) == (0, "")
    text = DOCS.read_text()
    for command in (
        "analyze",
        "serve",
        "worker",
        "db upgrade",
        "keys create",
        "jobs submit analyze",
    ):
        assert f"### `vegafs {command}`" in text, command


def test_an_operation_of_another_package_is_a_command_and_a_job_type(
    vegafs: Vegafs, tmp_path: Path
) -> None:
    site = tmp_path / "site"
    install_plugin(site)
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()

    listed = run_with(site, vegafs.exe, "--help", cwd=tmp_path)
    assert listed.returncode == 0, listed.stderr
    assert "count-roots" in listed.stdout
    assert "One row per root (a test plugin)." in listed.stdout

    done = run_with(site, vegafs.exe, "count-roots", "a", "b", "--repeat", "2", cwd=tmp_path)
    assert (done.returncode, done.stdout, done.stderr) == (0, "a\nb\na\nb\n", "")
    done = run_with(site, vegafs.exe, "count-roots", "a", "--json", cwd=tmp_path)
    assert (done.returncode, done.stdout) == (0, '{"path":"a"}\n')
    done = run_with(site, vegafs.exe, "count-roots", "a", "--repeat", "x", cwd=tmp_path)
    assert done.returncode == 2
    assert "--repeat" in done.stderr

    submit_help = run_with(
        site, vegafs.exe, "jobs", "submit", "count-roots", "--help", cwd=tmp_path
    )
    assert submit_help.returncode == 0, submit_help.stderr
    assert "--repeat" in submit_help.stdout

    # The registry of the server and the worker sees it too.
    script = (
        "from vegafs import ops; op = ops.get('count-roots'); "
        "print(ops.names(), op.params_schema()['properties']['repeat'])"
    )
    env = os.environ | {"PYTHONPATH": str(site)}
    out = subprocess.run(
        [sys.executable, "-c", script], env=env, capture_output=True, text=True, check=True
    )
    names, repeat = out.stdout.split("] ", 1)
    assert "'analyze'" in names
    assert "'count-roots'" in names
    assert json.loads(repeat.replace("'", '"')) == {
        "default": 1,
        "title": "Repeat",
        "type": "integer",
    }

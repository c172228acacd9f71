"""The example plugin plugins/vegafs-textstats, installed as a package is: its own tests, its
command (text and JSON), `jobs submit`, GET /api/v1/operations, and a job the worker runs on
SQLite and on PostgreSQL. A job can only name a registered plugin, never a module:function."""

import json
import os
import subprocess
import sys
import tomllib
from pathlib import Path
from typing import Any

import pytest

from conftest import SUBPROCESS_TIMEOUT, cli_env
from stack import Backend, Stack

PACKAGE = Path(__file__).parent.parent / "plugins" / "vegafs-textstats"

TEXTS = {
    "a.txt": b"hello world\nsecond line\n",
    "sub/b.md": "caf\u00e9 au lait\n".encode(),
    "sub/empty.txt": b"",
}
BINARY = {"sub/image.bin": b"\x89PNG\r\n\x1a\n\0\0\0\rIHDR"}


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> str:
    """vegafs-textstats installed on a PYTHONPATH of its own: its package directory and the
    dist-info a `pip install` writes, entry points read from its pyproject.toml. Returns the
    PYTHONPATH to use."""
    where = tmp_path_factory.mktemp("site")
    project = tomllib.loads((PACKAGE / "pyproject.toml").read_text())["project"]
    info = where / f"vegafs_textstats-{project['version']}.dist-info"
    info.mkdir()
    (info / "METADATA").write_text(
        f"Metadata-Version: 2.1\nName: {project['name']}\nVersion: {project['version']}\n"
    )
    groups = project["entry-points"]
    (info / "entry_points.txt").write_text(
        "".join(
            f"[{group}]\n" + "".join(f"{name} = {value}\n" for name, value in points.items())
            for group, points in groups.items()
        )
    )
    return f"{where}{os.pathsep}{PACKAGE / 'src'}"


def make_tree(root: Path) -> None:
    for name, data in {**TEXTS, **BINARY}.items():
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_bytes(data)


def expected_rows(root: Path, shown: str) -> list[dict[str, object]]:
    """The rows of the text files under ``root``, their paths starting with ``shown``."""
    rows = []
    for name, data in sorted(TEXTS.items()):
        text = data.decode()
        counts = {"lines": text.count("\n"), "words": len(text.split()), "chars": len(text)}
        rows.append({"path": f"{shown}/{name}", **counts, "bytes": len(data)})
    return rows


def run(site: str, *args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(Path(sys.executable).parent / "vegafs"), *args],
        cwd=cwd,
        env=cli_env() | {"PYTHONPATH": site},
        capture_output=True,
        text=True,
        timeout=SUBPROCESS_TIMEOUT,
        check=False,
    )


def test_the_plugins_own_tests_pass(site: str) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", str(PACKAGE / "tests")],
        env=os.environ | {"PYTHONPATH": site},
        capture_output=True,
        text=True,
        timeout=SUBPROCESS_TIMEOUT,
        check=False,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert done.stdout.splitlines()[-1].startswith("10 passed in ")


def test_textstats_is_a_command_with_text_and_json_output(site: str, tmp_path: Path) -> None:
    make_tree(tmp_path / "t")
    listed = run(site, "--help", cwd=tmp_path)
    assert listed.returncode == 0, listed.stderr
    summary = "Line, word and character counts of text files (like wc); binary files skipped."
    assert any(line.split() == ["│", "textstats", *summary.split(), "│"]
               for line in listed.stdout.splitlines()), listed.stdout  # fmt: skip

    done = run(site, "textstats", "t", cwd=tmp_path)
    assert (done.returncode, done.stderr) == (0, "")
    assert sorted(done.stdout.splitlines()) == [
        "       0        0        0 t/sub/empty.txt",
        "       1        3       13 t/sub/b.md",
        "       2        4       24 t/a.txt",
    ]
    done = run(site, "textstats", "t", "--json", "--processes", "1", cwd=tmp_path)
    assert (done.returncode, done.stderr) == (0, "")
    rows = sorted((json.loads(line) for line in done.stdout.splitlines()), key=str)
    assert rows == sorted(expected_rows(tmp_path / "t", "t"), key=str)

    done = run(site, "textstats", "t", "--include", "*.md", cwd=tmp_path)
    md = "       1        3       13 t/sub/b.md\n"
    assert (done.returncode, done.stdout, done.stderr) == (0, md, "")


def test_unreadable_files_are_listed_and_exit_1(
    site: str, tmp_path: Path, unprivileged: list[str]
) -> None:
    make_tree(tmp_path / "t")
    locked = tmp_path / "t" / "locked.txt"
    locked.write_text("secret\n")
    locked.chmod(0)
    done = subprocess.run(
        [*unprivileged, str(Path(sys.executable).parent / "vegafs"), "textstats", "t", "--json"],
        cwd=tmp_path, env=cli_env() | {"PYTHONPATH": site}, capture_output=True, text=True,
        timeout=SUBPROCESS_TIMEOUT, check=False,
    )  # fmt: skip
    assert done.returncode == 1
    assert len(done.stdout.splitlines()) == 3
    assert done.stderr == "vegafs: t/locked.txt: Permission denied\nvegafs: 1 error\n"


def test_jobs_submit_offers_textstats_with_its_options(site: str, tmp_path: Path) -> None:
    done = run(site, "jobs", "submit", "textstats", "--help", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    for option in ("--batch-size", "--timeout", "--processes", "--max-errors", "--priority"):
        assert option in done.stdout


def test_textstats_runs_as_a_job_and_no_module_function_is_ever_accepted(
    site: str, backend: Backend, tmp_path: Path, service_root: Path
) -> None:
    make_tree(service_root / "t")
    s = Stack(backend, tmp_path / "data", [service_root], env_extra={"PYTHONPATH": site})
    s.data_dir.mkdir()
    try:
        s.start()
        with s.client() as http:
            listed = {op["name"]: op for op in http.get("/operations").json()}
            textstats = listed["textstats"]
            assert textstats["summary"].startswith("Line, word and character counts")
            assert textstats["mutates"] is False
            assert set(textstats["params_schema"]["properties"]) == {
                "selection", "batch_size", "timeout", "processes", "max_errors"
            }  # fmt: skip
            assert set(textstats["row_schema"]["properties"]) == {
                "path", "lines", "words", "chars", "bytes"
            }  # fmt: skip
            assert textstats["result_schema"]["title"] == "PluginSummary"

            root = service_root / "t"
            body: dict[str, Any] = {
                "operation": "textstats",
                "params": {"selection": {"roots": [str(root)]}},
            }
            job = http.post("/jobs", json=body)
            assert job.status_code == 202, job.text
            done = s.wait_job(http, job.json()["id"], {"succeeded", "failed"})
            assert done["status"] == "succeeded", done
            summary = done["summary"]
            assert (summary["files"], summary["rows"], summary["error_count"]) == (4, 3, 0)
            assert summary["plugin"] == "vegafs_textstats:textstats"
            assert done["result_rows"] == 3
            assert done["progress"]["entries"] == 4
            page = http.get(f"/jobs/{done['id']}/results").json()
            rows = sorted((item["data"] for item in page["items"]), key=str)
            assert rows == sorted(expected_rows(root, str(root)), key=str)

            # Code never comes from a request: a module:function is no operation, whatever it
            # names, and no params field takes one.
            for operation in ("vegafs_textstats:textstats", "os:system", "json:dumps"):
                r = http.post("/jobs", json={**body, "operation": operation})
                assert r.status_code == 422, r.text
                assert r.json()["errors"] == [{
                    "field": "operation",
                    "message": f"unknown operation {operation!r} (known: "
                    f"{', '.join(sorted(listed))})",
                }]  # fmt: skip
            params = {**body["params"], "plugin": "os:system"}
            r = http.post("/jobs", json={"operation": "textstats", "params": params})
            assert r.status_code == 422, r.text
            assert r.json()["errors"][0]["field"] == "params.plugin"

        # The command's --submit --wait prints what a local run prints.
        done_cli = s.cli("textstats", str(root), "--submit", "--wait", "--server", s.url)
        assert done_cli.returncode == 0, done_cli.stderr
        assert done_cli.stderr.startswith(f"job 2 queued: {s.url}/api/v1/jobs/2\n")
        assert "vegafs:" not in done_cli.stderr
        assert sorted(done_cli.stdout.splitlines()) == sorted(
            f"{r['lines']:>8} {r['words']:>8} {r['chars']:>8} {r['path']}"
            for r in expected_rows(root, str(root))
        )
    finally:
        s.stop()

"""Pipelines: `vegafs run FILE` (YAML and JSON documents), `vegafs pipeline`, the Python API and
the job type; steps pass files on in one walk; a bad document names its place."""

import hashlib
import json
import os
import subprocess
from pathlib import Path

import pytest

from conftest import SUBPROCESS_TIMEOUT, Vegafs
from stack import Stack
from test_cli_hash import tool
from test_cli_jobs import ok, refused, run
from test_walk_handles import NAME, deep_chain
from vegafs import engine, ops

APP = b"start\nERROR disk full\nstop\n"


@pytest.fixture
def logs(tmp_path: Path) -> Path:
    """Three logs (one with an ERROR line, and a hard link to it), a binary file with ERROR
    after a NUL, a FIFO, a symlink to the erring log and a name that is not UTF-8."""
    root = tmp_path / "logs"
    (root / "old").mkdir(parents=True)
    (root / "app.log").write_bytes(APP)
    os.link(root / "app.log", root / "again.log")  # a hard link: one more path, gone through too
    (root / "web.log").write_bytes(b"GET /\n")
    (root / "old" / "db.log").write_bytes(b"error, lower case\n")
    (root / "core.bin").write_bytes(b"\0ERROR\n")
    (root / "notes.txt").write_bytes(b"ERROR in a text file\n")
    fd = os.open(os.fsencode(root) + b"/caf\xe9.log", os.O_WRONLY | os.O_CREAT, 0o644)
    os.write(fd, b"ERROR\n")
    os.close(fd)
    os.mkfifo(root / "pipe.log")
    (root / "link.log").symlink_to("app.log")
    return root


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


YAML = """\
# Which logs report an error, and their digests.
selection:
  roots: [logs]
  include: ["*.log"]
steps:
  - match: ERROR
  - hash: {algo: sha256}
"""


def test_a_yaml_pipeline_filters_then_hashes(vegafs: Vegafs, logs: Path) -> None:
    (logs.parent / "errors.yaml").write_text(YAML)
    out = vegafs.run("run", "errors.yaml", cwd=logs.parent)
    assert (out.returncode, out.stderr) == (0, "")
    assert sorted(out.stdout.splitlines()) == sorted([
        sha256(APP).encode() + b"  logs/app.log",
        sha256(APP).encode() + b"  logs/again.log",
        # A name that is not UTF-8 is shown as analyze shows it.
        sha256(b"ERROR\n").encode() + b"  logs/caf\\xe9.log",
    ])  # fmt: skip


def test_steps_pass_files_on_in_one_walk(logs: Path) -> None:
    buf = ops.RowBuffer()
    steps = [{"match": {"patterns": ["error"], "ignore_case": True}}, "hash"]
    summary = ops.run("pipeline", {"selection": {"roots": [str(logs)]}, "steps": steps},
                      ops.RunContext(rows=buf))  # fmt: skip
    got = summary.model_dump()
    # Regular files only: the FIFO is never opened, the symlink not followed. The binary file
    # is searched up to its first NUL (as rg), so it has no match.
    assert got["files"] == 7
    assert got["steps"] == [
        {"step": "match", "files_in": 7, "files_out": 5},
        {"step": "hash", "files_in": 5, "files_out": 5},
    ]
    assert (got["rows"], got["error_count"]) == (5, 0)
    blake3 = {Path(r["path"]).name: r["digest"] for r in buf.rows}
    assert sorted(blake3) == ["again.log", "app.log", "caf\udce9.log", "db.log", "notes.txt"]
    assert blake3["again.log"] == blake3["app.log"]
    sizes = [len(APP), len(APP), len(b"ERROR\n"), len(b"error, lower case\n"),
             len(b"ERROR in a text file\n")]  # fmt: skip
    assert got["bytes"] == sum(r["size"] for r in buf.rows) == sum(sizes)


def test_invert_keeps_the_files_without_a_match(logs: Path) -> None:
    stream = engine.run_pipeline(logs, [{"match": {"patterns": "ERROR", "invert": True}}])
    rows = [row for batch in stream for row in batch]
    assert sorted((Path(r["path"]).name, r["digest"]) for r in rows) == [
        ("core.bin", None),
        ("db.log", None),
        ("web.log", None),
    ]


def test_a_json_document_and_paths_that_replace_its_roots(vegafs: Vegafs, logs: Path) -> None:
    doc = {"selection": {"roots": ["elsewhere"]}, "steps": [{"match": "GET"}, "hash"]}
    (logs.parent / "p.json").write_text(json.dumps(doc))
    out = vegafs.run("run", "p.json", "logs", "--json", cwd=logs.parent)
    assert (out.returncode, out.stderr) == (0, "")
    b3sum = subprocess.run([tool("b3sum"), "--no-names", "logs/web.log"], cwd=logs.parent,
                           capture_output=True, text=True, check=True,
                           timeout=SUBPROCESS_TIMEOUT)  # fmt: skip
    assert [json.loads(line) for line in out.stdout.splitlines()] == [
        {
            "path": "logs/web.log",
            "size": 6,
            "digest": b3sum.stdout.strip(),
            "valid": None,
            "problem": None,
        }
    ]


def test_the_same_steps_as_options(vegafs: Vegafs, logs: Path) -> None:
    out = vegafs.run("pipeline", "logs", "--steps", '{"match": "disk"}', "--steps", "hash",
                     cwd=logs.parent)  # fmt: skip
    assert (out.returncode, out.stderr) == (0, "")
    assert sorted(line.split(b"  ")[1] for line in out.stdout.splitlines()) == [
        b"logs/again.log",
        b"logs/app.log",
    ]


@pytest.mark.parametrize(
    ("document", "message"),
    [
        (
            "selection: {roots: [logs]}\nsteps: [hsh]\n",
            "p.yaml: steps, item 1: a step is one of match, hash, validate, written as a mapping "
            "with one "
            'key, e.g. {"hash": {"algo": "sha256"}}',
        ),
        (
            "selection: {roots: [logs]}\nsteps: [{match: x}, {hash: {algo: md5}}]\n",
            "p.yaml: steps, item 2, hash.algo: Input should be 'blake3', 'sha256' or 'xxh3'",
        ),
        (
            "selection: {roots: [logs]}\nsteps: [{match: {pattern: x}}]\n",
            "p.yaml: steps, item 1, match.patterns: Field required",
        ),
        (
            "selection: {roots: [logs], min_size: lots}\nsteps: [hash]\n",
            "p.yaml: selection, min_size: Input should be a valid integer, unable to parse string "
            "as an integer",
        ),
        ("selection: {roots: [logs]}\nsteps: []\n",
         "p.yaml: steps: List should have at least 1 item after validation, not 0"),
        ("selection: {roots: [logs]}\nsteps: [hash]\nextra: 1\n",
         "p.yaml: extra: Extra inputs are not permitted"),
        ("selection: {roots: [logs]\nsteps: [hash]\n",
         "p.yaml: line 2, column 1: not YAML or JSON: expected ',' or '}', but got '<scalar>'"),
        ("- hash\n", "p.yaml: a pipeline is a mapping with selection and steps"),
        ("selection: {roots: [logs]}\nsteps: [{match: '('}]\n",
         "invalid pattern: step 1: regex parse error:"),
    ],
)  # fmt: skip
def test_a_bad_document_names_the_place(
    vegafs: Vegafs, logs: Path, document: str, message: str
) -> None:
    (logs.parent / "p.yaml").write_text(document)
    out = vegafs.run("run", "p.yaml", cwd=logs.parent)
    assert (out.returncode, out.stdout) == (2, b"")
    assert out.stderr.startswith(f"vegafs: error: {message}"), out.stderr


def test_a_missing_document(vegafs: Vegafs, tmp_path: Path) -> None:
    out = vegafs.run("run", "nope.yaml", cwd=tmp_path)
    assert (out.returncode, out.stdout) == (2, b"")
    assert out.stderr == (
        "vegafs: error: nope.yaml: cannot read the pipeline: No such file or directory\n"
    )


def test_unreadable_files_are_listed_and_the_rest_goes_on(
    vegafs: Vegafs, locked_tree: Path, unprivileged: list[str]
) -> None:
    secret = locked_tree / "open" / "secret"
    secret.write_bytes(b"no")
    secret.chmod(0)
    out = vegafs.run("pipeline", "tree", "--steps", "hash", cwd=locked_tree.parent,
                     prefix=unprivileged)  # fmt: skip
    assert out.returncode == 1
    assert sorted(line.split(b"  ")[1] for line in out.stdout.splitlines()) == [
        b"tree/open/f",
        b"tree/open/g",
    ]
    assert out.stderr.splitlines() == [
        "vegafs: tree/locked: Permission denied (os error 13)",
        "vegafs: tree/open/secret: Permission denied (os error 13)",
        "vegafs: 2 entries could not be read",
    ]


def test_a_file_below_path_max_goes_through(vegafs: Vegafs, tmp_path: Path) -> None:
    deep_chain(tmp_path / "tree", 200)
    out = vegafs.run("pipeline", "tree", "--steps", '{"match": "bottom"}', "--steps",
                     '{"hash": {"algo": "sha256"}}', cwd=tmp_path)  # fmt: skip
    assert (out.returncode, out.stderr) == (0, "")
    assert out.stdout == f"{sha256(b'bottom!')}  tree/{NAME * 200}bottom.txt\n".encode()


def test_a_pipeline_job_gives_the_rows_a_local_run_gives(
    stack: Stack, service_root: Path, tmp_path: Path
) -> None:
    doc = tmp_path / "p.yaml"
    doc.write_text(f"selection: {{roots: ['{service_root}']}}\nsteps: [{{match: x}}, hash]\n")
    local = ok(run(None, "run", str(doc), "--json"))
    assert len(local.splitlines()) == 3  # every file of the service root is full of x
    remote = run(stack, "run", str(doc), "--json", "--submit", "--wait")
    assert remote.returncode == 0, remote.stderr
    assert sorted(remote.stdout.splitlines()) == sorted(local.splitlines())
    # A pattern that does not compile is refused when the job is submitted.
    doc.write_text(f"selection: {{roots: ['{service_root}']}}\nsteps: [{{match: '('}}]\n")
    assert "step 1: regex parse error" in refused(run(stack, "run", str(doc), "--submit"))
    # Outside the roots: refused like every path of a job.
    doc.write_text("selection: {roots: ['/etc']}\nsteps: [hash]\n")
    assert "/etc" in refused(run(stack, "run", str(doc), "--submit"))


def test_a_validate_step_annotates_or_filters(vegafs: Vegafs, tmp_path: Path) -> None:
    data = tmp_path / "data"
    data.mkdir()
    (data / "good.json").write_text('{"n": 1}')
    (data / "bad.json").write_text('{"n": 1,}')
    (data / "other.json").write_text('{"n": "x"}')
    (data / "notes.bin").write_bytes(b"\0")  # no known format: not validated
    (tmp_path / "schema.json").write_text('{"properties": {"n": {"type": "integer"}}}')
    doc = tmp_path / "p.yaml"
    doc.write_text(
        "selection: {roots: [data]}\n"
        "steps: [{validate: {schema: schema.json}}, {hash: {algo: sha256}}]\n"
    )
    out = vegafs.run("run", "p.yaml", "--json", cwd=tmp_path)
    assert (out.returncode, out.stderr) == (0, "")
    rows = {Path(r["path"]).name: r for r in map(json.loads, out.stdout.splitlines())}
    assert sorted(rows) == ["bad.json", "good.json", "notes.bin", "other.json"]
    assert (rows["good.json"]["valid"], rows["good.json"]["problem"]) == (True, None)
    assert rows["good.json"]["digest"] == sha256(b'{"n": 1}')
    assert rows["bad.json"]["valid"] is False
    assert rows["bad.json"]["problem"].startswith("json: line 1, column 9: trailing comma")
    assert rows["other.json"]["valid"] is False
    assert rows["other.json"]["problem"].startswith("json: ")
    assert rows["notes.bin"]["valid"] is None
    # keep: invalid passes on only the files that failed (and as text, their first problem).
    doc.write_text("selection: {roots: [data]}\nsteps: [{validate: {keep: invalid}}]\n")
    out = vegafs.run("run", "p.yaml", cwd=tmp_path)
    assert (out.returncode, out.stderr) == (0, "")
    assert out.stdout.decode().startswith("data/bad.json: invalid: json: line 1, column 9: ")
    assert out.stdout.count(b"\n") == 1
    # A schema that does not compile is refused before anything is read.
    (tmp_path / "schema.json").write_text('{"type": 12}')
    doc.write_text("selection: {roots: [data]}\nsteps: [{validate: {schema: schema.json}}]\n")
    out = vegafs.run("run", "p.yaml", cwd=tmp_path)
    assert (out.returncode, out.stdout) == (2, b"")
    assert out.stderr.startswith("vegafs: error: schema.json: ")

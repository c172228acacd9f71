"""`vegafs validate`: each format passing and failing with the exact line, column and message;
compiler-style lines and NDJSON rows; exit codes; unknown formats skipped; FIFOs, unreadable
files, names that are not UTF-8; JSON Schemas (failures, a malformed schema, a missing one);
truncated gzip and zstd streams; the Python API; jobs on SQLite and PostgreSQL."""

import gzip
import json
import os
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest

from conftest import SUBPROCESS_TIMEOUT, Vegafs
from stack import Stack
from test_cli_jobs import refused, run

SCHEMA = {
    "type": "object",
    "required": ["id"],
    "properties": {"id": {"type": "integer"}},
}


def tool(name: str) -> str:
    path = shutil.which(name)
    if path is None:
        pytest.skip(f"{name} is missing (the Makefile installs it: scripts/ensure-packages.sh)")
    return path


def zstd(data: bytes) -> bytes:
    done = subprocess.run([tool("zstd"), "-q", "-c", "--check"], input=data, capture_output=True,
                          check=True, timeout=SUBPROCESS_TIMEOUT)  # fmt: skip
    return done.stdout


def rows_of(out: bytes) -> list[dict[str, Any]]:
    return sorted((json.loads(line) for line in out.splitlines()), key=lambda r: r["path"])


# name -> (content, the one failure line `vegafs validate` prints for it, or None: it passes)
CASES: dict[str, tuple[bytes, str | None]] = {
    "ok.json": (b'{"a": [1, {"b": null}]}\n', None),
    "bad.json": (b'{\n  "a": 1,\n  "b": tru\n}\n', "bad.json:4:1: json: expected ident"),
    "ok.jsonl": (b'{"a": 1}\n\n[2]\n', None),
    "bad.jsonl": (b'{"a": 1}\n{"a": 1,}\n', "bad.jsonl:2:9: jsonl: key must be a string"),
    "ok.csv": (b'a,b\r\n1,"x,""y""\nz"\r\n', None),
    "ragged.csv": (b"a,b,c\n1,2\n", "ragged.csv:2:1: csv: 2 fields where the first record has 3"),
    "stray.csv": (b'a,b\n1,x"y\n', "stray.csv:2:4: csv: a quote in an unquoted field"),
    "open.csv": (b'a,b\n1,"oops\n', "open.csv:2:3: csv: a quoted field is never closed"),
    "ok.tsv": (b"a\tb\n1\t2\n", None),
    "bad.tsv": (b"a\tb\n1\t2\t3\n", "bad.tsv:2:1: tsv: 3 fields where the first record has 2"),
    "ok.txt": ("héllo\n".encode(), None),
    "bad.txt": (b"one\ntw\xffo\n",
                "bad.txt:2:3: utf8: invalid UTF-8: byte 0xff at byte offset 6"),
    "ok.xml": (b'<?xml version="1.0"?>\n<a x="1"><b>&amp;</b></a>\n', None),
    "bad.xml": (b"<a>\n  <b></c>\n</a>\n",
                "bad.xml:2:6: xml: ill-formed document: expected `</b>`, but `</c>` was found"),
    "ok.toml": (b'[s]\nport = 80\n', None),
    "bad.toml": (b"a = 1\na = 2\n", "bad.toml:2:1: toml: duplicate key"),
    "ok.yaml": (b"a: 1\nb:\n  - x\n", None),
    "bad.yml": (b"a: 1\nb: [1, 2\nc: 3\n",
                "bad.yml:3:2: yaml: illegal placement of ':' indicator"),
    "ok.json.gz": (gzip.compress(b"[1, 2]"), None),
    "bad.json.gz": (gzip.compress(b'{"a": }'), "bad.json.gz:1:7: json: expected value"),
    "cut.gz": (gzip.compress(b"x" * 1000)[:-6], "cut.gz: gzip: truncated: the stream ends early"),
    "notes": (b"\xff no extension: skipped", None),
}  # fmt: skip


@pytest.fixture
def tree(tmp_path: Path) -> Path:
    root = tmp_path / "tree"
    root.mkdir()
    for name, (content, _) in CASES.items():
        (root / name).write_bytes(content)
    return root


def test_each_format_passes_or_fails_at_its_line_and_column(vegafs: Vegafs, tree: Path) -> None:
    out = vegafs.run("validate", "tree", cwd=tree.parent)
    assert out.returncode == 1
    expected = sorted(f"tree/{line}" for _, line in CASES.values() if line)
    assert sorted(out.text.splitlines()) == expected
    assert out.stderr == f"vegafs: {len(expected)} of 21 files failed validation\n"


def test_json_rows_and_the_summary_of_a_job_like_run(vegafs: Vegafs, tree: Path) -> None:
    out = vegafs.run("validate", "tree", "--json", "-g", "bad.*", cwd=tree.parent)
    assert (out.returncode, out.stderr) == (1, "")
    rows = rows_of(out.stdout)
    assert rows[0] == {"path": "tree/bad.json", "format": "json", "line": 4, "column": 1,
                       "message": "expected ident"}  # fmt: skip
    assert rows[-1] == {"path": "tree/bad.yml", "format": "yaml", "line": 3, "column": 2,
                        "message": "illegal placement of ':' indicator"}  # fmt: skip
    assert len(rows) == 8


def test_the_python_api_counts_by_format(tree: Path) -> None:
    from vegafs import engine

    with engine.validate_files(tree) as stream:
        rows = [row for batch in stream for row in batch]
        summary = engine.ValidateSummary.model_validate(stream.summary())
    assert len(rows) == 12
    assert (summary.files, summary.ok, summary.failed, summary.skipped) == (21, 9, 12, 1)
    assert summary.failures == 12
    counts = {k: (v.ok, v.failed) for k, v in summary.by_format.items()}
    assert counts == {
        "json": (1, 1), "jsonl": (1, 1), "csv": (1, 3), "tsv": (1, 1), "utf8": (1, 1),
        "xml": (1, 1), "toml": (1, 1), "yaml": (1, 1), "gzip": (1, 2),
    }  # fmt: skip
    assert summary.error_count == 0


def test_all_pass_exits_0_and_as_forces_a_format(vegafs: Vegafs, tree: Path) -> None:
    out = vegafs.run("validate", "tree", "-g", "ok.*", cwd=tree.parent)
    assert (out.returncode, out.stdout, out.stderr) == (0, b"", "")
    out = vegafs.run("validate", "tree/notes", "tree/ok.csv", "--as", "utf8", cwd=tree.parent)
    assert (out.returncode, out.stderr) == (1, "vegafs: 1 of 2 files failed validation\n")
    assert out.text == "tree/notes:1:1: utf8: invalid UTF-8: byte 0xff at byte offset 0\n"
    out = vegafs.run("validate", "tree", "--as", "ini", cwd=tree.parent)
    assert (out.returncode, out.stdout) == (2, b"")
    assert out.stderr.startswith("vegafs: error: invalid --as: Input should be 'json', 'jsonl'")


def test_csv_header(vegafs: Vegafs, tmp_path: Path) -> None:
    (tmp_path / "ok.csv").write_bytes(b"id,name\n1,x\n")
    (tmp_path / "dup.csv").write_bytes(b"id,name,id\n1,x,2\n")
    (tmp_path / "empty.tsv").write_bytes(b"id\t\n1\t2\n")
    out = vegafs.run("validate", ".", "--header", cwd=tmp_path)
    assert out.returncode == 1
    assert sorted(out.text.splitlines()) == [
        './dup.csv:1:1: csv: header: field 3 repeats the name "id" of field 1',
        "./empty.tsv:1:1: tsv: header: field 2 has no name",
    ]
    out = vegafs.run("validate", ".", cwd=tmp_path)
    assert (out.returncode, out.stdout) == (0, b"")


def test_zstd_whole_and_truncated(vegafs: Vegafs, tmp_path: Path) -> None:
    data = zstd(b"a,b\n1,2\n" * 1000)
    (tmp_path / "ok.csv.zst").write_bytes(data)
    (tmp_path / "cut.csv.zst").write_bytes(data[:-4])
    (tmp_path / "bad.csv.zst").write_bytes(zstd(b"a,b\n1\n"))
    (tmp_path / "junk.zst").write_bytes(b"garbage")
    out = vegafs.run("validate", ".", "--json", cwd=tmp_path)
    assert out.returncode == 1
    assert rows_of(out.stdout) == [
        {"path": "./bad.csv.zst", "format": "csv", "line": 2, "column": 1,
         "message": "1 field where the first record has 2"},
        {"path": "./cut.csv.zst", "format": "zstd", "line": None, "column": None,
         "message": "truncated: the stream ends early"},
        {"path": "./junk.zst", "format": "zstd", "line": None, "column": None,
         "message": "not a zstd stream (bad magic number)"},
    ]  # fmt: skip


def test_a_schema_applies_to_json_and_each_json_line(vegafs: Vegafs, tmp_path: Path) -> None:
    (tmp_path / "schema.json").write_text(json.dumps(SCHEMA))
    data = tmp_path / "data"
    data.mkdir()
    (data / "ok.json").write_text('{"id": 1}')
    (data / "bad.json").write_text('{"id": "x"}')
    (data / "lines.jsonl").write_text('{"id": 1}\n{}\n{"id": 2.5}\n')
    (data / "conf.yaml").write_text("id: x\n")  # not checked against the schema
    out = vegafs.run("validate", "data", "--schema", "schema.json", cwd=tmp_path)
    assert out.returncode == 1
    assert sorted(out.text.splitlines()) == [
        'data/bad.json: json: schema: /id: "x" is not of type "integer"',
        'data/lines.jsonl:2: jsonl: schema: /: "id" is a required property',
        'data/lines.jsonl:3: jsonl: schema: /id: 2.5 is not of type "integer"',
    ]


def test_a_bad_schema_is_a_usage_error_naming_the_file(vegafs: Vegafs, tmp_path: Path) -> None:
    (tmp_path / "a.json").write_text("{}")
    (tmp_path / "broken.json").write_text('{"type": ')
    out = vegafs.run("validate", "a.json", "--schema", "broken.json", cwd=tmp_path)
    assert (out.returncode, out.stdout) == (2, b"")
    assert out.stderr == (
        "vegafs: error: broken.json: not JSON: EOF while parsing a value at line 1 column 9\n"
    )
    (tmp_path / "wrong.json").write_text('{"type": 12}')
    out = vegafs.run("validate", "a.json", "--schema", "wrong.json", cwd=tmp_path)
    assert (out.returncode, out.stdout) == (2, b"")
    assert out.stderr.startswith("vegafs: error: wrong.json: not a valid JSON Schema: ")
    out = vegafs.run("validate", "a.json", "--schema", "missing.json", cwd=tmp_path)
    assert (out.returncode, out.stdout) == (2, b"")
    assert out.stderr == "vegafs: error: missing.json: No such file or directory\n"


def test_fifos_are_never_opened_and_odd_names_are_shown(vegafs: Vegafs, tmp_path: Path) -> None:
    os.mkfifo(tmp_path / "pipe.json")
    (tmp_path / "link.json").symlink_to("pipe.json")
    fd = os.open(os.fsencode(tmp_path) + b"/caf\xe9.json", os.O_WRONLY | os.O_CREAT, 0o644)
    os.write(fd, b"[1,")
    os.close(fd)
    out = vegafs.run("validate", ".", cwd=tmp_path, timeout=30)
    assert out.returncode == 1
    assert out.stdout == b"./caf\\xe9.json:1:3: json: EOF while parsing a value\n"
    out = vegafs.run("validate", ".", "--json", cwd=tmp_path, timeout=30)
    assert rows_of(out.stdout) == [
        {"path": "./caf\udce9.json", "format": "json", "line": 1, "column": 3,
         "message": "EOF while parsing a value"}
    ]  # fmt: skip


def test_unreadable_files_are_errors_exit_2(
    vegafs: Vegafs, locked_tree: Path, unprivileged: list[str]
) -> None:
    (locked_tree / "open" / "bad.json").write_text("[")
    secret = locked_tree / "open" / "secret.json"
    secret.write_text("{}")
    secret.chmod(0)
    out = vegafs.run("validate", "tree", cwd=locked_tree.parent, prefix=unprivileged)
    assert out.returncode == 2
    assert out.text == "tree/open/bad.json:1:1: json: EOF while parsing a list\n"
    assert out.stderr.splitlines() == [
        "vegafs: tree/locked: Permission denied (os error 13)",
        "vegafs: tree/open/secret.json: Permission denied (os error 13)",
        "vegafs: 1 of 1 files failed validation",
        "vegafs: 2 entries could not be read",
    ]


def test_a_validate_job_pages_its_rows_and_confines_the_schema(
    stack: Stack, service_root: Path, tmp_path: Path
) -> None:
    data = service_root / "data"
    data.mkdir()
    for i in range(5):
        (data / f"bad{i}.json").write_text(json.dumps({"id": f"x{i}"}))
    (data / "ok.json").write_text('{"id": 1}')
    schema = service_root / "schema.json"
    schema.write_text(json.dumps(SCHEMA))
    params: dict[str, Any] = {"selection": {"roots": [str(data)]}, "schema_file": str(schema)}
    body = {"operation": "validate", "params": params}
    with stack.client() as http:
        r = http.post("/jobs", json=body)
        assert r.status_code == 202, r.text
        job = stack.wait_job(http, r.json()["id"], {"succeeded", "failed"})
        assert job["status"] == "succeeded", job
        summary = job["summary"]
        assert (summary["files"], summary["ok"], summary["failed"]) == (6, 1, 5)
        assert summary["by_format"] == {"json": {"ok": 1, "failed": 5}}
        assert job["result_rows"] == 5
        rows = []
        cursor = None
        while True:
            query: dict[str, Any] = {"limit": 2, **({"cursor": cursor} if cursor else {})}
            page = http.get(f"/jobs/{job['id']}/results", params=query).json()
            rows += [item["data"] for item in page["items"]]
            cursor = page["next_cursor"]
            if cursor is None:
                break
        assert sorted(rows, key=lambda r: r["path"]) == [
            {"path": str(data / f"bad{i}.json"), "format": "json", "line": None, "column": None,
             "message": f'schema: /id: "x{i}" is not of type "integer"'}
            for i in range(5)
        ]  # fmt: skip
        outside = tmp_path / "outside.json"
        outside.write_text("{}")
        r = http.post("/jobs", json={**body, "params": {**params, "schema_file": str(outside)}})
        assert r.status_code == 422
        assert r.json()["detail"] == f"{outside}: is outside the allowed roots"
        broken = service_root / "broken.json"
        broken.write_text("{")
        r = http.post("/jobs", json={**body, "params": {**params, "schema_file": str(broken)}})
        assert r.status_code == 422
        assert r.json()["detail"] == (
            f"invalid schema_file: {broken}: not JSON: EOF while parsing an object at line 1 "
            "column 1"
        )
    out = run(stack, "validate", str(data), "--schema", str(schema), "--submit", "--wait")
    assert out.returncode == 1, out.stderr
    assert sorted(out.stdout.splitlines()) == [
        f'{data}/bad{i}.json: json: schema: /id: "x{i}" is not of type "integer"' for i in range(5)
    ]
    assert refused(run(stack, "validate", str(data), "--schema", str(tmp_path / "no.json"),
                       "--submit")).startswith("vegafs: error: ")  # fmt: skip


@pytest.mark.parametrize(
    ("args", "quick"),
    [
        (["validate", "tree"], True),
        (["validate", "tree", "--json", "-g", "bad*"], True),
        (["validate", "tree", "--as", "utf8", "--header", "--max-errors", "3"], True),
        (["validate", "tree/ok.json", "--schema", "tree/bad.json"], True),  # exit 2
        (["validate", "tree", "--schema", "missing.json"], True),  # exit 2
        (["validate", "tree", "--as", "ini"], False),  # the full command names the choices
        (["validate", "tree", "--max-errors", "-1"], False),
    ],
)
def test_the_quick_path_prints_what_the_full_command_prints(
    vegafs_exe: Path, tree: Path, args: list[str], quick: bool
) -> None:
    from test_cli_quick import run as run_both_ways

    code, out, err, heavy = run_both_ways(vegafs_exe, args, tree.parent, quick=True)
    assert heavy is not quick, "the quick path ran" if heavy is False else "it fell back"
    full = run_both_ways(vegafs_exe, args, tree.parent, quick=False)
    assert full[3]
    assert (code, sorted(out.splitlines()), err) == (full[0], sorted(full[1].splitlines()), full[2])


def test_a_cancel_stops_inside_a_big_file(tmp_path: Path) -> None:
    """A 64 GiB sparse text file takes many seconds to check: a cancel stops it in under 2 s."""
    import threading
    import time

    from vegafs import engine
    from vegafs.errors import Cancelled

    big = tmp_path / "zeros.txt"
    with big.open("wb") as f:
        f.truncate(64 * 1024**3)
    cancel = engine.CancelToken()
    cancelled_at: list[float] = []

    def cancel_now() -> None:
        cancelled_at.append(time.monotonic())
        cancel.cancel()

    threading.Timer(0.3, cancel_now).start()
    with pytest.raises(Cancelled), engine.validate_files(big, cancel=cancel) as stream:
        list(stream)
    # Reading the whole file takes several times longer; a loaded machine still stops in time.
    assert time.monotonic() - cancelled_at[0] < 2.0

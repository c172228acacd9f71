"""`vegafs verify MANIFEST`: manifests of `vegafs hash`, b3sum, sha256sum and xxhsum -H3 checked
file by file (ok, changed, missing, unreadable), malformed manifests refused naming the line, the
Python API, and the job on SQLite and PostgreSQL, where no listed path leaves the roots."""

import hashlib
import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import httpx
import pytest

from conftest import SUBPROCESS_TIMEOUT, Vegafs
from stack import Stack
from test_cli_hash import raw_name, tool
from test_cli_jobs import ok, refused, run
from test_walk_handles import NAME, deep_chain
from vegafs import engine
from vegafs.errors import ManifestError

NOT_A_LINE = "not a checksum line (DIGEST  NAME, DIGEST *NAME or TAG (NAME) = DIGEST)"

# The names a checksum line must escape or keep exact, and their contents.
NAMES = {
    b"plain.txt": b"plain",
    b"with space": b"space",
    b"back\\slash": b"back",
    b"new\nline": b"newline",
    b"caf\xe9.txt": b"not utf-8",
    b"sub/deeper": b"deep",
}


def shown(name: bytes) -> str:
    """A name as `vegafs verify` shows it (show_path): \\n, \\xNN."""
    return name.decode("utf-8", "backslashreplace").replace("\n", "\\n")


@pytest.fixture
def tree(tmp_path: Path) -> Path:
    root = tmp_path / "tree"
    (root / "sub").mkdir(parents=True)
    for name, content in NAMES.items():
        raw_name(root, name, content)
    return root


def ok_lines(names: list[bytes], prefix: bytes = b"tree/") -> list[str]:
    return sorted(f"{shown(prefix + n)}: OK" for n in names)


@pytest.mark.parametrize(
    ("algo", "args"), [("blake3", []), ("sha256", ["--algo", "sha256"]), ("xxh3", [])]
)
def test_a_manifest_of_vegafs_hash_verifies(
    vegafs: Vegafs, tree: Path, algo: str, args: list[str]
) -> None:
    out = vegafs.run("hash", "tree", "--algo", algo, "--manifest", "sums", cwd=tree.parent)
    assert out.returncode == 0, out.stderr
    done = vegafs.run("verify", "sums", *args, cwd=tree.parent)
    assert (done.returncode, done.stderr) == (0, "")
    assert sorted(done.text.splitlines()) == ok_lines(list(NAMES))
    # The rows come in the manifest's order.
    manifest_order = [line.split(": OK")[0] for line in done.text.splitlines()]
    listed = vegafs.run("verify", "sums", *args, "--json", cwd=tree.parent)
    paths = [json.loads(line)["path"] for line in listed.stdout.splitlines()]
    assert [shown(os.fsencode(p)) for p in paths] == manifest_order


def test_sha256_digests_taken_for_blake3_get_a_hint(vegafs: Vegafs, tree: Path) -> None:
    (tree / "sub" / "deeper").unlink()
    for name in list(NAMES)[1:5]:
        (tree / os.fsdecode(name)).unlink()
    out = vegafs.run("hash", "tree", "--algo", "sha256", "--manifest", "sums", cwd=tree.parent)
    assert out.returncode == 0, out.stderr
    done = vegafs.run("verify", "sums", cwd=tree.parent)
    assert done.returncode == 1
    assert done.text == "tree/plain.txt: CHANGED\n"
    assert done.stderr == (
        "vegafs: sums: 1 changed of 1 file (0 ok)\n"
        "vegafs: hint: every file read differs, but tree/plain.txt matches as sha256: the "
        "manifest holds sha256 digests (--algo sha256)\n"
    )
    row = json.loads(vegafs.run("verify", "sums", "--json", cwd=tree.parent).stdout)
    assert row == {
        "path": "tree/plain.txt",
        "status": "changed",
        "expected": hashlib.sha256(b"plain").hexdigest(),
        "actual": blake3_of(tree / "plain.txt"),
        "message": None,
    }


def blake3_of(path: Path) -> str:
    done = subprocess.run([tool("b3sum"), "--no-names", str(path)], capture_output=True,
                          text=True, check=True, timeout=SUBPROCESS_TIMEOUT)  # fmt: skip
    return done.stdout.strip()


def their_manifest(tree: Path, command: list[str], names: list[bytes]) -> bytes:
    files = [os.fsdecode(b"tree/" + n) for n in names]
    done = subprocess.run([tool(command[0]), *command[1:], *files], cwd=tree.parent,
                          capture_output=True, check=True,
                          timeout=SUBPROCESS_TIMEOUT)  # fmt: skip
    return done.stdout


@pytest.mark.parametrize(
    ("command", "args"),
    [
        (["b3sum"], []),
        (["sha256sum"], ["--algo", "sha256"]),
        (["sha256sum", "--binary"], ["--algo", "sha256"]),
        (["sha256sum", "--tag"], []),
        (["xxhsum", "-H3"], []),
    ],
)
def test_the_tools_manifests_verify(
    vegafs: Vegafs, tree: Path, command: list[str], args: list[str]
) -> None:
    names = list(NAMES)
    if command[0] == "xxhsum":  # xxhsum writes a newline in a name as it is: a broken line
        names.remove(b"new\nline")
    (tree.parent / "sums").write_bytes(their_manifest(tree, command, names))
    done = vegafs.run("verify", "sums", *args, cwd=tree.parent)
    if command[0] != "b3sum":
        assert (done.returncode, done.stderr) == (0, "")
        assert sorted(done.text.splitlines()) == ok_lines(names)
        return
    # b3sum writes a name that is not UTF-8 with U+FFFD in its place: no such file.
    assert done.returncode == 1
    names.remove(b"caf\xe9.txt")
    assert sorted(done.text.splitlines()) == sorted(
        [*ok_lines(names), "tree/caf\ufffd.txt: MISSING (No such file or directory)"]
    )
    assert done.stderr == "vegafs: sums: 1 missing of 6 files (5 ok)\n"


def test_crlf_lines_blank_lines_and_upper_case_digits(vegafs: Vegafs, tree: Path) -> None:
    theirs = their_manifest(tree, ["sha256sum"], [b"plain.txt", b"with space"])
    first, second = theirs.splitlines()
    upper = first.upper().replace(b"TREE/PLAIN.TXT", b"tree/plain.txt")
    (tree.parent / "sums").write_bytes(b"\r\n" + upper + b"\r\n\n" + second + b"\r\n")
    done = vegafs.run("verify", "sums", "--algo", "sha256", cwd=tree.parent)
    assert (done.returncode, done.stderr) == (0, "")
    assert done.text == "tree/plain.txt: OK\ntree/with space: OK\n"


def test_every_status_and_quiet(vegafs: Vegafs, tree: Path, unprivileged: list[str]) -> None:
    sums = their_manifest(tree, ["b3sum"], [b"plain.txt", b"with space", b"sub/deeper"])
    (tree / "plain.txt").write_bytes(b"changed")
    (tree / "with space").unlink()
    (tree / "sub" / "deeper").chmod(0)
    os.mkfifo(tree / "fifo")
    digest = b"0" * 64
    extra = b"".join(digest + b"  tree/" + n + b"\n" for n in (b"fifo", b"sub", b"plain.txt/x"))
    (tree.parent / "sums").write_bytes(sums + extra)
    done = vegafs.run("verify", "sums", cwd=tree.parent, prefix=unprivileged, timeout=20)
    expected = [
        "tree/plain.txt: CHANGED",
        "tree/with space: MISSING (No such file or directory)",
        "tree/sub/deeper: UNREADABLE (Permission denied)",
        "tree/fifo: UNREADABLE (is a FIFO (not read))",
        "tree/sub: UNREADABLE (is a directory)",
        "tree/plain.txt/x: MISSING (Not a directory)",
    ]
    assert (done.returncode, done.text.splitlines()) == (1, expected)
    assert done.stderr == "vegafs: sums: 1 changed, 2 missing, 3 unreadable of 6 files (0 ok)\n"
    (tree / "sub" / "deeper").chmod(0o644)
    quiet = vegafs.run("verify", "sums", "-q", cwd=tree.parent, timeout=20)
    assert quiet.text.splitlines() == [line for i, line in enumerate(expected) if i != 2]
    rows = [json.loads(x) for x in vegafs.run("verify", "sums", "--json", "--quiet",
                                              cwd=tree.parent).stdout.splitlines()]  # fmt: skip
    assert [(r["path"], r["status"], r["message"]) for r in rows] == [
        ("tree/plain.txt", "changed", None),
        ("tree/with space", "missing", "No such file or directory"),
        ("tree/fifo", "unreadable", "is a FIFO (not read)"),
        ("tree/sub", "unreadable", "is a directory"),
        ("tree/plain.txt/x", "missing", "Not a directory"),
    ]
    all_ok = tree.parent / "ok"
    all_ok.write_bytes(sums.splitlines(keepends=True)[2])
    (tree / "sub" / "deeper").write_bytes(b"deep")
    silent = vegafs.run("verify", "ok", "--quiet", cwd=tree.parent)
    assert (silent.returncode, silent.stdout, silent.stderr) == (0, b"", "")


def test_base_absolute_names_and_dot_dot(vegafs: Vegafs, tree: Path, tmp_path: Path) -> None:
    b3 = blake3_of(tree / "plain.txt")
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    lines = [f"{b3}  plain.txt", f"{b3}  {tree / 'plain.txt'}", f"{b3}  sub/../plain.txt"]
    (elsewhere / "sums").write_text("\n".join(lines) + "\n")
    done = vegafs.run("verify", "sums", "--base", str(tree), cwd=elsewhere)
    assert (done.returncode, done.stderr) == (0, "")
    assert done.text.splitlines() == [f"{line.split('  ', 1)[1]}: OK" for line in lines]
    done = vegafs.run("verify", "elsewhere/sums", "--base", "tree", cwd=tmp_path)
    assert (done.returncode, done.stderr) == (0, "")
    nowhere = vegafs.run("verify", "sums", "--base", "nowhere", cwd=elsewhere)
    assert (nowhere.returncode, nowhere.stdout) == (2, b"")
    assert nowhere.stderr == "vegafs: error: nowhere: No such file or directory\n"


def test_a_file_below_path_max_verifies(vegafs: Vegafs, tmp_path: Path) -> None:
    deep_chain(tmp_path / "tree", 200)
    out = vegafs.run("hash", "tree", "-g", "bottom.txt", "--manifest", "sums", cwd=tmp_path)
    assert out.returncode == 0, out.stderr
    done = vegafs.run("verify", "sums", cwd=tmp_path)
    assert (done.returncode, done.stderr) == (0, "")
    assert done.text == f"tree/{NAME * 200}bottom.txt: OK\n"


@pytest.mark.parametrize(
    ("content", "args", "error"),
    [
        (b"%s  a\nnot a checksum line\n", [], f"sums: line 2: {NOT_A_LINE}"),
        (b"%sa\n", [], f"sums: line 1: {NOT_A_LINE}"),
        (b"\n\n%s  \n", [], "sums: line 3: no file name"),
        (b"\\%s  a\\tb\n", [],
         'sums: line 1: unknown escape "\\t" in the name (only \\\\, \\n, \\r)'),
        (b"%s  a\nXXH3 (b) = 0011223344556677\n", [],
         "sums: line 2: XXH3 line, but line 1 has 64 hex digits and no tag: one algorithm per "
         "manifest"),
        (b"XXH3 (b) = 0011223344556677\n%s  a\n", [],
         "sums: line 2: a digest of 64 hex digits, but xxh3 digests have 16"),
        (b"0011223344556677  a\n", [], "sums: line 1: 16 hex digits with no tag: XXH64 "
         "(xxhsum's default) is not supported; XXH3 digits need --algo xxh3 (xxhsum -H3 writes "
         "XXH3 (NAME) = DIGEST)"),
        (b"XXH3 (a) = 0011223344556677\n", ["--algo", "sha256"],
         "sums: line 1: XXH3 line, but the algorithm asked for is sha256"),
        (b"", [], "sums: no checksum lines (nothing to verify)"),
        (b"\n \r\n", [], "sums: no checksum lines (nothing to verify)"),
    ],
)  # fmt: skip
def test_a_malformed_manifest_is_refused_naming_the_line(
    vegafs: Vegafs, tmp_path: Path, content: bytes, args: list[str], error: str
) -> None:
    (tmp_path / "a").write_bytes(b"a")
    text = content.replace(b"%s", b"a" * 64) if b"%s" in content else content
    (tmp_path / "sums").write_bytes(text)
    done = vegafs.run("verify", "sums", *args, cwd=tmp_path)
    assert (done.returncode, done.stdout) == (2, b"")
    assert done.stderr == f"vegafs: error: {error}\n"


def test_a_manifest_that_cannot_be_read(vegafs: Vegafs, tmp_path: Path) -> None:
    done = vegafs.run("verify", "nope", cwd=tmp_path)
    assert (done.returncode, done.stdout) == (2, b"")
    assert done.stderr == "vegafs: error: nope: No such file or directory\n"
    os.mkfifo(tmp_path / "fifo")
    done = vegafs.run("verify", "fifo", cwd=tmp_path, timeout=20)
    assert (done.returncode, done.stderr) == (2, "vegafs: error: fifo: is a FIFO (not read)\n")
    done = vegafs.run("verify", "sums", "--algo", "md5", cwd=tmp_path)
    assert (done.returncode, done.stdout) == (2, b"")
    assert done.stderr.startswith("vegafs: error: invalid --algo: Input should be 'blake3'")


def test_the_python_api(tree: Path) -> None:
    sums = their_manifest(tree, ["sha256sum"], [b"plain.txt", b"caf\xe9.txt"])
    (tree.parent / "sums").write_bytes(sums + b"0" * 64 + b"  tree/gone\n")
    with engine.verify_files(tree.parent / "sums", base=tree.parent, algorithm="sha256") as s:
        rows = [row for batch in s for row in batch]
        summary = engine.VerifySummary.model_validate(s.summary())
    assert [engine.VerifyRow.model_validate(r).status for r in rows] == ["ok", "ok", "missing"]
    assert rows[1]["path"] == os.fsdecode(b"tree/caf\xe9.txt")  # os.fsencode gives the bytes
    counts = (summary.files, summary.ok, summary.changed, summary.missing, summary.unreadable)
    assert counts == (3, 2, 0, 1, 0)
    assert (summary.bytes, summary.error_count, summary.algorithm) == (14, 1, "sha256")
    assert [e.model_dump() for e in summary.errors] == [
        {"path": "tree/gone", "kind": "vanished", "error": "No such file or directory"}
    ]
    assert (summary.algorithm_from, summary.hint, summary.all_ok) == ("option", None, False)
    (tree.parent / "bad").write_bytes(b"x\n")
    with pytest.raises(ManifestError) as caught, engine.verify_files(tree.parent / "bad") as s:
        list(s)
    assert (caught.value.path, caught.value.line) == (str(tree.parent / "bad"), 1)


def test_a_verify_job_checks_inside_the_roots_only(stack: Stack, service_root: Path) -> None:
    outside = service_root.parent / "secret"
    outside.write_bytes(b"three")  # same content as a file inside: only confinement tells
    sums = ok(run(None, "hash", ".", "--algo", "sha256", cwd=service_root)).encode()
    digest = hashlib.sha256(b"three").hexdigest().encode()
    escapes = [b"../secret", str(outside).encode(), b"a/../../secret"]
    (service_root / "sums").write_bytes(
        sums + b"".join(digest + b"  " + e + b"\n" for e in escapes)
    )
    local = run(None, "verify", "sums", "--algo", "sha256", "--json", cwd=service_root)
    assert local.returncode == 0, local.stderr  # locally `..` and absolute paths are read
    remote = run(stack, "verify", "sums", "--algo", "sha256", "--json", "--submit", "--wait",
                 cwd=service_root)  # fmt: skip
    assert remote.returncode == 1, remote.stderr
    rows = [json.loads(line) for line in remote.stdout.splitlines()]
    message = "is outside the allowed roots (not opened)"
    assert [(r["path"], r["status"], r["message"]) for r in rows[-3:]] == [
        (os.fsdecode(e), "unreadable", message) for e in escapes
    ]
    assert [r["status"] for r in rows[:-3]] == ["ok"] * 3
    counts = f"vegafs: {service_root / 'sums'}: 3 unreadable of 6 files (3 ok)\n"
    assert remote.stderr.endswith(counts)
    submitted = run(stack, "jobs", "submit", "verify", "sums", "--quiet", cwd=service_root)
    job_id = ok(submitted).strip()
    shown = json.loads(ok(run(stack, "jobs", "show", job_id, "--json")))
    assert shown["params"] == {
        "manifest": str(service_root / "sums"),
        "base": str(service_root),
        "algo": None,
        "max_errors": 1000,
    }
    with stack.client() as http:
        job = submit(http, {"manifest": str(service_root / "sums"), "base": str(service_root),
                            "algo": "sha256"})  # fmt: skip
        done = stack.wait_job(http, job["id"], {"succeeded", "failed"})
        assert done["status"] == "succeeded", done
        s = done["summary"]
        assert (s["files"], s["ok"], s["unreadable"], s["error_count"]) == (6, 3, 3, 3)
        assert s["manifest"] == str(service_root / "sums")
        for params, path in [
            ({"manifest": str(outside), "base": str(service_root)}, str(outside)),
            ({"manifest": str(service_root / "sums"), "base": str(service_root.parent)},
             str(service_root.parent)),
            ({"manifest": str(service_root / "sums")}, "."),
        ]:  # fmt: skip
            r = http.post("/jobs", json={"operation": "verify", "params": params})
            assert r.status_code == 422, r.text
            assert r.json()["type"].endswith("path-not-allowed"), r.json()
            assert r.json()["path"] == path
        (service_root / "bad").write_bytes(b"nonsense\n")
        job = submit(http, {"manifest": str(service_root / "bad"), "base": str(service_root)})
        done = stack.wait_job(http, job["id"], {"succeeded", "failed"})
        assert (done["status"], done["attempts"]) == ("failed", 1)
        assert done["error"] == {
            "type": "invalid-manifest",
            "message": f"{service_root / 'bad'}: line 1: {NOT_A_LINE}",
            "path": str(service_root / "bad"),
            "line": 1,
        }
        (service_root / "empty").write_bytes(b"\n")
        job = submit(http, {"manifest": str(service_root / "empty"), "base": str(service_root)})
        done = stack.wait_job(http, job["id"], {"succeeded", "failed"})
        assert (done["status"], done["error"]["type"], done["error"]["line"]) == (
            "failed",
            "invalid-manifest",
            0,
        )
        assert done["error"]["message"] == (
            f"{service_root / 'empty'}: no checksum lines (nothing to verify)"
        )


def submit(http: httpx.Client, params: dict[str, Any]) -> dict[str, Any]:
    r = http.post("/jobs", json={"operation": "verify", "params": params})
    assert r.status_code == 202, r.text
    job: dict[str, Any] = r.json()
    return job


def test_verify_needs_its_manifest(vegafs: Vegafs, tmp_path: Path) -> None:
    done = vegafs.run("verify", "--algo", "sha256", cwd=tmp_path)
    assert (done.returncode, done.stdout) == (2, b"")
    assert done.stderr.splitlines()[0] == (
        "vegafs: error: missing MANIFEST: the checksum file: lines of b3sum, sha256sum, xxhsum "
        "-H3 or vegafs hash"
    )
    assert refused(run(None, "verify", "a", "b", cwd=tmp_path)).startswith("Usage:")


def test_the_summary_lists_failures_with_their_kind(
    tmp_path: Path, unprivileged: list[str]
) -> None:
    (tmp_path / "locked").write_bytes(b"x")
    (tmp_path / "locked").chmod(0)
    (tmp_path / "sums").write_bytes(b"0" * 64 + b"  locked\n" + b"0" * 64 + b"  gone\n")
    script = (
        "import json; from vegafs import engine\n"
        "with engine.verify_files('sums') as s:\n"
        "    rows = [r for b in s for r in b]\n"
        "print(json.dumps(engine.VerifySummary.model_validate(s.summary()).model_dump()['errors']))"
    )
    command = [*unprivileged, sys.executable, "-c", script]
    done = subprocess.run(
        command,
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=SUBPROCESS_TIMEOUT,
        check=True,
    )
    assert json.loads(done.stdout) == [
        {"path": "gone", "kind": "vanished", "error": "No such file or directory"},
        {"path": "locked", "kind": "permission_denied", "error": "Permission denied"},
    ]

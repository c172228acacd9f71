"""`vegafs hash`: the lines of b3sum, sha256sum and xxhsum -H3, byte for byte, and manifests
those tools check; unreadable files, FIFOs, symlinks, a chain deeper than PATH_MAX, jobs."""

import hashlib
import json
import os
import shutil
import subprocess
from pathlib import Path

import pytest

from conftest import SUBPROCESS_TIMEOUT, Vegafs, write
from stack import Stack
from test_cli_jobs import ok, refused, run
from test_walk_handles import NAME, deep_chain


def tool(name: str) -> str:
    path = shutil.which(name)
    if path is None:
        pytest.skip(f"{name} is missing (the Makefile installs it: scripts/ensure-packages.sh)")
    return path


def raw_name(directory: Path, name: bytes, content: bytes) -> None:
    fd = os.open(os.fsencode(directory) + b"/" + name, os.O_WRONLY | os.O_CREAT, 0o644)
    os.write(fd, content)
    os.close(fd)


@pytest.fixture
def tree(tmp_path: Path) -> Path:
    """Names a checksum file must escape (backslash, newline, carriage return), one that is
    not UTF-8, an empty file, a file of 9 MiB (hashed on all cores), a symlink and a FIFO."""
    root = tmp_path / "tree"
    write(root / "a.txt", 100)
    write(root / "sub" / "empty", 0)
    (root / "sub" / "big.bin").write_bytes(bytes(range(256)) * (9 * 4096))
    for name, content in [(b"back\\slash", b"1"), (b"new\nline", b"2"), (b"car\rriage", b"3")]:
        raw_name(root / "sub", name, content)
    raw_name(root, b"caf\xe9.txt", b"caf")
    (root / "link").symlink_to("a.txt")
    os.mkfifo(root / "fifo")
    return root


def tree_files(root: Path) -> list[str]:
    """The regular files below `root`, as arguments for the tools (relative to its parent)."""
    out = subprocess.run(["find", root.name, "-type", "f", "-print0"], cwd=root.parent,
                         capture_output=True, check=True, timeout=SUBPROCESS_TIMEOUT)  # fmt: skip
    return sorted(os.fsdecode(p) for p in out.stdout.split(b"\0") if p)


def lines(data: bytes) -> list[bytes]:
    """Checksum lines, sorted (a newline inside an escaped name is written as backslash-n; a
    carriage return may be there as it is)."""
    return sorted(data.split(b"\n")[:-1])


@pytest.mark.parametrize(
    ("algo", "command"),
    [("sha256", ["sha256sum"]), ("blake3", ["b3sum"]), ("xxh3", ["xxhsum", "-H3"])],
)
def test_lines_are_the_tools_own(vegafs: Vegafs, tree: Path, algo: str, command: list[str]) -> None:
    files = tree_files(tree)
    if algo == "blake3":  # b3sum writes a name that is not UTF-8 as U+FFFD: it cannot match
        files = [f for f in files if "caf" not in f]
    if algo == "xxh3":  # xxhsum writes a newline in a name as it is, on two lines
        files = [f for f in files if "\n" not in f]
    theirs = subprocess.run([tool(command[0]), *command[1:], *files], cwd=tree.parent,
                            capture_output=True, check=True,
                            timeout=SUBPROCESS_TIMEOUT)  # fmt: skip
    out = vegafs.run("hash", "tree", "--algo", algo, cwd=tree.parent)
    assert (out.returncode, out.stderr) == (0, "")
    ours = [line for line in lines(out.stdout) if algo != "blake3" or b"caf\xe9" not in line]
    if algo == "xxh3":
        ours = [line for line in ours if b"new\\nline" not in line]
    assert ours == lines(theirs.stdout)
    assert len(ours) == len(files)


@pytest.mark.parametrize(
    ("algo", "check"),
    [("sha256", ["sha256sum", "-c", "--strict"]), ("blake3", ["b3sum", "--check"])],
)
def test_the_tools_check_our_manifest(
    vegafs: Vegafs, tree: Path, algo: str, check: list[str]
) -> None:
    if algo == "blake3":  # b3sum --check stops at a name that is not UTF-8
        (tree / os.fsdecode(b"caf\xe9.txt")).unlink()
    out = vegafs.run("hash", "tree", "--algo", algo, "--manifest", "sums", cwd=tree.parent)
    assert (out.returncode, out.stdout) == (0, b"")
    n = len(tree_files(tree))
    assert out.stderr == f"vegafs: {n} digests written to sums\n"
    done = subprocess.run([tool(check[0]), *check[1:], "sums"], cwd=tree.parent,
                          capture_output=True, timeout=SUBPROCESS_TIMEOUT, check=False)  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert done.stdout.count(b": OK\n") == n
    assert sorted(p.name for p in tree.parent.iterdir()) == ["sums", "tree"]  # no temp left


def test_a_manifest_is_never_replaced(vegafs: Vegafs, tree: Path) -> None:
    (tree.parent / "sums").write_bytes(b"precious")
    out = vegafs.run("hash", "tree", "--manifest", "sums", cwd=tree.parent)
    assert (out.returncode, out.stdout) == (2, b"")
    assert out.stderr == "vegafs: error: sums: exists (not replaced)\n"
    assert (tree.parent / "sums").read_bytes() == b"precious"
    out = vegafs.run("hash", "tree", "--manifest", "nowhere/sums", cwd=tree.parent)
    assert (out.returncode, out.stderr) == (2, "vegafs: error: nowhere: no such directory\n")
    out = vegafs.run("hash", "tree", "--manifest", "x", "--json", cwd=tree.parent)
    assert (out.returncode, out.stdout) == (2, b"")
    assert out.stderr == "vegafs: error: choose one of --json and --manifest\n"


def test_json_rows_and_a_bad_algorithm(vegafs: Vegafs, tree: Path) -> None:
    out = vegafs.run("hash", "tree/sub", "--json", "-g", "big.bin", cwd=tree.parent)
    assert (out.returncode, out.stderr) == (0, "")
    content = (tree / "sub" / "big.bin").read_bytes()
    assert [json.loads(line) for line in out.stdout.splitlines()] == [
        {"path": "tree/sub/big.bin", "size": len(content), "digest": blake3_hex(tree / "sub")}
    ]
    out = vegafs.run("hash", "tree", "--algo", "md5", cwd=tree.parent)
    assert (out.returncode, out.stdout) == (2, b"")
    assert out.stderr.startswith("vegafs: error: invalid --algo: Input should be 'blake3'")


def blake3_hex(sub: Path) -> str:
    done = subprocess.run([tool("b3sum"), "--no-names", str(sub / "big.bin")], capture_output=True,
                          text=True, check=True, timeout=SUBPROCESS_TIMEOUT)  # fmt: skip
    return done.stdout.strip()


def test_unreadable_files_are_listed_and_the_rest_hashed(
    vegafs: Vegafs, locked_tree: Path, unprivileged: list[str]
) -> None:
    secret = locked_tree / "open" / "secret"
    secret.write_bytes(b"no")
    secret.chmod(0)
    out = vegafs.run("hash", "tree", "--algo", "sha256", cwd=locked_tree.parent,
                     prefix=unprivileged)  # fmt: skip
    assert out.returncode == 1
    assert lines(out.stdout) == sorted([
        hashlib.sha256(b"abc").hexdigest().encode() + b"  tree/open/f",
        hashlib.sha256(b"12345").hexdigest().encode() + b"  tree/open/g",
    ])  # fmt: skip
    assert out.stderr.splitlines() == [
        "vegafs: tree/locked: Permission denied (os error 13)",
        "vegafs: tree/open/secret: Permission denied (os error 13)",
        "vegafs: 2 entries could not be read",
    ]


def test_a_file_below_path_max_is_hashed(vegafs: Vegafs, tmp_path: Path) -> None:
    deep_chain(tmp_path / "tree", 200)
    out = vegafs.run("hash", "tree", "--algo", "sha256", "-g", "bottom.txt", cwd=tmp_path)
    assert (out.returncode, out.stderr) == (0, "")
    digest = hashlib.sha256(b"bottom!").hexdigest()
    assert out.stdout == f"{digest}  tree/{NAME * 200}bottom.txt\n".encode()


def test_a_hash_job_gives_the_rows_a_local_run_gives(stack: Stack, service_root: Path) -> None:
    local = ok(run(None, "hash", str(service_root), "--json"))
    remote = run(stack, "hash", str(service_root), "--json", "--submit", "--wait")
    assert remote.returncode == 0, remote.stderr
    assert sorted(remote.stdout.splitlines()) == sorted(local.splitlines())
    assert len(local.splitlines()) == 3  # the three files of the service root
    manifest = service_root.parent / "sums"
    remote = run(stack, "hash", str(service_root), "--submit", "--wait", f"--manifest={manifest}")
    assert remote.returncode == 0, remote.stderr
    assert sorted(manifest.read_text().splitlines()) == sorted(
        ok(run(None, "hash", str(service_root))).splitlines()
    )
    assert refused(run(stack, "hash", str(service_root), "--submit", "--manifest", "x")) == (
        "vegafs: error: --manifest with --submit needs --wait\n"
    )

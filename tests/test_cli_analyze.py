"""`vegafs analyze` as a user runs it: the installed executable in a subprocess."""

import os
import shutil
import signal
import subprocess
import time
from datetime import UTC, datetime
from pathlib import Path

import pytest

from conftest import MIB, SUBPROCESS_TIMEOUT, SampleTree, Vegafs, cli_env, write
from vegafs import Selection, __version__, analyze

NOW = 1_700_000_000
DAY = 86_400


def write_raw(directory: Path, name: bytes, size: int) -> bytes:
    raw = os.fsencode(directory) + b"/" + name
    fd = os.open(raw, os.O_WRONLY | os.O_CREAT, 0o644)
    os.write(fd, b"r" * size)
    os.close(fd)
    return raw


# --- output formats -------------------------------------------------------------------------


def test_json_has_the_schema_keys_and_counts_match_find_and_du(
    vegafs: Vegafs, sample_tree: SampleTree
) -> None:
    out = vegafs.run("analyze", "tree", "--json", cwd=sample_tree.root.parent)
    assert out.returncode == 0, out.stderr
    assert out.stderr == ""
    data = out.json()
    assert set(data) >= {
        "schema_version", "roots", "files", "dirs", "symlinks", "other", "apparent_bytes",
        "disk_bytes", "by_extension", "by_kind", "size_histogram", "age_histogram", "by_owner",
        "largest_files", "largest_dirs", "error_count", "errors", "elapsed_s",
    }  # fmt: skip
    assert data["schema_version"] == 1
    assert data["roots"] == ["tree"]
    assert data["files"] == sample_tree.files == 6
    assert data["dirs"] == sample_tree.dirs == 5
    assert data["symlinks"] == sample_tree.symlinks == 2
    assert data["other"] == sample_tree.other == 1
    assert data["apparent_bytes"] == sample_tree.apparent_bytes
    assert data["disk_bytes"] == sample_tree.disk_bytes
    assert data["repeated_links"] == 1
    assert data["largest_files"][0] == {"path": "tree/sparse.img", "bytes": 10 * MIB}
    assert (data["error_count"], data["errors"]) == (0, [])


def test_report_shows_counts_with_thousands_separators_and_largest_files(
    vegafs: Vegafs, tmp_path: Path
) -> None:
    root = tmp_path / "tree"
    for d in range(4):
        for i in range(300):
            write(root / f"d{d}" / f"f{i:03d}.log", 0)
    write(root / "d1" / "biggest.iso", 1_234_567)
    write(root / "second.csv", 2048)
    out = vegafs.run("analyze", "tree", cwd=tmp_path)
    assert out.returncode == 0, out.stderr
    report = out.text
    assert "VegaFS analysis of tree" in report
    summary = next(line for line in report.splitlines() if line.startswith("entries"))
    expected = "entries 1,207 (1,202 files, 5 dirs, 0 symlinks, 0 other)"
    assert " ".join(summary.split()) == expected
    assert "Largest files" in report
    assert "Largest directories" in report
    lines = report.splitlines()
    start = lines.index("Largest files")
    assert "tree/d1/biggest.iso" in lines[start + 2]
    assert "1.2 MiB" in lines[start + 2]
    assert "tree/second.csv" in lines[start + 3]


def test_non_utf8_name_is_escaped_in_the_report(vegafs: Vegafs, tmp_path: Path) -> None:
    (tmp_path / "tree").mkdir()
    write_raw(tmp_path / "tree", b"caf\xe9.txt", 5000)
    out = vegafs.run("analyze", "tree", cwd=tmp_path)
    assert out.returncode == 0, out.stderr
    assert "tree/caf\\xe9.txt" in out.text
    assert b"\xe9" not in out.stdout


def test_non_utf8_name_in_json_is_ascii_and_round_trips_to_its_bytes(
    vegafs: Vegafs, tmp_path: Path
) -> None:
    (tmp_path / "tree").mkdir()
    write_raw(tmp_path / "tree", b"caf\xe9.txt", 5000)
    out = vegafs.run("analyze", "tree", "--json", cwd=tmp_path)
    assert out.returncode == 0, out.stderr
    assert out.stdout.isascii()
    path = out.json()["largest_files"][0]["path"]
    assert os.fsencode(path) == b"tree/caf\xe9.txt"


def test_csv_has_its_header_a_summary_row_and_raw_path_bytes(
    vegafs: Vegafs, tmp_path: Path
) -> None:
    root = tmp_path / "tree"
    write(root / "a.txt", 10)
    write(root / "sub" / "b.py", 300)
    write_raw(root, b"caf\xe9.txt", 5000)
    expected = analyze(root)
    out = vegafs.run("analyze", "tree", "--csv", cwd=tmp_path)
    assert out.returncode == 0, out.stderr
    lines = out.stdout.split(b"\n")
    assert lines[0] == b"table,key,files,bytes"
    assert lines[1] == f"summary,all,3,{expected.apparent_bytes}".encode()
    assert b"extension,txt,2,5010" in lines
    assert b"extension,py,1,300" in lines
    assert b"largest_file,tree/caf\xe9.txt,,5000" in lines
    assert lines[-1] == b""


def test_options_build_the_same_selection_as_the_api(vegafs: Vegafs, tmp_path: Path) -> None:
    root = tmp_path / "tree"
    write(root / "keep.py", 100, NOW - 2 * DAY)
    write(root / "small.py", 5, NOW - 2 * DAY)
    write(root / "big.py", 5000, NOW - 2 * DAY)
    write(root / "old.py", 100, NOW - 40 * DAY)
    write(root / "notes.md", 100, NOW - 2 * DAY)
    write(root / "build" / "gen.py", 100, NOW - 2 * DAY)
    write(root / ".venv" / "lib.py", 100, NOW - 2 * DAY)
    write(root / "a" / "b" / "deep.py", 100, NOW - 2 * DAY)
    write(root / "a" / "shallow.py", 100, NOW - 2 * DAY)
    (root / "link.py").symlink_to("keep.py")
    out = vegafs.run(
        "analyze", "tree", "--json", "--now", f"@{NOW}", "-g", "*.py", "-E", "build",
        "--no-hidden", "-t", "f,l", "--min-size", "10", "--max-size", "1k", "--newer", "7d",
        "-d", "2", "--top", "3", cwd=tmp_path,
    )  # fmt: skip
    assert out.returncode == 0, out.stderr
    data = out.json()
    assert (data["files"], data["dirs"], data["symlinks"]) == (2, 0, 0)
    assert data["file_bytes"] == 200
    assert {p["path"] for p in data["largest_files"]} == {"tree/keep.py", "tree/a/shallow.py"}
    selection = Selection(
        roots=[root],
        include=["*.py"],
        exclude=["build"],
        hidden=False,
        types={"file", "symlink"},
        min_size=10,
        max_size=1024,
        newer_than=datetime.fromtimestamp(NOW - 7 * DAY, UTC),
        max_depth=2,
    )
    api = analyze(selection, now=NOW, top=3)
    assert (api.files, api.dirs, api.symlinks, api.file_bytes) == (2, 0, 0, 200)
    assert data["by_extension"] == [row.model_dump() for row in api.by_extension]


def test_now_pins_the_reference_time(vegafs: Vegafs, tmp_path: Path) -> None:
    write(tmp_path / "tree" / "f", 1, 1704067200 - 2 * DAY)
    out = vegafs.run("analyze", "tree", "--json", "--now", "2024-01-01T00:00:00Z", cwd=tmp_path)
    assert out.returncode == 0, out.stderr
    data = out.json()
    assert data["now"] == 1704067200
    assert [(b["bucket"], b["files"]) for b in data["age_histogram"] if b["files"]] == [("<1w", 1)]


def test_version_prints_the_package_version(vegafs: Vegafs, tmp_path: Path) -> None:
    out = vegafs.run("version", cwd=tmp_path)
    assert (out.returncode, out.text) == (0, f"{__version__}\n")


# --- exit codes -----------------------------------------------------------------------------


def test_missing_root_exits_2_naming_it(vegafs: Vegafs, tmp_path: Path) -> None:
    missing = tmp_path / "no-such-dir"
    out = vegafs.run("analyze", str(missing), cwd=tmp_path)
    assert out.returncode == 2
    assert out.stdout == b""
    assert f"vegafs: error: {missing}: No such file or directory" in out.stderr


def test_json_and_csv_together_exit_2(vegafs: Vegafs, tmp_path: Path) -> None:
    out = vegafs.run("analyze", ".", "--json", "--csv", cwd=tmp_path)
    assert out.returncode == 2
    assert out.stdout == b""
    assert "choose one of --json and --csv" in out.stderr


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["-g", "a["], 'vegafs: error: invalid -g/--include: "a["'),
        (["--min-size", "10q"], "vegafs: error: invalid --min-size: not a size: '10q'"),
        (["--min-size", "99999999999999999999T"], "vegafs: error: invalid --min-size: "),
        (["-t", "file,socket"], "vegafs: error: invalid -t/--type: unknown type 'socket'"),
        (["--newer", "last tuesday"], "vegafs: error: invalid --newer: not a time: 'last tuesday'"),
        (["--newer", "@1e20"], "vegafs: error: invalid --newer: not a time: '@1e20'"),
        (["--now", "99999999999999d"], "vegafs: error: invalid --now: not a time"),
        (
            ["--min-size", "10k", "--max-size", "1k"],
            "vegafs: error: invalid --min-size: 10240 is larger than --max-size 1024",
        ),
        (["-d", "-1"], "vegafs: error: invalid -d/--max-depth: Input should be greater than"),
    ],
)
def test_bad_option_value_exits_2_naming_the_option(
    vegafs: Vegafs, tmp_path: Path, args: list[str], message: str
) -> None:
    out = vegafs.run("analyze", ".", *args, cwd=tmp_path)
    assert (out.returncode, out.stdout) == (2, b"")
    assert message in out.stderr
    assert "Traceback" not in out.stderr


def test_unreadable_directory_exits_1_and_lists_it(
    vegafs: Vegafs, locked_tree: Path, unprivileged: list[str]
) -> None:
    out = vegafs.run("analyze", "tree", "--json", cwd=locked_tree.parent, prefix=unprivileged)
    assert out.returncode == 1, out.stderr
    data = out.json()
    assert data["error_count"] == 1
    assert [(e["path"], e["kind"]) for e in data["errors"]] == [
        ("tree/locked", "permission_denied")
    ]
    assert (data["files"], data["file_bytes"]) == (2, 8)
    assert out.stderr == "vegafs: 1 entry could not be read\n"


# --- Ctrl-C ---------------------------------------------------------------------------------


def strace_usable() -> str | None:
    """Why the Ctrl-C test cannot run here, or None."""
    if shutil.which("strace") is None:
        return "strace is missing (apt-get install strace)"
    probe = subprocess.run(
        ["strace", "-qq", "-o", "/dev/null", "true"],
        capture_output=True,
        timeout=SUBPROCESS_TIMEOUT,
        check=False,
    )
    if probe.returncode != 0:
        return f"ptrace is not permitted here: {probe.stderr.decode().strip()}"
    return None


def children(pid: int) -> list[int]:
    found: list[int] = []
    for task in Path(f"/proc/{pid}/task").iterdir():
        try:
            found += [int(c) for c in (task / "children").read_text().split()]
        except FileNotFoundError:  # the task ended meanwhile
            continue
    return found


def has_open_under(pid: int, root: str) -> bool:
    """Whether the process holds a descriptor on `root` or below: the walk is under way."""
    try:
        fds = list(Path(f"/proc/{pid}/fd").iterdir())
    except (FileNotFoundError, PermissionError):
        return False
    for fd in fds:
        try:
            target = str(fd.readlink())
        except OSError:
            continue
        if target == root or target.startswith(root + "/"):
            return True
    return False


def test_ctrl_c_during_a_walk_exits_130_saying_interrupted(
    vegafs_exe: Path, tmp_path: Path
) -> None:
    why_not = strace_usable()
    if why_not:
        pytest.skip(why_not)
    root = Path(os.path.realpath(tmp_path / "tree"))
    names = [f"d{i:02d}" for i in range(30)]
    dirs = [root.joinpath(*names[:depth]) for depth in range(31)]
    dirs[-1].mkdir(parents=True)
    # Every getdents64 on the tree's directories (only those: -P) waits 0.3 s, so the walk of
    # 31 nested directories takes ~19 s; Python's own imports are not slowed down.
    cmd = ["strace", "-f", "-qq", "-o", "/dev/null"]
    for d in dirs:
        cmd += ["-P", str(d)]
    cmd += ["-e", "trace=getdents64", "-e", "inject=getdents64:delay_enter=300000"]
    cmd += [str(vegafs_exe), "analyze", str(root), "--json"]
    proc = subprocess.Popen(
        cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=cli_env(), cwd=tmp_path
    )
    walker: int | None = None
    try:
        deadline = time.monotonic() + SUBPROCESS_TIMEOUT
        while walker is None:
            assert proc.poll() is None, "vegafs ended before its walk was seen"
            assert time.monotonic() < deadline, "the walk never started"
            walker = next((c for c in children(proc.pid) if has_open_under(c, str(root))), None)
            time.sleep(0.01)
        time.sleep(0.3)  # well inside the walk
        os.kill(walker, signal.SIGINT)
        stdout, stderr = proc.communicate(timeout=SUBPROCESS_TIMEOUT)  # exit code 130 below
    finally:
        if proc.poll() is None:
            if walker is not None:
                os.kill(walker, signal.SIGKILL)
            proc.kill()
            proc.communicate()
    # strace exits with its tracee's exit code (and re-raises a signal that killed it).
    assert proc.returncode == 130, stderr.decode()
    assert stdout == b""
    assert stderr.decode() == "vegafs: error: interrupted\n"


def test_root_that_exists_but_cannot_be_listed_exits_1_listing_it(
    vegafs: Vegafs, locked_tree: Path, unprivileged: list[str]
) -> None:
    out = vegafs.run(
        "analyze", "tree/locked", "--json", cwd=locked_tree.parent, prefix=unprivileged
    )
    assert out.returncode == 1, out.stderr
    data = out.json()
    assert (data["files"], data["dirs"], data["error_count"]) == (0, 1, 1)
    assert [(e["path"], e["kind"]) for e in data["errors"]] == [
        ("tree/locked", "permission_denied")
    ]
    assert out.stderr == "vegafs: 1 entry could not be read\n"


def test_root_that_cannot_be_looked_at_exits_2_naming_it(
    vegafs: Vegafs, locked_tree: Path, unprivileged: list[str]
) -> None:
    out = vegafs.run(
        "analyze", "tree/locked/hidden-away", cwd=locked_tree.parent, prefix=unprivileged
    )
    assert out.returncode == 2
    assert out.stdout == b""
    assert out.stderr == "vegafs: error: tree/locked/hidden-away: Permission denied\n"


def test_unreadable_file_root_is_counted_since_analyze_reads_no_content(
    vegafs: Vegafs, tmp_path: Path, unprivileged: list[str]
) -> None:
    write(tmp_path / "secret.txt", 3).chmod(0)
    out = vegafs.run("analyze", "secret.txt", "--json", cwd=tmp_path, prefix=unprivileged)
    assert out.returncode == 0, out.stderr
    data = out.json()
    assert (data["files"], data["file_bytes"], data["error_count"]) == (1, 3, 0)


@pytest.mark.parametrize(
    ("flag", "value", "message"),
    [
        ("--top", "100001", "invalid -n/--top: Input should be less than or equal to 100000"),
        (
            "--max-errors",
            "1000001",
            "invalid --max-errors: Input should be less than or equal to 1000000",
        ),
    ],
)
def test_listing_bounds_are_usage_errors(
    vegafs: Vegafs, tmp_path: Path, flag: str, value: str, message: str
) -> None:
    done = vegafs.run("analyze", str(tmp_path), flag, value, cwd=tmp_path)
    assert (done.returncode, done.stderr.strip()) == (2, f"vegafs: error: {message}")


# --- the rough edges a new user meets -------------------------------------------------------


def test_options_without_a_path_say_missing_path_before_the_usage(
    vegafs: Vegafs, tmp_path: Path
) -> None:
    out = vegafs.run("analyze", "--top", "3", cwd=tmp_path)
    assert (out.returncode, out.stdout) == (2, b"")
    lines = out.stderr.splitlines()
    assert lines[0] == "vegafs: error: missing PATH: the directories or files to walk"
    assert lines[1].startswith("Usage: vegafs analyze [OPTIONS] [PATH]...")


def test_report_to_a_pipe_keeps_long_paths_on_one_line(vegafs: Vegafs, tmp_path: Path) -> None:
    deep = tmp_path / "tree" / ("d" * 200) / ("e" * 200)
    write(deep / ("f" * 200 + ".bin"), 5000)
    out = vegafs.run("analyze", "tree", cwd=tmp_path)  # COLUMNS=400 (cli_env): no matter
    assert out.returncode == 0, out.stderr
    expected = f"tree/{'d' * 200}/{'e' * 200}/{'f' * 200}.bin".encode()
    assert any(line.strip().endswith(expected) for line in out.stdout.split(b"\n"))


def test_a_reader_that_stops_early_ends_it_as_a_closed_pipe_does(
    vegafs: Vegafs, tmp_path: Path
) -> None:
    for i in range(200):
        write(tmp_path / "tree" / f"{i:03}" / "x.txt", 10)
    # `true` reads nothing: every write meets a closed pipe.
    script = f"{vegafs.exe} analyze --top 200 tree | true"
    done = subprocess.run(
        ["bash", "-c", script + "; echo status=${PIPESTATUS[0]}"],
        cwd=tmp_path,
        capture_output=True,
        env=cli_env(),
        timeout=SUBPROCESS_TIMEOUT,
        check=False,
    )
    assert done.stdout.decode().splitlines() == [f"status={128 + signal.SIGPIPE}"]
    assert done.stderr == b""

"""Rows stream from the core to every consumer with bounded memory: the `list` operation over
1,000,001 entries, from the command line and as a job."""

import json
import os
import shutil
import sqlite3
import stat
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from conftest import Vegafs, cli_env
from stack import Backend, Stack

DIRS = 1000
FILES_PER_DIR = 1000
ENTRIES = 1 + DIRS + DIRS * FILES_PER_DIR  # the root, its directories, their files
PEAK_RSS_MIB = 250
# The command line's own peak: 18 MiB on the quick path, 39 MiB through typer (2026-12-01); its
# 1,000,001 rows held at once would take several hundred.
CLI_PEAK_RSS_MIB = 64
# Rows still unread when the command's peak is read: more than the pipe holds, so it is still
# running, blocked writing them.
UNREAD = 10_000


@pytest.fixture(scope="module")
def million(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """root/d000/f000 ... root/d999/f999: 1,000,000 empty files in 1,000 directories."""
    base = Path(os.path.realpath(tmp_path_factory.mktemp("million")))
    root = base / "tree"
    root.mkdir()
    for d in range(DIRS):
        directory = root / f"d{d:03}"
        directory.mkdir()
        fd = os.open(directory, os.O_DIRECTORY)
        try:
            for f in range(FILES_PER_DIR):
                os.mknod(f"f{f:03}", 0o644 | stat.S_IFREG, dir_fd=fd)
        finally:
            os.close(fd)
    yield root
    shutil.rmtree(base)


def vm_hwm_mib(pid: int) -> float:
    """The peak resident memory of a running process."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    raise AssertionError(f"no VmHWM for {pid}")


def test_the_cli_prints_rows_as_they_come_with_bounded_memory(
    vegafs: Vegafs, million: Path
) -> None:
    proc = subprocess.Popen(
        [str(vegafs.exe), "list", str(million), "--json"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env=cli_env(),
    )
    assert proc.stdout is not None and proc.stderr is not None
    first = json.loads(proc.stdout.readline())
    assert set(first) == {"path", "type", "size", "mtime"}
    # The reader pauses: the pipe and the core's channel fill, and the walk waits for it.
    time.sleep(1.0)
    assert proc.poll() is None, "the walk ended before its rows were read"
    rows, peak = 1, None
    for _ in proc.stdout:
        rows += 1
        if rows == ENTRIES - UNREAD:
            # Its own peak so far, all but the last rows written. Not wait4's ru_maxrss: a
            # child's exec records the peak of the memory it had from its parent, here pytest's
            # (250 MiB late in a full run; a child `true` of a 300 MiB Python reports 310).
            peak = vm_hwm_mib(proc.pid)
    assert (proc.wait(), proc.stderr.read()) == (0, b"")
    assert rows == ENTRIES
    assert peak is not None and peak < CLI_PEAK_RSS_MIB, f"peak RSS {peak} MiB"


def test_a_job_writes_every_row_while_it_runs_and_keeps_its_lease(
    tmp_path: Path, million: Path
) -> None:
    stack = Stack(Backend("sqlite", None, None), tmp_path / "data", [million])
    stack.data_dir.mkdir()

    def rows_stored(job_id: int) -> int:
        """Result rows in the database now (WAL: read beside the writing worker)."""
        with sqlite3.connect(stack.data_dir / "vegafs.db", timeout=30) as db:
            count: int = db.execute(
                "SELECT count(*) FROM job_results WHERE job_id = ?", (job_id,)
            ).fetchone()[0]
        return count

    try:
        server = stack.start_server()
        with stack.client(timeout=30) as client:
            job = client.post(
                "/jobs",
                json={"operation": "list", "params": {"selection": {"roots": [str(million)]}}},
            ).json()
            seen_rows_while_running = 0
            deadline = time.monotonic() + 600
            while True:
                state = client.get(f"/jobs/{job['id']}").json()
                if state["status"] == "running":  # the API shows no rows before the end
                    seen_rows_while_running = max(seen_rows_while_running, rows_stored(job["id"]))
                if state["status"] in ("succeeded", "failed", "cancelled"):
                    break
                assert time.monotonic() < deadline, stack.log_text()
                time.sleep(0.2)
            assert state["status"] == "succeeded", state
            assert (state["result_rows"], state["attempts"]) == (ENTRIES, 1)
            assert state["summary"]["entries"] == ENTRIES
            assert seen_rows_while_running > 0, "no rows were written before the job ended"
            peak = vm_hwm_mib(server.pid)
        assert peak < PEAK_RSS_MIB, f"peak RSS of the worker: {peak:.0f} MiB"
        with sqlite3.connect(stack.data_dir / "vegafs.db") as db:
            stored = db.execute(
                "SELECT count(*), min(seq), max(seq) FROM job_results WHERE job_id = ?",
                (job["id"],),
            ).fetchone()
        assert stored == (ENTRIES, 0, ENTRIES - 1)
    finally:
        stack.stop()

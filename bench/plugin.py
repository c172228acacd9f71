"""Benchmark Python plugins: `vegafs run --plugin` with trivial plugins over a generated tree,
in files per second (the goal: 80,000 files/s on 2 cores, for a plugin that does nothing).

Usage: python bench/plugin.py [--tree DIR] [--files 100000] [--dirs 1000] [--runs 3]

Generates the tree if missing (bench/gen_tree.py, the tree `bench/hash.py` uses), warms the page
cache with one untimed run of each command, then times each --runs times, round robin, stdout to
/dev/null (whole commands: start-up, worker processes, walk, rows). The plugins are
bench/trivial_plugins.py's (the commands run in bench/, where `--plugin` finds them):
`per_batch`, one row per batch (the cost of feeding batches to processes), and `per_file`, one
row per file (plus sending rows back and printing them as JSON). `vegafs list -t file` (the walk
printing a path per file) is shown for reference, and the start-up: per_batch on an empty
directory (libraries, worker processes). Exits 1 unless all three saw the same files.
"""

from __future__ import annotations

import argparse
import json
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path

from analyze import REPO_ROOT, ensure_tree, find_vegafs

BENCH_DIR = Path(__file__).resolve().parent
GOAL_FILES_PER_S = 80_000


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description="Benchmark `vegafs run --plugin`.")
    parser.add_argument("--tree", type=Path, help="benchmark tree (default: beside the repo)")
    parser.add_argument("--files", type=int, default=100_000)
    parser.add_argument("--dirs", type=int, default=1_000)
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--vegafs", help="command that runs vegafs (default: next to python)")
    return parser.parse_args(argv)


def timed(cmd: list[str]) -> tuple[float, bytes, float]:
    """Wall time, stdout, and CPU time (user + system) of the command and its worker processes
    (a busy machine stretches the first much more than the last)."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    started = time.perf_counter()
    done = subprocess.run(cmd, cwd=BENCH_DIR, capture_output=True, check=False)
    elapsed = time.perf_counter() - started
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = after.ru_utime + after.ru_stime - before.ru_utime - before.ru_stime
    if done.returncode != 0:
        print(f"failed ({done.returncode}): {' '.join(cmd)}\n{done.stderr.decode()}")
        sys.exit(2)
    return elapsed, done.stdout, cpu


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    tree = args.tree or REPO_ROOT.parent / f"bench-tree-{args.files}f-{args.dirs}d-s{args.seed}"
    if args.tree is None:
        ensure_tree(tree, args.files, args.dirs, args.seed)
    vegafs = find_vegafs(args.vegafs)
    commands = {
        "vegafs run --plugin trivial_plugins:per_batch --json": [
            *vegafs, "run", "--plugin", "trivial_plugins:per_batch", str(tree), "--json"
        ],
        "vegafs run --plugin trivial_plugins:per_file --json": [
            *vegafs, "run", "--plugin", "trivial_plugins:per_file", str(tree), "--json"
        ],
        "vegafs list -t file (the walk alone)": [*vegafs, "list", "-t", "file", str(tree)],
    }  # fmt: skip
    empty = Path(tempfile.mkdtemp(prefix="vegafs-bench-empty-"))
    startup = {
        "start-up: per_batch on an empty directory": [
            *vegafs, "run", "--plugin", "trivial_plugins:per_batch", str(empty), "--json"
        ],
    }  # fmt: skip
    warm = {name: timed(cmd)[1] for name, cmd in commands.items()}
    files = sum(json.loads(line)["files"] for line in warm[next(iter(commands))].splitlines())
    listed = len(warm["vegafs list -t file (the walk alone)"].splitlines())
    print(f"tree: {tree} ({files:,} files)")
    times: dict[str, list[float]] = {name: [] for name in {**commands, **startup}}
    cpus: dict[str, list[float]] = {name: [] for name in times}
    for _ in range(args.runs):
        for name, cmd in {**commands, **startup}.items():
            elapsed, _out, cpu = timed(cmd)
            times[name].append(elapsed)
            cpus[name].append(cpu)
    empty.rmdir()
    print(f"{'command':56} {'median s':>9} {'min s':>7} {'CPU s':>7} {'files/s':>10}")
    for name, samples in times.items():
        median = statistics.median(samples)
        rate = f"{files / median:10,.0f}" if name in commands else ""
        cpu = statistics.median(cpus[name])
        print(f"{name:56} {median:9.3f} {min(samples):7.3f} {cpu:7.3f} {rate}")
    rate = files / statistics.median(times[next(iter(commands))])
    verdict = "meets" if rate >= GOAL_FILES_PER_S else "is below"
    print(f"per_batch: {rate:,.0f} files/s {verdict} the goal of {GOAL_FILES_PER_S:,} files/s")
    per_file_rows = len(warm["vegafs run --plugin trivial_plugins:per_file --json"].splitlines())
    if not files == per_file_rows == listed:
        print(f"files seen differ: per_batch {files}, per_file {per_file_rows}, list {listed}")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())

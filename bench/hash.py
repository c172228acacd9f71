"""Benchmark `vegafs hash` against `fdfind -X b3sum` (the issue's anchor), `fdfind -X sha256sum`
and a parallel `xargs -P` b3sum, in one run, on the same tree.

Usage: python bench/hash.py [--tree DIR] [--files 100000] [--dirs 1000] [--runs 3]

Generates the tree if missing (bench/gen_tree.py: mostly small files, 0.2 GiB for 100,000
files), warms the page cache with one untimed run of every command, checks that each anchor
prints the same lines as VegaFS (sorted), then times every command --runs times, round robin,
stdout to a file. Prints medians, peak RSS and VegaFS / anchor ratios. Exits 1 when the lines
differ, 2 when a command fails.
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path

from analyze import REPO_ROOT, ensure_tree, find_executable, find_vegafs, parse_time_rss, rss_probe

GOAL_RATIO = 1.0  # vegafs hash (blake3) time / fdfind -X b3sum time


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description="Benchmark `vegafs hash`.")
    parser.add_argument("--tree", type=Path, help="benchmark tree (default: beside the repo)")
    parser.add_argument("--files", type=int, default=100_000)
    parser.add_argument("--dirs", type=int, default=1_000)
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--vegafs", help="command that runs vegafs (default: next to python)")
    return parser.parse_args(argv)


def commands(vegafs: list[str], tree: str) -> dict[str, list[str]]:
    fd = find_executable(["fdfind", "fd"])
    b3sum, sha256sum = find_executable(["b3sum"]), find_executable(["sha256sum"])
    if not (fd and b3sum and sha256sum):
        sys.exit("hash: fd-find, b3sum and coreutils are needed (`make bench-hash` installs them)")
    # fd -X: one b3sum per batch of paths (as many as fit in ARG_MAX), run one after another.
    xargs = f"find {tree} -type f -print0 | xargs -0 -P2 -n 2000 {b3sum}"
    return {
        "vegafs hash": [*vegafs, "hash", tree],
        "fdfind -X b3sum": [fd, "-u", "-t", "f", ".", tree, "-X", b3sum],
        "find | xargs -P2 b3sum": ["sh", "-c", xargs],
        "vegafs hash --algo sha256": [*vegafs, "hash", tree, "--algo", "sha256"],
        "fdfind -X sha256sum": [fd, "-u", "-t", "f", ".", tree, "-X", sha256sum],
    }


def run(cmd: list[str], probe: str | None) -> tuple[float, int, bytes]:
    """Wall time, peak RSS (KiB), stdout."""
    with tempfile.TemporaryFile() as out, tempfile.NamedTemporaryFile("r") as rss:
        argv = [probe, "-f", "%M", "-o", rss.name, *cmd] if probe else cmd
        started = time.perf_counter()
        done = subprocess.run(argv, stdout=out, stderr=subprocess.PIPE, check=False)
        seconds = time.perf_counter() - started
        if done.returncode != 0:
            sys.exit(f"hash: {' '.join(cmd)} failed ({done.returncode}): {done.stderr.decode()}")
        out.seek(0)
        return seconds, parse_time_rss(rss.read()) if probe else 0, out.read()


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    tree = args.tree or REPO_ROOT.parent / f"bench-tree-{args.files}f-{args.dirs}d-s{args.seed}"
    ensure_tree(tree, args.files, args.dirs, args.seed)
    cmds = commands(find_vegafs(args.vegafs), str(tree))
    probe = rss_probe()
    outputs = {name: run(cmd, probe)[2] for name, cmd in cmds.items()}  # warm-up
    status = 0
    for name, out in outputs.items():
        reference = outputs["vegafs hash --algo sha256" if "sha256" in name else "vegafs hash"]
        if sorted(out.splitlines()) != sorted(reference.splitlines()):
            print(f"hash: {name} printed other lines than VegaFS", file=sys.stderr)
            status = 1
    lines = outputs["vegafs hash"].count(b"\n")
    times: dict[str, list[float]] = {name: [] for name in cmds}
    rss: dict[str, int] = dict.fromkeys(cmds, 0)
    for _ in range(args.runs):
        for name, cmd in cmds.items():
            seconds, peak, _ = run(cmd, probe)
            times[name].append(seconds)
            rss[name] = max(rss[name], peak)
    print(f"tree: {tree} ({lines:,} files), {args.runs} runs, round robin, warm cache")
    print(f"{'command':<28} {'median s':>9} {'min s':>8} {'peak MiB':>9}")
    for name in cmds:
        print(f"{name:<28} {statistics.median(times[name]):>9.3f} {min(times[name]):>8.3f} "
              f"{rss[name] / 1024:>9.1f}")  # fmt: skip
    for ours, theirs in (("vegafs hash", "fdfind -X b3sum"),
                         ("vegafs hash", "find | xargs -P2 b3sum"),
                         ("vegafs hash --algo sha256", "fdfind -X sha256sum")):  # fmt: skip
        ratio = statistics.median(times[ours]) / statistics.median(times[theirs])
        goal = f" (goal <= {GOAL_RATIO})" if theirs == "fdfind -X b3sum" else ""
        print(f"{ours} / {theirs}: {ratio:.2f}x{goal}")
    return status


if __name__ == "__main__":
    sys.exit(main())

"""Benchmark `vegafs search` against `rg -uuu`, `ugrep -r` and `grep -r` in one run.

Usage: python bench/search.py [--tree DIR] [--files N] [--dirs N] [--runs 3] [--vegafs CMD]
                              [--anchors "rg -uuu,ugrep -r,grep -r"]

Generates a deterministic tree of text files if missing (a marker file holds its parameters,
so a complete tree is reused), warms the page cache with one untimed run of every command,
then times every command --runs times, round robin, for four workloads: a literal and a regex,
each printing matching lines (`path:N:line`, stdout to a regular file, not /dev/null, which rg
treats as "quiet") and per-file counts (`-c`). Before timing, the per-file counts of every tool
are compared with VegaFS's (files without a match left out: grep and ugrep print them as 0);
a difference is reported and the script exits 1. Prints the medians and VegaFS / anchor ratios.
The anchors come from Debian (ripgrep, ugrep, grep): `make bench-search` installs them.
"""

from __future__ import annotations

import argparse
import bisect
import os
import random
import shlex
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent
MARKER = ".vegafs-search-tree"
FORMAT_VERSION = 1

LITERAL = "needle"
REGEX = r"[a-z]+ing [0-9]{2,}"
GOAL_RATIO = 1.0  # VegaFS time / rg -uuu time, both workloads

# Words of the text; a few end in "ing" so that the regex has matches to find.
WORDS = [
    "alpha", "beta", "gamma", "delta", "file", "tree", "walk", "search", "byte", "line",
    "string", "thing", "going", "reading", "core", "rust", "python", "row", "batch", "summary",
    "error", "path", "name", "directory", "handle", "value", "table", "index", "cache", "job",
]  # fmt: skip


@dataclass
class Workload:
    name: str
    commands: dict[str, list[str]]
    count_mode: bool
    times: dict[str, list[float]] = field(default_factory=dict)


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description="Benchmark `vegafs search`.")
    parser.add_argument("--tree", type=Path, help="benchmark tree (default: beside the repo)")
    parser.add_argument("--files", type=int, default=1_000_000)
    parser.add_argument("--dirs", type=int, default=10_000)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--vegafs", help="command that runs vegafs (default: next to python)")
    parser.add_argument(
        "--anchors",
        default="rg -uuu,ugrep -r,grep -r",
        help="comma-separated anchors to run (default: all three; rg -uuu is always run)",
    )
    return parser.parse_args(argv)


def generate(tree: Path, files: int, dirs: int, seed: int) -> None:
    """`dirs` directories of text files (mean ~1.5 KiB), lines of words and numbers, about one
    line in 200 holding LITERAL. The same parameters give the same tree."""
    marker = tree / MARKER
    want = f"{FORMAT_VERSION} files={files} dirs={dirs} seed={seed}\n"
    if marker.exists() and marker.read_text() == want:
        return
    if tree.exists() and any(tree.iterdir()):
        sys.exit(f"{tree} exists and is not this benchmark's tree; remove it or pass --tree")
    print(f"generating {files:,} files in {dirs:,} directories at {tree}", file=sys.stderr)
    rng = random.Random(seed)
    lines = []
    for _ in range(20_000):
        words = rng.choices(WORDS, k=rng.randint(3, 12))
        if rng.random() < 0.005:
            words.insert(rng.randrange(len(words)), LITERAL)
        words.append(str(rng.randrange(1000)))
        lines.append(" ".join(words) + "\n")
    text = "".join(lines).encode()
    offsets = [0]
    for line in lines:
        offsets.append(offsets[-1] + len(line))
    tree.mkdir(parents=True, exist_ok=True)
    per_dir = max(1, files // dirs)
    made = 0
    for d in range(dirs):
        sub = tree / f"d{d // 100:03d}" / f"d{d:05d}"
        sub.mkdir(parents=True, exist_ok=True)
        count = per_dir if d < dirs - 1 else files - made
        for i in range(count):
            first = rng.randrange(len(lines) - 200)  # 200 lines: more than the largest size
            size = int(6000 * rng.random() ** 3) + 20
            start = offsets[first]
            end = offsets[bisect.bisect_left(offsets, start + size)]  # whole lines
            (sub / f"f{i:05d}.txt").write_bytes(text[start:end])
        made += count
    marker.write_text(want)


def find_vegafs(override: str | None) -> list[str]:
    if override:
        return shlex.split(override)
    beside = Path(sys.executable).parent / "vegafs"
    if os.access(beside, os.X_OK):
        return [str(beside)]
    found = shutil.which("vegafs")
    if not found:
        sys.exit("vegafs not found; pass --vegafs CMD")
    return [found]


def workloads(vegafs: list[str], tree: str) -> list[Workload]:
    out = []
    for kind, pattern, fixed in (("literal", LITERAL, True), ("regex", REGEX, False)):
        f = ["-F"] if fixed else []
        out.append(
            Workload(
                f"{kind}, lines",
                {
                    "vegafs": [*vegafs, "search", *f, pattern, tree],
                    "rg -uuu": ["rg", "-uuu", "-n", *f, pattern, tree],
                    "ugrep -r": ["ugrep", "-r", "-n", *f, pattern, tree],
                    "grep -r": ["grep", "-r", "-n", *(f or ["-E"]), pattern, tree],
                },
                count_mode=False,
            )
        )
        out.append(
            Workload(
                f"{kind}, -c",
                {
                    "vegafs": [*vegafs, "search", "-c", *f, pattern, tree],
                    "rg -uuu": ["rg", "-uuu", "-c", *f, pattern, tree],
                    "ugrep -r": ["ugrep", "-r", "-c", *f, pattern, tree],
                    "grep -r": ["grep", "-r", "-c", *(f or ["-E"]), pattern, tree],
                },
                count_mode=True,
            )
        )
    return out


def run(cmd: list[str], out_path: Path) -> tuple[float, bytes]:
    with out_path.open("wb") as out:
        start = time.perf_counter()
        done = subprocess.run(cmd, stdout=out, stderr=subprocess.PIPE, check=False)
        elapsed = time.perf_counter() - start
    if done.returncode not in (0, 1):
        sys.exit(f"{shlex.join(cmd)} failed ({done.returncode}): {done.stderr.decode()[-500:]}")
    return elapsed, out_path.read_bytes()


def counts(output: bytes) -> dict[bytes, int]:
    """path -> count from `path:count` lines, files without a match left out."""
    out = {}
    for line in output.splitlines():
        path, _, n = line.rpartition(b":")
        if int(n):
            out[path] = int(n)
    return out


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    tree = args.tree or REPO_ROOT.parent / f"search-tree-{args.files}f-{args.dirs}d-s{args.seed}"
    generate(tree, args.files, args.dirs, args.seed)
    vegafs = find_vegafs(args.vegafs)
    missing = [t for t in ("rg", "ugrep", "grep") if shutil.which(t) is None]
    if missing:
        sys.exit(f"missing anchors: {', '.join(missing)} (make bench-search installs them)")
    scratch = Path(tempfile.mkdtemp(prefix="vegafs-search-bench-", dir="/dev/shm"))
    out_path = scratch / "out"
    loads = workloads(vegafs, str(tree))
    wanted = {"vegafs", "rg -uuu", *(a.strip() for a in args.anchors.split(","))}
    for w in loads:
        w.commands = {tool: cmd for tool, cmd in w.commands.items() if tool in wanted}
    agree = True
    for w in loads:  # warm-up, and the per-file counts checked
        outputs = {tool: run(cmd, out_path)[1] for tool, cmd in w.commands.items()}
        if w.count_mode:
            ours = counts(outputs["vegafs"])
            for tool, output in outputs.items():
                theirs = counts(output)
                if theirs != ours:
                    agree = False
                    diff = set(theirs.items()) ^ set(ours.items())
                    print(f"{w.name}: {tool} counts differ on {len(diff)} files", file=sys.stderr)
            print(f"{w.name}: {len(ours):,} files with matches, {sum(ours.values()):,} lines")
    for _ in range(args.runs):
        for w in loads:
            for tool, cmd in w.commands.items():
                w.times.setdefault(tool, []).append(run(cmd, out_path)[0])
    shutil.rmtree(scratch)
    print(f"\n{args.files:,} files, {args.dirs:,} dirs, {os.cpu_count()} CPUs, median of "
          f"{args.runs} (s); ratio = vegafs / tool")  # fmt: skip
    print(f"{'workload':<16} {'tool':<10} {'median':>8} {'vegafs/tool':>12}")
    goals = True
    for w in loads:
        mine = statistics.median(w.times["vegafs"])
        for tool, times in w.times.items():
            median = statistics.median(times)
            print(f"{w.name:<16} {tool:<10} {median:8.3f} {mine / median:12.2f}")
        goals &= mine / statistics.median(w.times["rg -uuu"]) <= GOAL_RATIO
    print(f"\ncounts agree: {'yes' if agree else 'NO'}; goal vegafs <= {GOAL_RATIO}x rg -uuu: "
          f"{'met' if goals else 'not met'}")  # fmt: skip
    return 0 if agree else 1


if __name__ == "__main__":
    sys.exit(main())

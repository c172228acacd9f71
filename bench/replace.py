"""Benchmark `vegafs replace --apply` against `sd` and `fastmod` doing the same replacement over
the same generated files, in one run; reported in seconds (wall, and CPU: user + sys) and as
ratios (lower is better).

Usage: python bench/replace.py [--files 20000] [--dirs 100] [--runs 3] [--tree DIR]

Generates a pristine tree once (deterministic text files of 1-4 kB, one in three holding the
word to replace, in bench/.trees/), then copies it (untimed) once for every run of every tool,
all before the first run, and removes the copies only at the end: on this machine's ext4 a
file created soon after many were removed costs extra kernel time (bench/copying.py), which
would fall on vegafs and sd (a new file per changed file) and not on fastmod (in place). Each
run times one tool on its own copy: `vegafs replace needle NEEDLE COPY --apply` (one
VEGAFS_DATA_DIR for the whole bench, its database made by the untimed first round, as a user's
is after their first writing command), `find COPY -type f -exec sd needle NEEDLE {} +` and
`fastmod --accept-all needle NEEDLE COPY`. Every tool's result must be the same tree (exit 1
otherwise; 2 when a tool is missing: `cargo install --root bench/.tools sd fastmod`).

Not the same work: VegaFS journals the plan, copies each file into its backup store and makes
the backups and the new contents durable (one syncfs per batch) before any rename, then fsyncs
the directories; sd and fastmod write a new file and rename it without syncing (sd) or rewrite
in place (fastmod). The ratio is the price of that durability and of undo.
"""

from __future__ import annotations

import argparse
import hashlib
import os
import random
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path

from analyze import REPO_ROOT, find_executable, find_vegafs

WORDS = ["alpha", "beta", "gamma", "delta", "needle", "stone", "river", "cloud", "paper", "light"]


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description="Benchmark `vegafs replace --apply`.")
    parser.add_argument("--tree", type=Path, help="pristine tree (default: bench/.trees/)")
    parser.add_argument("--files", type=int, default=20_000)
    parser.add_argument("--dirs", type=int, default=100)
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--vegafs", help="command that runs vegafs (default: next to python)")
    return parser.parse_args(argv)


def ensure_tree(tree: Path, files: int, dirs: int, seed: int) -> None:
    done = tree.parent / f"{tree.name}.complete"
    if done.exists():
        return
    rng = random.Random(seed)
    for d in range(dirs):
        (tree / f"d{d:04}").mkdir(parents=True, exist_ok=True)
    for i in range(files):
        words = [w for w in WORDS if w != "needle"]
        lines = []
        for _ in range(rng.randrange(20, 80)):
            lines.append(" ".join(rng.choice(words) for _ in range(rng.randrange(4, 10))))
        if i % 3 == 0:
            for _ in range(rng.randrange(1, 4)):
                at = rng.randrange(len(lines))
                lines[at] += " needle"
        (tree / f"d{i % dirs:04}" / f"f{i:06}.txt").write_text("\n".join(lines) + "\n")
    done.write_text("")


def digest(tree: Path) -> str:
    h = hashlib.blake2b()
    for p in sorted(tree.rglob("*")):
        if p.is_file():
            h.update(str(p.relative_to(tree)).encode() + b"\0" + p.read_bytes())
    return h.hexdigest()


def commands(vegafs: list[str], copy: Path, data: Path) -> dict[str, list[str]]:
    sd = find_executable(["sd"])
    fastmod = find_executable(["fastmod"])
    if not sd or not fastmod:
        sys.exit("replace: sd or fastmod missing: cargo install --root bench/.tools sd fastmod")
    return {
        "vegafs replace --apply": [
            "env", f"VEGAFS_DATA_DIR={data}", *vegafs, "replace", "needle", "NEEDLE", str(copy),
            "--apply",
        ],
        "sd (find -exec +)": [
            "find", str(copy), "-type", "f", "-exec", sd, "needle", "NEEDLE", "{}", "+"
        ],
        "fastmod --accept-all": [fastmod, "--accept-all", "needle", "NEEDLE", str(copy)],
    }  # fmt: skip


def children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def timed(cmd: list[str]) -> tuple[float, float]:
    """Wall seconds and CPU seconds (user + sys of the command and its children), from a file
    system with nothing left to write back: vegafs's `syncfs` is of the whole file system, and
    would otherwise also write what the tool before it left dirty."""
    os.sync()
    cpu = children_cpu()
    started = time.perf_counter()
    done = subprocess.run(cmd, capture_output=True, check=False)
    seconds = time.perf_counter() - started
    if done.returncode != 0:
        sys.exit(f"replace: {' '.join(cmd)} failed ({done.returncode}): {done.stderr.decode()}")
    return seconds, children_cpu() - cpu


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    name = f"replace-{args.files}f-{args.dirs}d-s{args.seed}"
    tree = args.tree or REPO_ROOT / "bench" / ".trees" / name
    ensure_tree(tree, args.files, args.dirs, args.seed)
    vegafs = find_vegafs(args.vegafs)
    work = Path(tempfile.mkdtemp(prefix="replace-", dir=tree.parent))
    data = work / "data"
    names = list(commands(vegafs, work, data))
    times: dict[str, list[float]] = {n: [] for n in names}
    cpus: dict[str, list[float]] = {n: [] for n in names}
    status = 0
    expected: str | None = None
    try:
        copies = {}
        for run in range(args.runs + 1):
            for i, n in enumerate(names):
                copies[run, n] = work / f"copy-{run}-{i}"
                shutil.copytree(tree, copies[run, n])
        subprocess.run(["sync"], check=True)
        for run in range(args.runs + 1):  # the first round warms the cache, untimed
            for n in names:
                copy = copies[run, n]
                seconds, cpu = timed(commands(vegafs, copy, data)[n])
                result = digest(copy)
                expected = expected or result
                if result != expected:
                    print(f"replace: {n} gave another tree than the others", file=sys.stderr)
                    status = 1
                if run:
                    times[n].append(seconds)
                    cpus[n].append(cpu)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    print(f"tree: {tree} ({args.files:,} files, one in three changed), {args.runs} runs, round "
          "robin, warm cache")  # fmt: skip
    print(f"{'command':<24} {'median s':>9} {'min s':>8} {'CPU s':>7}")
    for n in names:
        median, cpu = statistics.median(times[n]), statistics.median(cpus[n])
        print(f"{n:<24} {median:>9.3f} {min(times[n]):>8.3f} {cpu:>7.3f}")
    ours = statistics.median(times[names[0]])
    ours_cpu = statistics.median(cpus[names[0]])
    for n in names[1:]:
        ratio, cpu_ratio = ours / statistics.median(times[n]), ours_cpu / statistics.median(cpus[n])
        print(f"vegafs replace --apply / {n}: {ratio:.2f}x the time, {cpu_ratio:.2f}x the CPU")
    # Per round, each tool right after the others: the ratio least disturbed by the machine's load.
    rounds = [times[names[0]][i] / times[n][i] for n in names[1:] for i in range(args.runs)]
    print("per-round ratios (vs " + ", ".join(names[1:]) + "): "
          + " ".join(f"{r:.2f}" for r in rounds))  # fmt: skip
    return status


if __name__ == "__main__":
    sys.exit(main())

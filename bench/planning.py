"""How the plans of the writing operations scale on their hard cases: each case planned (no
`--apply`: nothing changes) at N and at 2N entries, and the ratio of the two times printed. A
plan that looks at each entry a bounded number of times takes about twice as long for twice
the entries (ratio near 2; less where start-up dominates); one that compares each entry with
every other takes four times as long. No other tool makes these plans, so each case is its
own anchor: the figure to watch is the ratio, and the seconds at 2N.

Usage: python bench/planning.py [--entries 10000] [--runs 3] [--vegafs CMD]

The cases (each a generated tree in a temporary directory on the disk, made once per size):
- ``accents``: copy, move and rename of files whose names are not ASCII (the check of Unicode
  normalisation twins);
- ``one-name``: copy and move of N files named alike, from N directories into one, with
  ``--on-conflict suffix`` (``IMG_0001.jpg``, ``IMG_0001-1.jpg``, ...);
- ``skip-chain``: rename ``f00000 -> f00001 -> ...`` whose last target stays, with
  ``--on-conflict skip`` (the whole chain is refused);
- ``swaps``: move and rename reversing the names of N files (N/2 swaps, each through a
  temporary name).

Exits 1 (with the command's error) when a plan is refused or a command fails: every case's plan
is expected to pass.
"""

from __future__ import annotations

import argparse
import os
import shlex
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from analyze import find_vegafs

BENCH_DIR = Path(__file__).resolve().parent


def parse_args() -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--entries", type=int, default=10_000, help="N (the cases run at N and 2N)")
    p.add_argument("--runs", type=int, default=3)
    p.add_argument("--vegafs", help="command that runs vegafs (default: next to python)")
    return p.parse_args()


def accents(root: Path, n: int) -> None:
    for d in range(max(1, n // 1000)):
        (root / "src" / f"dossier-\u00e9t\u00e9-{d}").mkdir(parents=True)
    dirs = sorted((root / "src").iterdir())
    for i in range(n):
        (dirs[i % len(dirs)] / f"caf\u00e9-{i}.txt").write_text("x")


def one_name(root: Path, n: int) -> None:
    for i in range(n):
        d = root / "src" / f"d{i:06}"
        d.mkdir(parents=True)
        (d / "IMG_0001.jpg").write_text("x")


def numbered(root: Path, n: int) -> None:
    """Files f000000 ... and, in the way of the last file's next name, a directory (``-t f``
    leaves it out: it stays, the end of the skip chain)."""
    (root / "d" / f"f{n:06}").mkdir(parents=True)
    for i in range(n):
        (root / "d" / f"f{i:06}").write_text(str(i))


NUMBERED = ["d", "-t", "f", "--to", "f{n:06}", "--sort", "name"]

# name: (make the tree, vegafs arguments)
CASES: dict[str, tuple[Callable[[Path, int], None], list[str]]] = {
    "accents: copy": (accents, ["copy", "src", "out"]),
    "accents: move": (accents, ["move", "src", "-t", "f", "--to", "{parent}/{stem}-\u00e9.txt"]),
    "accents: rename": (
        accents,
        ["rename", "src", "-t", "f", "--match", r"caf\u00e9-(\d+)", "--to", "th\u00e9-{1}"],
    ),
    "one-name: copy": (
        one_name,
        ["copy", "src", "out", "--to", "{name}", "--on-conflict", "suffix"],
    ),
    "one-name: move": (
        one_name,
        ["move", "src", "-t", "f", "--to", "{name}", "--dest", "out", "--on-conflict", "suffix"],
    ),
    "skip-chain: rename": (
        numbered,
        ["rename", *NUMBERED, "--start", "1", "--on-conflict", "skip"],
    ),
    "swaps: rename": (numbered, ["rename", *NUMBERED, "--start", "0", "--reverse"]),
    "swaps: move": (numbered, ["move", *NUMBERED, "--start", "0", "--reverse"]),
}


def time_plan(vegafs: list[str], args: list[str], cwd: Path) -> float:
    env = {**os.environ, "VEGAFS_DATA_DIR": str(cwd / ".data")}
    start = time.perf_counter()
    done = subprocess.run(
        [*vegafs, *args],
        cwd=cwd,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        env=env,
        check=False,
    )
    seconds = time.perf_counter() - start
    if done.returncode != 0:
        sys.exit(f"vegafs {shlex.join(args)}: exit {done.returncode}: {done.stderr.decode()}")
    return seconds


def main() -> int:
    opts = parse_args()
    vegafs = find_vegafs(opts.vegafs)
    n = opts.entries
    print(f"{'case':22} {f'N={n:,} s':>12} {f'2N={2 * n:,} s':>13} {'2N / N':>7}")
    (BENCH_DIR / ".trees").mkdir(exist_ok=True)
    with tempfile.TemporaryDirectory(dir=BENCH_DIR / ".trees") as tmp:
        trees: dict[tuple[str, int], Path] = {}
        for name, (make, args) in CASES.items():
            times = []
            for size in (n, 2 * n):
                key = (make.__name__, size)
                if key not in trees:
                    trees[key] = Path(tmp) / f"{make.__name__}-{size}"
                    trees[key].mkdir()
                    make(trees[key], size)
                runs = [time_plan(vegafs, args, trees[key]) for _ in range(opts.runs)]
                times.append(statistics.median(runs))
            print(f"{name:22} {times[0]:12.3f} {times[1]:13.3f} {times[1] / times[0]:7.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

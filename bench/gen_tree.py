"""Generate a deterministic directory tree for benchmarking `vegafs analyze`.

Usage: python bench/gen_tree.py DEST --files 1000000 --dirs 10000 [--seed 42]

The same parameters always give the same tree (names, sizes, mtimes).  DEST
gets a marker file `.vegafs-bench-tree` holding the parameters, written last,
so a complete tree is reused and anything else is never overwritten.
"""

from __future__ import annotations

import argparse
import math
import os
import random
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import NoReturn

MARKER_NAME = ".vegafs-bench-tree"
ROOT = Path()
FORMAT_VERSION = 1

MAX_DEPTH = 4
FAN_OUT = (18, 26)
# Below level 2 only some directories get subdirectories, so depths are mixed.
DEEP_BRANCH_PROBABILITY = 0.5

KIB = 1024
MIB = 1024 * KIB
# File sizes: mostly under 4 KiB, some up to 64 KiB, a thin tail up to 1 MiB.
SMALL_SHARE = 0.964
MEDIUM_SHARE = 0.035
MEDIUM_RANGE = (4 * KIB, 64 * KIB)
LARGE_RANGE = (64 * KIB, 1 * MIB)
HIDDEN_SHARE = 0.03

# mtimes fall in the two years before a fixed instant, not before "now":
# the tree must be identical whenever it is generated.
MTIME_END_NS = 1_767_225_600 * 10**9  # 2026-01-01T00:00:00Z
MTIME_SPAN_NS = 2 * 365 * 24 * 3600 * 10**9

EXTENSIONS: tuple[tuple[str, int], ...] = (
    (".txt", 12),
    (".log", 10),
    (".csv", 6),
    (".json", 8),
    (".py", 10),
    (".rs", 8),
    (".c", 6),
    (".md", 6),
    (".jpg", 8),
    (".png", 6),
    (".mp3", 2),
    (".mp4", 1),
    (".zip", 2),
    (".gz", 3),
    (".pdf", 3),
    (".parquet", 2),
    (".bin", 2),
    ("", 5),
)
STEMS = ("data", "report", "main", "notes", "image", "track", "backup", "config", "test")


@dataclass(frozen=True)
class Params:
    files: int
    dirs: int
    seed: int

    def marker_text(self) -> str:
        return f"format={FORMAT_VERSION} files={self.files} dirs={self.dirs} seed={self.seed}\n"


@dataclass
class Totals:
    files: int = 0
    bytes: int = 0


def parse_args(argv: Sequence[str] | None) -> tuple[Path, Params]:
    parser = argparse.ArgumentParser(description="Generate a deterministic benchmark tree.")
    parser.add_argument("dest", type=Path, help="directory to create the tree in")
    parser.add_argument("--files", type=int, default=1_000_000)
    parser.add_argument("--dirs", type=int, default=10_000, help="directories to create below DEST")
    parser.add_argument("--seed", type=int, default=42)
    args = parser.parse_args(argv)
    if args.files < 0 or args.dirs < 0:
        parser.error("--files and --dirs must not be negative")
    return args.dest, Params(files=args.files, dirs=args.dirs, seed=args.seed)


def fail(message: str) -> NoReturn:
    print(f"gen_tree: {message}", file=sys.stderr)
    sys.exit(2)


def check_dest(dest: Path, params: Params) -> bool:
    """Return True if the tree is already there; exit 2 if DEST is foreign."""
    if not dest.exists():
        return False
    if not dest.is_dir():
        fail(f"{dest} exists and is not a directory")
    marker = dest / MARKER_NAME
    if marker.is_file():
        found = marker.read_text(encoding="utf-8")
        if found == params.marker_text():
            return True
        fail(
            f"{dest} holds a tree with other parameters ({found.strip()}); "
            "remove it or choose another DEST"
        )
    if any(dest.iterdir()):
        fail(
            f"refusing to write into non-empty {dest} (no {MARKER_NAME} marker); "
            "remove it or choose another DEST"
        )
    return False


def plan_dirs(rng: random.Random, count: int) -> list[Path]:
    """Relative paths of DEST and `count` directories below it, breadth first."""
    paths = [ROOT]
    frontier = [(ROOT, 0)]
    made = 0
    while made < count and frontier:
        next_frontier: list[tuple[Path, int]] = []
        for parent, depth in frontier:
            if depth >= 2 and rng.random() >= DEEP_BRANCH_PROBABILITY:
                continue
            for i in range(rng.randint(*FAN_OUT)):
                if made == count:
                    break
                child = parent / f"d{depth + 1}_{i:02d}"
                paths.append(child)
                made += 1
                if depth + 1 < MAX_DEPTH:
                    next_frontier.append((child, depth + 1))
        frontier = next_frontier
    if made < count:
        fail(f"cannot fit {count} directories in depth {MAX_DEPTH}")
    return paths


def spread_files(rng: random.Random, files: int, slots: int) -> list[int]:
    """Split `files` over `slots` directories with a skewed, exact split."""
    weights = [rng.lognormvariate(0.0, 1.0) for _ in range(slots)]
    total = sum(weights)
    shares = [files * w / total for w in weights]
    counts = [math.floor(s) for s in shares]
    by_remainder = sorted(range(slots), key=lambda i: counts[i] - shares[i])
    for i in by_remainder[: files - sum(counts)]:
        counts[i] += 1
    return counts


def pick_size(rng: random.Random) -> int:
    roll = rng.random()
    if roll < SMALL_SHARE:
        # Cubing a uniform value favours near-empty files (mean ~1 KiB).
        return int(4 * KIB * rng.random() ** 3)
    low, high = MEDIUM_RANGE if roll < SMALL_SHARE + MEDIUM_SHARE else LARGE_RANGE
    return int(low * (high / low) ** rng.random())


def write_all(fd: int, data: memoryview) -> None:
    while data:
        data = data[os.write(fd, data) :]


def fill_dir(
    rng: random.Random, dir_fd: int, count: int, buffer: memoryview, totals: Totals
) -> None:
    names = [ext for ext, _ in EXTENSIONS]
    weights = [weight for _, weight in EXTENSIONS]
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC
    for i, ext in enumerate(rng.choices(names, weights, k=count)):
        dot = "." if rng.random() < HIDDEN_SHARE else ""
        name = f"{dot}{rng.choice(STEMS)}_{i:05d}{ext}"
        size = pick_size(rng)
        mtime = MTIME_END_NS - rng.randrange(MTIME_SPAN_NS)
        fd = os.open(name, flags, 0o644, dir_fd=dir_fd)
        try:
            write_all(fd, buffer[:size])
            os.utime(fd, ns=(mtime, mtime))
        finally:
            os.close(fd)
        totals.files += 1
        totals.bytes += size


def generate(dest: Path, params: Params) -> Totals:
    rng = random.Random(params.seed)
    dirs = plan_dirs(rng, params.dirs)
    counts = spread_files(rng, params.files, len(dirs))
    dir_mtimes = [MTIME_END_NS - rng.randrange(MTIME_SPAN_NS) for _ in dirs]
    buffer = memoryview(rng.randbytes(LARGE_RANGE[1]))
    totals = Totals()
    dest.mkdir(parents=True, exist_ok=True)
    for rel, count in zip(dirs, counts, strict=True):
        path = dest / rel
        path.mkdir(exist_ok=rel == ROOT)
        dir_fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
        try:
            fill_dir(rng, dir_fd, count, buffer, totals)
        finally:
            os.close(dir_fd)
    # Directory mtimes last: creating entries inside a directory resets its own.
    for rel, mtime in zip(dirs, dir_mtimes, strict=True):
        if rel != ROOT:
            os.utime(dest / rel, ns=(mtime, mtime))
    (dest / MARKER_NAME).write_text(params.marker_text(), encoding="utf-8")
    return totals


def main(argv: Sequence[str] | None = None) -> int:
    dest, params = parse_args(argv)
    if check_dest(dest, params):
        print(f"tree already present: {dest} ({params.marker_text().strip()})")
        return 0
    started = time.perf_counter()
    totals = generate(dest, params)
    elapsed = time.perf_counter() - started
    print(
        f"generated {dest}: {totals.files} files in {params.dirs} dirs "
        f"(plus DEST itself and the {MARKER_NAME} marker), "
        f"{totals.bytes / 2**20:.1f} MiB apparent, in {elapsed:.1f} s"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())

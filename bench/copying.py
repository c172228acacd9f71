"""Benchmark `vegafs copy --apply` of a generated tree of many (mostly small) files against
`cp -a`, `rsync -a` and `xcp -r` (when built into bench/.tools: scripts/ensure-bench-tools.sh),
the same tree into a fresh destination each, warm cache, one run each.

Usage: python bench/copying.py [--tree DIR] [--files 100000] [--dirs 1000] [--seed 42]

Generates the tree once (deterministic: 95% of the files 0-4 KiB, 5% 4-64 KiB). Each tool copies
it to a destination beside the tree that is removed (untimed) before and after; the copy is
checked (same files, same sizes) after each run. Prints seconds, MB/s, files/s and each time
divided by cp -a's. (Not bench/copy.py: run from bench/, that name would hide the standard
library's `copy` module.) VegaFS does more per file than the others: a temporary name, an fsync of
every file and of every directory, a journal committed before the first copy, so its figure
includes the durability the others do not give. Exit 2 when a command cannot run.
"""

from __future__ import annotations

import argparse
import os
import random
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path

from analyze import REPO_ROOT, find_executable, find_vegafs


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description="Benchmark `vegafs copy --apply`.")
    parser.add_argument("--tree", type=Path, help="benchmark tree (default: bench/.trees/)")
    parser.add_argument("--files", type=int, default=100_000)
    parser.add_argument("--dirs", type=int, default=1_000)
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--vegafs", help="command that runs vegafs (default: next to python)")
    return parser.parse_args(argv)


def ensure_tree(tree: Path, files: int, dirs: int, seed: int) -> int:
    """Makes the tree unless it is there (a marker file says it is complete); its bytes."""
    marker = tree.parent / f"{tree.name}.done"
    if marker.exists():
        return int(marker.read_text())
    shutil.rmtree(tree, ignore_errors=True)
    rng = random.Random(seed)
    total = 0
    for d in range(dirs):
        (tree / f"d{d // 100:02}" / f"d{d:04}").mkdir(parents=True, exist_ok=True)
    for i in range(files):
        d = i % dirs
        size = rng.randint(0, 4096) if rng.random() < 0.95 else rng.randint(4096, 65536)
        path = tree / f"d{d // 100:02}" / f"d{d:04}" / f"f{i:06}.bin"
        path.write_bytes(rng.randbytes(size))
        total += size
    marker.write_text(str(total))
    return total


def summary_of(root: Path) -> tuple[int, int]:
    """(files, bytes) below `root`."""
    n = size = 0
    for top, _, names in os.walk(root):
        for name in names:
            n += 1
            size += (Path(top) / name).lstat().st_size
    return n, size


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    tree = args.tree or REPO_ROOT / "bench" / ".trees" / f"copy-{args.files}-{args.dirs}"
    tree.parent.mkdir(parents=True, exist_ok=True)
    total = ensure_tree(tree, args.files, args.dirs, args.seed)
    want = summary_of(tree)  # also warms the cache
    dest = tree.parent / f"{tree.name}.dest"
    data = Path(tempfile.mkdtemp(prefix="vegafs-bench-copy-"))
    vegafs = find_vegafs(args.vegafs)
    commands: dict[str, list[str]] = {
        "vegafs copy --apply": [*vegafs, "copy", str(tree), str(dest), "--apply"],
        "cp -a": ["cp", "-a", f"{tree}/.", str(dest)],
        "rsync -a": ["rsync", "-a", f"{tree}/", f"{dest}/"],
    }
    xcp = find_executable(["xcp"])
    if xcp:
        commands["xcp -r"] = [xcp, "-r", str(tree), str(dest)]
    else:
        print("xcp not found (scripts/ensure-bench-tools.sh builds it): left out", file=sys.stderr)
    env = os.environ | {"VEGAFS_DATA_DIR": str(data)}
    times: dict[str, float] = {}
    for name, command in commands.items():
        shutil.rmtree(dest, ignore_errors=True)
        if name != "xcp -r":  # xcp makes DEST itself, as a copy of the tree
            dest.mkdir()
        started = time.perf_counter()
        done = subprocess.run(command, env=env, stdout=subprocess.DEVNULL,
                              stderr=subprocess.PIPE, check=False)  # fmt: skip
        times[name] = time.perf_counter() - started
        if done.returncode != 0:
            print(f"{name}: exit {done.returncode}: {done.stderr.decode()[-500:]}",
                  file=sys.stderr)  # fmt: skip
            return 2
        got = summary_of(dest)
        if got != want:
            print(f"{name}: copied {got}, the tree has {want}", file=sys.stderr)
            return 2
    shutil.rmtree(dest, ignore_errors=True)
    shutil.rmtree(data, ignore_errors=True)
    print(f"tree: {want[0]:,} files, {total / 1e6:,.1f} MB ({tree}); one run each, warm cache")
    print(f"{'command':<22}{'seconds':>9}{'MB/s':>9}{'files/s':>10}{'/ cp -a':>9}")
    for name, seconds in times.items():
        print(f"{name:<22}{seconds:>9.2f}{total / 1e6 / seconds:>9.1f}"
              f"{want[0] / seconds:>10,.0f}{seconds / times['cp -a']:>9.2f}")  # fmt: skip
    return 0


if __name__ == "__main__":
    sys.exit(main())

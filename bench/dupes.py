"""Benchmark `vegafs dupes` against `jdupes -r` and `fclones group`.

Usage: python bench/dupes.py [--tree DIR] [--files N] [--seed N] [--runs 5] [--vegafs CMD]

Generates the tree if missing (see `generate`), runs each tool once untimed (this warms the
page cache and gives the groups it finds), checks that the three find the same groups of
inodes, then times every tool --runs times on the same tree, round robin, and prints the
medians and the ratios VegaFS / jdupes and VegaFS / fclones against the goals of issue 9
(<= 0.5 and <= 1.0). Exits 0 with a report whatever the goals say; 2 when a tool is missing or
fails, or the tools disagree.

The tools are made comparable: every one skips empty files, follows no symlink and counts hard
links to one inode as one file (their defaults); fclones is given `--hidden --no-ignore` (its
defaults skip dot-files and honour .gitignore, which VegaFS and jdupes do not; the tree has
neither) and `-f fdupes` (groups of paths separated by blank lines, as jdupes prints them).
Groups are compared as sets of (dev, inode), since the tools list hard-linked paths differently.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from analyze import GNU_TIME, find_executable, find_vegafs

BENCH_DIR = Path(__file__).resolve().parent
DEFAULT_FILES = 100_000
DEFAULT_SEED = 7
MARKER = ".vegafs-dupes-tree"
GOAL_JDUPES = 0.5  # VegaFS time / jdupes -r time
GOAL_FCLONES = 1.0  # VegaFS time / fclones group time
KIB, MIB = 1024, 1024 * 1024


def parse_args() -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--tree", type=Path, help="default: bench/.trees/dupes-<files>f-s<seed>")
    p.add_argument("--files", type=int, default=DEFAULT_FILES)
    p.add_argument("--seed", type=int, default=DEFAULT_SEED)
    p.add_argument("--runs", type=int, default=5)
    p.add_argument("--vegafs", help="the vegafs command (default: next to this Python)")
    return p.parse_args()


def size_of(rng: random.Random) -> int:
    """Mostly small, a tail to a few MiB: 95% 1 B-32 KiB, 4.5% 32 KiB-1 MiB, 0.5% 1-4 MiB
    (log-uniform within each band)."""
    u = rng.random()
    low, high = (0, 15) if u < 0.95 else (15, 20) if u < 0.995 else (20, 22)
    return max(1, int(2 ** rng.uniform(low, high)))


def generate(tree: Path, files: int, seed: int) -> None:
    """``files`` regular files in 20 x 10 x 5 nested directories: ~20% of them in groups of
    2-5 copies, ~2% in pairs of equal size that differ in one byte in the middle, ~0.5% empty,
    the rest distinct (many sharing a size by chance); then hard links to 0.5% of the files.
    Same parameters, same tree; the marker file records them."""
    params = {"files": files, "seed": seed}
    marker = tree / MARKER
    if marker.exists():
        if json.loads(marker.read_text()) == params:
            print(f"tree already present: {tree}", file=sys.stderr)
            return
        sys.exit(f"{tree} holds a tree of other parameters: {marker.read_text()}")
    if tree.exists() and any(tree.iterdir()):
        sys.exit(f"{tree} is not empty and has no {MARKER}: not touching it")
    rng = random.Random(seed)
    dirs = [
        tree / f"d{a}" / f"e{b}" / f"f{c}" for a in range(20) for b in range(10) for c in range(5)
    ]
    places = dirs + sorted({d.parent for d in dirs})
    for d in dirs:
        d.mkdir(parents=True, exist_ok=True)
    written: list[Path] = []

    def put(content: bytes) -> None:
        path = rng.choice(places) / f"file{len(written)}.bin"
        path.write_bytes(content)
        written.append(path)

    while len(written) < files:
        u = rng.random()
        if u < 0.0667:  # a group of copies: about 20% of the files end in one
            content = rng.randbytes(size_of(rng))
            for _ in range(rng.randint(2, 5)):
                put(content)
        elif u < 0.0767:  # two files of one size, apart in the middle only
            twin = bytearray(rng.randbytes(max(size_of(rng), 3 * 4 * KIB)))
            put(bytes(twin))
            twin[len(twin) // 2] ^= 0xFF
            put(bytes(twin))
        elif u < 0.0817:
            put(b"")
        else:
            put(rng.randbytes(size_of(rng)))
    for i, path in enumerate(rng.sample(written, len(written) // 200)):
        os.link(path, rng.choice(places) / f"link{i}.bin")
    marker.write_text(json.dumps(params))


def groups_of(paths_per_group: list[list[str]]) -> set[frozenset[tuple[int, int]]]:
    out = set()
    for paths in paths_per_group:
        inodes = frozenset((st.st_dev, st.st_ino) for st in map(os.lstat, paths))
        if len(inodes) > 1:
            out.add(inodes)
    return out


def blank_line_groups(text: str) -> list[list[str]]:
    """jdupes' and fclones -f fdupes' output: paths, a blank line between groups."""
    return [block.splitlines() for block in text.split("\n\n") if block.strip()]


def vegafs_groups(text: str) -> list[list[str]]:
    return [json.loads(line)["paths"] for line in text.splitlines()]


def run_once(cmd: list[str]) -> tuple[float, float, int]:
    """Wall seconds, CPU seconds (user + system) and peak RSS KiB of ``cmd``, stdout to
    /dev/null, through GNU time (a small C parent: its figures are the command's own)."""
    with tempfile.NamedTemporaryFile("r") as out, tempfile.TemporaryFile() as err:
        started = time.perf_counter()
        code = subprocess.run(
            [str(GNU_TIME), "-f", "%U %S %M", "-o", out.name, *cmd],
            stdout=subprocess.DEVNULL,
            stderr=err,
            check=False,
        ).returncode
        seconds = time.perf_counter() - started
        if code != 0:
            err.seek(0)
            sys.exit(f"{cmd[0]} failed ({code}): {err.read().decode(errors='replace')[-2000:]}")
        user, system, rss = out.read().split()[-3:]
    return seconds, float(user) + float(system), int(rss)


def main() -> None:
    args = parse_args()
    tree = args.tree or BENCH_DIR / ".trees" / f"dupes-{args.files}f-s{args.seed}"
    generate(tree, args.files, args.seed)
    tree_arg = str(tree)
    vegafs = find_vegafs(args.vegafs)
    jdupes = find_executable(["jdupes"])
    fclones = find_executable(["fclones"])
    if jdupes is None or fclones is None:
        sys.exit("jdupes or fclones missing: run `make bench-dupes` (it installs them)")
    tools = {
        "vegafs dupes": ([*vegafs, "dupes", tree_arg, "--json"], vegafs_groups),
        "jdupes -r": ([jdupes, "-r", "-q", tree_arg], blank_line_groups),
        "fclones group": (
            [fclones, "group", "--hidden", "--no-ignore", "-f", "fdupes", tree_arg],
            blank_line_groups,
        ),
    }
    found = {}
    for name, (cmd, parse) in tools.items():  # untimed: warms the cache, gives the groups
        done = subprocess.run(cmd, capture_output=True, text=True, check=False)
        if done.returncode != 0:
            sys.exit(f"{name} failed ({done.returncode}): {done.stderr[-2000:]}")
        found[name] = groups_of(parse(done.stdout))
    reference = found["vegafs dupes"]
    files = sum(len(g) for g in reference)
    print(f"tree: {tree} ({args.files:,} files)")
    for name, groups in found.items():
        same = "same" if groups == reference else "DIFFERENT"
        print(
            f"  {name:14} {len(groups):6,} groups {sum(len(g) for g in groups):7,} inodes  {same}"
        )
    if any(groups != reference for groups in found.values()):
        sys.exit("the tools found different groups")
    print(f"  all three: {len(reference):,} groups of {files:,} distinct inodes")

    if not os.access(GNU_TIME, os.X_OK):
        sys.exit(f"{GNU_TIME} missing: apt-get install time (make bench-dupes installs it)")
    times: dict[str, list[float]] = {name: [] for name in tools}
    cpu: dict[str, list[float]] = {name: [] for name in tools}
    rss: dict[str, int] = dict.fromkeys(tools, 0)
    for _ in range(args.runs):
        for name, (cmd, _parse) in tools.items():
            seconds, cpu_seconds, rss_kib = run_once(cmd)
            times[name].append(seconds)
            cpu[name].append(cpu_seconds)
            rss[name] = max(rss[name], rss_kib)
    median = {name: statistics.median(t) for name, t in times.items()}
    print(f"\n{args.runs} runs each, round robin, warm cache, {os.cpu_count()} CPUs")
    print(f"{'tool':16}{'median s':>10}{'min s':>9}{'CPU s':>8}{'peak RSS':>11}{'/ vegafs':>10}")
    for name in tools:
        ratio = median[name] / median["vegafs dupes"]
        print(
            f"{name:16}{median[name]:10.3f}{min(times[name]):9.3f}"
            f"{statistics.median(cpu[name]):8.2f}{rss[name] / 1024:8.0f} MiB{ratio:9.2f}x"
        )
    for anchor, goal in (("jdupes -r", GOAL_JDUPES), ("fclones group", GOAL_FCLONES)):
        ratio = median["vegafs dupes"] / median[anchor]
        verdict = "PASS" if ratio <= goal else "FAIL"
        print(f"{verdict}: vegafs / {anchor} = {ratio:.2f} (goal <= {goal})")
    if shutil.which("uptime"):  # the load: other work on the machine shows here
        print(
            subprocess.run(["uptime"], capture_output=True, text=True, check=False).stdout.strip()
        )


if __name__ == "__main__":
    main()

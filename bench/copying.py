"""Benchmark `vegafs copy --apply` of a generated tree of many (mostly small) files against
`cp -a`, `rsync -a` and `xcp -r` (when built into bench/.tools: scripts/ensure-bench-tools.sh),
the same tree into a fresh destination each, warm cache, in rounds: each round runs every tool
once, in turn (the disk's speed drifts: a ratio is taken within a round, never across).

Usage: python bench/copying.py [--tree DIR] [--files 100000] [--dirs 1000] [--seed 42]
           [--rounds 1] [--before CMD]

``--before CMD``: another vegafs (e.g. main's build) run in each round too, as "vegafs
(before)", right after the one measured: a change's figures before and after, same run.

Generates the tree once (deterministic: 95% of the files 0-4 KiB, 5% 4-64 KiB). Each tool copies
it to a fresh destination beside the tree (each run its own; all removed, untimed, at the end:
a removal right before a run slows it, see ``main``); the copy is checked (same files, same
sizes) after each run. Prints, each round, seconds, MB/s, files/s and each time divided by cp
-a's of that round, and the CPU seconds (user + system) each used; then each tool's median
ratio over the rounds. (Not bench/copy.py: run from bench/, that name would hide the standard
library's `copy` module.)

Every run starts with nothing dirty (a `sync`, untimed, before it): a `syncfs` is of the whole
file system, and a run right after cp -a could write back cp's 368 MB too (vegafs: 8.2-9.1 s
in two rounds of three, against 4.6-5.0 s in every round once each run began with a sync).

VegaFS does more than the others: a `syncfs` per batch (8,192 files or 1 GiB) before they get
their names, an fsync of their directories, a journal committed before the first copy, so its
figure includes the durability the others do not give. ``xcp -r + sync`` is a floor, not a
tool: the fastest copier here (parallel, no journal), then a `sync -f` of the destination (that
durability). The journal's
cost is shown apart: the time of writing and committing a journal of as many steps
(`Journal.begin`) in a fresh SQLite database. Exit 2 when a command cannot run.
"""

from __future__ import annotations

import argparse
import os
import random
import resource
import shlex
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path

from analyze import REPO_ROOT, find_executable, find_vegafs

# In the order they run in a round; the ratios are to cp -a, which runs first.
# A floor: the fastest copier here (xcp: parallel, no journal) followed by a `sync -f` of the
# destination, the durability VegaFS gives before it commits.
FLOOR = "xcp -r + sync"
TOOLS = ("cp -a", "vegafs copy --apply", "vegafs (before)", "rsync -a", "xcp -r", FLOOR)
# Those that make DEST themselves, as a copy of the tree (the others copy into it).
MAKE_DEST = ("xcp -r", FLOOR)


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description="Benchmark `vegafs copy --apply`.")
    parser.add_argument("--tree", type=Path, help="benchmark tree (default: bench/.trees/)")
    parser.add_argument("--files", type=int, default=100_000)
    parser.add_argument("--dirs", type=int, default=1_000)
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--vegafs", help="command that runs vegafs (default: next to python)")
    parser.add_argument("--rounds", type=int, default=1, help="rounds of every tool in turn")
    parser.add_argument("--before", help="another vegafs command, run in each round too")
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
    data = Path(tempfile.mkdtemp(prefix="vegafs-bench-copy-"))
    vegafs = find_vegafs(args.vegafs)

    # Each run copies into a fresh destination of its own, all removed (untimed) at the end, none
    # before: ext4 without a journal (this machine's) skips, when it allocates an inode, those
    # freed in the last 60 to 360 s, one look at the inode table each; a copy that ran right
    # after 100,000 files were removed took 3 to 5 times the system time of one into a fresh
    # directory (cp -a: 4.4 to 26 s a round when each run removed its last destination first).
    def dest_of(name: str, round_: int) -> Path:
        return tree.parent / f"{tree.name}.dest-{TOOLS.index(name)}-r{round_}"

    for stale in tree.parent.glob(f"{tree.name}.dest-*"):  # an interrupted run's
        shutil.rmtree(stale, ignore_errors=True)
    made: list[Path] = []

    def commands_for(round_: int) -> dict[str, list[str]]:
        dest = {name: dest_of(name, round_) for name in TOOLS}
        made.extend(dest.values())
        commands: dict[str, list[str]] = {
            "vegafs copy --apply": [*vegafs, "copy", str(tree),
                                    str(dest["vegafs copy --apply"]), "--apply"],
            "cp -a": ["cp", "-a", f"{tree}/.", str(dest["cp -a"])],
            "rsync -a": ["rsync", "-a", f"{tree}/", f"{dest['rsync -a']}/"],
        }  # fmt: skip
        if args.before:
            commands["vegafs (before)"] = [*shlex.split(args.before), "copy", str(tree),
                                           str(dest["vegafs (before)"]), "--apply"]  # fmt: skip
        if xcp:
            commands["xcp -r"] = [xcp, "-r", str(tree), str(dest["xcp -r"])]
            floor = [xcp, "-r", str(tree), str(dest[FLOOR])]
            script = f"{shlex.join(floor)} && sync -f {shlex.quote(floor[-1])}"
            commands[FLOOR] = ["sh", "-c", script]
        return commands

    xcp = find_executable(["xcp"])
    commands = commands_for(0)  # which tools run (round 0 is never run: nothing is made)
    made.clear()
    for name in TOOLS:
        command = commands.get(name)
        if name != "vegafs (before)" and (command is None or shutil.which(command[0]) is None):
            print(f"{name}: not found (make bench-copy installs it): left out", flush=True)
            commands.pop(name, None)
    env = os.environ | {"VEGAFS_DATA_DIR": str(data)}
    print(f"tree: {want[0]:,} files, {total / 1e6:,.1f} MB ({tree}); {args.rounds} round(s), "
          "every tool once a round, warm cache")  # fmt: skip
    ratios: dict[str, list[float]] = {name: [] for name in TOOLS if name in commands}
    try:
        for round_ in range(1, args.rounds + 1):
            print(f"round {round_} ({time.strftime('%H:%M:%S', time.gmtime())} UTC, load "
                  f"{os.getloadavg()[0]:.1f})")  # fmt: skip
            print(f"{'command':<22}{'seconds':>9}{'MB/s':>9}{'files/s':>10}{'/ cp -a':>9}"
                  f"{'CPU s':>8}", flush=True)  # fmt: skip
            times: dict[str, float] = {}
            these = commands_for(round_)
            for name in (n for n in TOOLS if n in commands):
                # Each vegafs its own database: "before" may be of another schema.
                own = env | {"VEGAFS_DATA_DIR": str(data / str(TOOLS.index(name)))}
                seconds, cpu = run_one(name, these[name], dest_of(name, round_), own, want)
                times[name] = seconds
                ratio = seconds / times["cp -a"]
                ratios[name].append(ratio)
                rate = f"{total / 1e6 / seconds:>9.1f}{want[0] / seconds:>10,.0f}"
                print(f"{name:<22}{seconds:>9.2f}{rate}{ratio:>9.2f}{cpu:>8.2f}", flush=True)
    except CopyFailed as e:
        print(e)
        return 2
    finally:
        for d in [*made, data]:
            shutil.rmtree(d, ignore_errors=True)
    for name, values in ratios.items():
        print(f"{name} / cp -a: median {statistics.median(values):.2f} "
              f"({', '.join(f'{v:.2f}' for v in values)})")  # fmt: skip
    print(f"journal of {want[0]:,} copy steps written and committed: {journal_cost(want[0]):.2f} s")
    return 0


class CopyFailed(Exception):
    """A tool failed or copied something else than the tree."""


def run_one(
    name: str, command: list[str], dest: Path, env: dict[str, str], want: tuple[int, int]
) -> tuple[float, float]:
    """Runs one copy into the fresh ``dest``: seconds and CPU seconds."""
    if name not in MAKE_DEST:
        dest.mkdir()
    # Nothing left to write back when it starts: `syncfs` (vegafs's, the floor's `sync -f`) is
    # of the whole file system, so a tool run after cp -a would also pay for writing cp's copy.
    os.sync()
    started, cpu = time.perf_counter(), children_cpu()
    done = subprocess.run(command, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                          check=False)  # fmt: skip
    seconds = time.perf_counter() - started
    cpu = children_cpu() - cpu
    if done.returncode != 0:
        raise CopyFailed(f"{name}: exit {done.returncode}: {done.stderr.decode()[-500:]}")
    got = summary_of(dest)
    if got != want:
        raise CopyFailed(f"{name}: copied {got}, the tree has {want}")
    return seconds, cpu


def children_cpu() -> float:
    """User + system CPU seconds of the finished children."""
    used = resource.getrusage(resource.RUSAGE_CHILDREN)
    return used.ru_utime + used.ru_stime


def journal_cost(steps: int) -> float:
    """Seconds to write and commit a journal of ``steps`` copy steps, as ``vegafs copy
    --apply`` does before its first copy, into a fresh SQLite database."""
    data = Path(tempfile.mkdtemp(prefix="vegafs-bench-journal-"))
    script = (
        "import sys, time\n"
        "from vegafs.journal import open_journal\n"
        "from vegafs.journal.store import Step\n"
        "n = int(sys.argv[1])\n"
        "steps = [Step(f'/src/d{i // 100:04}/f{i:06}.bin', f'/dst/d{i // 100:04}/f{i:06}.bin',"
        " 2049, 1000000 + i, 1700000000000000000 + i, kind='copy',"
        " backup=f'/dst/d{i // 100:04}/.vegafs-1-{i}') for i in range(n)]\n"
        "journal = open_journal()\n"
        "start = time.perf_counter()\n"
        "journal.begin('copy', {}, steps)\n"
        "print(time.perf_counter() - start)\n"
    )
    try:
        env = os.environ | {"VEGAFS_DATA_DIR": str(data)}
        command = [sys.executable, "-c", script, str(steps)]
        done = subprocess.run(command, capture_output=True, env=env, check=True)
        return float(done.stdout)
    finally:
        shutil.rmtree(data, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())

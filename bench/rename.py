"""Benchmark a journaled `vegafs rename --apply` against perl `rename` (Debian's `rename`
package, `file-rename`) run by `find -exec ... +`, which keeps no journal.

Usage: python bench/rename.py [--tree DIR] [--files N] [--runs 3] [--vegafs CMD]

The tree: N empty files `fNNNNNN.a` in 100 directories (generated if missing). Each timed run
renames every `*.a` to `*.b` (VegaFS: `-m '\\.a$' --to '{stem}.b' --apply`; perl: `s/\\.a$/.b/`);
between two runs the tree is put back by os.rename, untimed, and checked. Also timed: the
VegaFS plan alone (no `--apply`), so that the cost of applying (journal, renames, fsyncs) shows
apart, and the journal alone (its writes for as many steps, no renames). Prints medians,
renames per second and the ratio VegaFS / perl rename against the goal of
issue 10 (<= 1.0). Exits 0 with a report whatever the goal says; 2 when a tool is missing or a
run leaves the tree other than expected.

The journal is a SQLite file in a temporary VEGAFS_DATA_DIR (synchronous=FULL, as a local run
uses), on the tree's file system.
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from analyze import find_executable, find_vegafs

BENCH_DIR = Path(__file__).resolve().parent
DIRS = 100
GOAL = 1.0  # VegaFS --apply time / perl rename time


def parse_args() -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--tree", type=Path, help="default: bench/.trees/rename-<files>f")
    p.add_argument("--files", type=int, default=100_000)
    p.add_argument("--runs", type=int, default=3)
    p.add_argument("--vegafs", help="the vegafs command (default: next to this Python)")
    return p.parse_args()


def expected(files: int, ext: str) -> dict[str, list[str]]:
    out: dict[str, list[str]] = {f"d{d:03}": [] for d in range(DIRS)}
    for i in range(files):
        out[f"d{i % DIRS:03}"].append(f"f{i:06}.{ext}")
    return {d: sorted(names) for d, names in out.items()}


def generate(tree: Path, files: int) -> None:
    if tree.exists():
        return
    tmp = tree.with_name(tree.name + ".partial")
    shutil.rmtree(tmp, ignore_errors=True)
    for d, names in expected(files, "a").items():
        (tmp / d).mkdir(parents=True)
        for name in names:
            (tmp / d / name).touch()
    tmp.rename(tree)


def state(tree: Path) -> dict[str, list[str]]:
    return {d.name: sorted(p.name for p in d.iterdir()) for d in sorted(tree.iterdir())}


def put_back(tree: Path, files: int) -> None:
    """Every `.b` back to `.a` (untimed), then checked."""
    for d in tree.iterdir():
        for path in d.iterdir():
            if path.suffix == ".b":
                path.rename(path.with_suffix(".a"))
    if state(tree) != expected(files, "a"):
        sys.exit(f"{tree}: not the generated tree after putting it back")


def timed(cmd: list[str], env: dict[str, str]) -> float:
    os.sync()  # untimed: nothing left to write back from the run before (its fsyncs)
    started = time.perf_counter()
    done = subprocess.run(cmd, env=env, capture_output=True, check=False)
    seconds = time.perf_counter() - started
    if done.returncode != 0:
        sys.exit(f"{cmd[0]} failed ({done.returncode}): {done.stderr.decode()[-2000:]}")
    return seconds


JOURNAL_COST = """
import sys, time
from vegafs.journal import open_journal
from vegafs.journal.store import COMMITTED, Step
files, batch = int(sys.argv[1]), int(sys.argv[2])
steps = [Step(f"/t/d{i % 100:03}/f{i:06}.a", f"/t/d{i % 100:03}/f{i:06}.b", 2049, i, 10**18 + i)
         for i in range(files)]
journal = open_journal()
started = time.perf_counter()
op = journal.begin("rename", {}, steps)
for done in range(batch, files, batch):
    journal.advance(op, done)
journal.finish(op, COMMITTED, steps_done=files)
print(time.perf_counter() - started)
"""


def journal_cost(files: int, env: dict[str, str]) -> float:
    """Seconds the journal alone takes for ``files`` rename steps in the same SQLite set-up as
    the timed runs: the plan written (one transaction), the progress of each batch, the end."""
    from vegafs.ops.rename import APPLY_BATCH

    cmd = [sys.executable, "-c", JOURNAL_COST, str(files), str(APPLY_BATCH)]
    done = subprocess.run(cmd, env=env, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        sys.exit(f"journal cost: {done.stderr[-2000:]}")
    return float(done.stdout)


def main() -> None:
    args = parse_args()
    tree = (args.tree or BENCH_DIR / ".trees" / f"rename-{args.files}f").resolve()
    generate(tree, args.files)
    put_back(tree, args.files)
    vegafs = find_vegafs(args.vegafs)
    perl_rename = find_executable(["file-rename", "rename"])
    if perl_rename is None:
        sys.exit("perl rename missing: run `make bench-rename` (apt-get install rename)")
    data = Path(tempfile.mkdtemp(prefix="vegafs-bench-rename-", dir=tree.parent))
    env = {**os.environ, "VEGAFS_DATA_DIR": str(data), "VEGAFS_QUICK": "1"}
    env.pop("VEGAFS_DATABASE_URL", None)
    base = [*vegafs, "rename", str(tree), "-m", r"\.a$", "--to", "{stem}.b"]
    tools = {
        "vegafs rename (plan only)": ([*base, "--json"], False),
        "vegafs rename --apply": ([*base, "--apply"], True),
        "find -exec rename": (
            ["find", str(tree), "-name", "*.a", "-exec", perl_rename, r"s/\.a$/.b/", "{}", "+"],
            True,
        ),
    }
    times: dict[str, list[float]] = {name: [] for name in tools}
    try:
        for _ in range(args.runs):
            for name, (cmd, renames) in tools.items():
                times[name].append(timed(cmd, env))
                if renames:
                    if state(tree) != expected(args.files, "b"):
                        sys.exit(f"{name}: the tree is not every file renamed")
                    put_back(tree, args.files)
        journal_s = journal_cost(args.files, env)
    finally:
        shutil.rmtree(data, ignore_errors=True)
    median = {name: statistics.median(t) for name, t in times.items()}
    print(f"tree: {tree} ({args.files:,} files in {DIRS} directories)")
    print(f"{args.runs} runs each, round robin, warm cache, {os.cpu_count()} CPUs")
    print(f"{'tool':28}{'median s':>10}{'min s':>9}{'renames/s':>12}")
    for name in tools:
        rate = f"{args.files / median[name]:12,.0f}" if tools[name][1] else f"{'-':>12}"
        print(f"{name:28}{median[name]:10.3f}{min(times[name]):9.3f}{rate}")
    apply_cost = median["vegafs rename --apply"] - median["vegafs rename (plan only)"]
    print(f"applying (journal, renames, fsyncs): {apply_cost:.3f} s")
    print(f"of which the journal alone: {journal_s:.3f} s "
          f"({journal_s / args.files * 1e6:.1f} us per rename)")  # fmt: skip
    ratio = median["vegafs rename --apply"] / median["find -exec rename"]
    verdict = "PASS" if ratio <= GOAL else "FAIL"
    print(f"{verdict}: vegafs rename --apply / find -exec rename = {ratio:.2f} (goal <= {GOAL})")
    if shutil.which("uptime"):
        uptime = subprocess.run(["uptime"], capture_output=True, text=True, check=False)
        print(uptime.stdout.strip())


if __name__ == "__main__":
    main()

"""Benchmark `vegafs validate` on many small JSON files against a Python `json.load` loop over
the same files (and `jq empty`, when Debian's jq is installed), in one run; reported in files/s.

Usage: python bench/validate.py [--tree DIR] [--files 100000] [--dirs 100] [--runs 3]

Generates the tree if missing (deterministic small JSON documents, 100-600 bytes, one in 1,000
broken so that every tool has something to report), warms the page cache with one untimed run
of every command, checks that each finds the same broken files, then times every command --runs
times, round robin. Prints medians, files/s and VegaFS / anchor ratios. Exits 1 when the tools
disagree on the broken files, 2 when a command cannot run.
"""

from __future__ import annotations

import argparse
import json
import random
import statistics
import subprocess
import sys
import time
from collections.abc import Sequence
from pathlib import Path

from analyze import REPO_ROOT, find_executable, find_vegafs

BROKEN_EVERY = 1000
# The anchor: one interpreter reading and parsing every file in turn.
PY_LOOP = """
import json, os, sys
bad = []
for top, _, names in os.walk(sys.argv[1]):
    for name in names:
        path = os.path.join(top, name)
        try:
            with open(path, "rb") as f:
                json.load(f)
        except ValueError:
            bad.append(path)
print("\\n".join(sorted(bad)))
"""


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description="Benchmark `vegafs validate`.")
    parser.add_argument("--tree", type=Path, help="benchmark tree (default: bench/.trees/)")
    parser.add_argument("--files", type=int, default=100_000)
    parser.add_argument("--dirs", type=int, default=100)
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--vegafs", help="command that runs vegafs (default: next to python)")
    return parser.parse_args(argv)


def ensure_tree(tree: Path, files: int, dirs: int, seed: int) -> None:
    done = tree / ".complete"
    if done.exists():
        return
    rng = random.Random(seed)
    for d in range(dirs):
        (tree / f"d{d:04}").mkdir(parents=True, exist_ok=True)
    for i in range(files):
        doc = {
            "id": i,
            "name": f"item-{rng.randrange(10**6)}",
            "tags": [rng.choice("abcdef") * rng.randrange(1, 8) for _ in range(rng.randrange(8))],
            "price": round(rng.random() * 100, 2),
            "nested": {"ok": rng.random() < 0.5, "n": [rng.randrange(100) for _ in range(10)]},
        }
        text = json.dumps(doc, indent=rng.choice([None, 2]))
        if i % BROKEN_EVERY == BROKEN_EVERY - 1:
            text = text[: len(text) // 2]
        (tree / f"d{i % dirs:04}" / f"f{i:06}.json").write_text(text)
    done.write_text("")


def broken_files(name: str, out: bytes) -> list[str]:
    """The broken files a command reported, as sorted paths."""
    lines = out.decode().splitlines()
    if name.startswith("vegafs"):
        return sorted({json.loads(line)["path"] for line in lines})
    return sorted(line for line in lines if line)


def commands(vegafs: list[str], tree: str) -> dict[str, list[str]]:
    cmds = {
        "vegafs validate": [*vegafs, "validate", tree, "--json", "-g", "*.json"],
        "python json.load loop": [sys.executable, "-c", PY_LOOP, tree],
    }
    jq = find_executable(["jq"])
    if jq:
        # One jq per file through find -exec: jq stops at the first file that fails otherwise.
        script = f'for f; do {jq} empty "$f" 2>/dev/null || echo "$f"; done'
        cmds["find -exec jq empty"] = [
            "sh", "-c", f"find {tree} -name '*.json' -exec sh -c '{script}' _ {{}} + | sort",
        ]  # fmt: skip
    return cmds


def run(cmd: list[str]) -> tuple[float, bytes]:
    started = time.perf_counter()
    done = subprocess.run(cmd, capture_output=True, check=False)
    seconds = time.perf_counter() - started
    if done.returncode not in (0, 1):
        sys.exit(f"validate: {' '.join(cmd)} failed ({done.returncode}): {done.stderr.decode()}")
    return seconds, done.stdout


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    name = f"validate-{args.files}f-{args.dirs}d-s{args.seed}"
    tree = args.tree or REPO_ROOT / "bench" / ".trees" / name
    ensure_tree(tree, args.files, args.dirs, args.seed)
    cmds = commands(find_vegafs(args.vegafs), str(tree))
    outputs = {n: run(cmd)[1] for n, cmd in cmds.items()}  # warm-up
    status = 0
    reference = broken_files("vegafs validate", outputs["vegafs validate"])
    for n, out in outputs.items():
        if broken_files(n, out) != reference:
            print(f"validate: {n} found other broken files than VegaFS", file=sys.stderr)
            status = 1
    times: dict[str, list[float]] = {n: [] for n in cmds}
    for _ in range(args.runs):
        for n, cmd in cmds.items():
            times[n].append(run(cmd)[0])
    print(f"tree: {tree} ({args.files:,} JSON files, {len(reference):,} broken), "
          f"{args.runs} runs, round robin, warm cache")  # fmt: skip
    print(f"{'command':<24} {'median s':>9} {'min s':>8} {'files/s':>10}")
    for n in cmds:
        median = statistics.median(times[n])
        print(f"{n:<24} {median:>9.3f} {min(times[n]):>8.3f} {args.files / median:>10,.0f}")
    ours = statistics.median(times["vegafs validate"])
    for n in cmds:
        if n != "vegafs validate":
            print(f"vegafs validate is {statistics.median(times[n]) / ours:.1f}x faster than {n}")
    return status


if __name__ == "__main__":
    sys.exit(main())

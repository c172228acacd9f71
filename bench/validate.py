"""Benchmark `vegafs validate` on many small JSON files against a Python `json.load` loop over
the same files (and `jq empty`, when Debian's jq is installed), in one run; reported in files/s.

Usage: python bench/validate.py [--tree DIR] [--files 100000] [--dirs 100] [--runs 3]
                                [--jq-files 2000]

Generates the tree if missing (deterministic small JSON documents, 100-600 bytes, one in 1,000
broken so that every tool has something to report), warms the page cache with one untimed run
of every command, checks that each finds the same broken files, then times every command --runs
times, round robin. Prints medians, files/s and VegaFS / anchor ratios. jq reads one file per
process (given several it parses them as one stream and stops at the first error), about 30
files/s here: it is timed on the first --jq-files files of the tree only, and its files/s is
that sample's. Exits 1 when the tools
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
    parser.add_argument("--jq-files", type=int, default=2_000)
    parser.add_argument("--vegafs", help="command that runs vegafs (default: next to python)")
    return parser.parse_args(argv)


def ensure_tree(tree: Path, files: int, dirs: int, seed: int) -> None:
    done = tree.parent / f"{tree.name}.complete"  # beside it: the tree holds JSON files only
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


def commands(vegafs: list[str], tree: Path, jq_files: int) -> dict[str, list[str]]:
    cmds = {
        "vegafs validate": [*vegafs, "validate", str(tree), "--json", "-g", "*.json"],
        "python json.load loop": [sys.executable, "-c", PY_LOOP, str(tree)],
    }
    jq = find_executable(["jq"])
    if jq and jq_files:
        sample = sorted(str(p) for p in tree.glob("d*/f*.json"))[:jq_files]
        script = f'for f; do {jq} empty "$f" 2>/dev/null || echo "$f"; done'
        cmds["jq empty (sample)"] = ["sh", "-c", script, "_", *sample]
    return cmds


def sample_size(name: str, cmd: list[str], files: int) -> int:
    return len(cmd) - 4 if name == "jq empty (sample)" else files


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
    cmds = commands(find_vegafs(args.vegafs), tree, args.jq_files)
    outputs = {n: run(cmd)[1] for n, cmd in cmds.items()}  # warm-up
    status = 0
    reference = broken_files("vegafs validate", outputs["vegafs validate"])
    for n, out in outputs.items():
        expected = reference
        if n == "jq empty (sample)":
            expected = [p for p in reference if p in set(cmds[n][4:])]
        if broken_files(n, out) != expected:
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
        rate = sample_size(n, cmds[n], args.files) / median
        print(f"{n:<24} {median:>9.3f} {min(times[n]):>8.3f} {rate:>10,.0f}")
    ours = args.files / statistics.median(times["vegafs validate"])
    for n in cmds:
        if n != "vegafs validate":
            theirs = sample_size(n, cmds[n], args.files) / statistics.median(times[n])
            print(f"vegafs validate / {n}: {ours / theirs:.1f}x the files/s")
    return status


if __name__ == "__main__":
    sys.exit(main())

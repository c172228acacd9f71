"""Benchmark `vegafs analyze` against du, diskus, pdu, dust, gdu, fd and a plain Python walk.

Usage: python bench/analyze.py [--tree DIR] [--files N] [--dirs N] [--runs 3]
                               [--vegafs CMD] [--json-out FILE]

Generates the tree if missing (bench/gen_tree.py), warms the page cache with
one untimed walk, checks that VegaFS counts the same files, then times every
tool --runs times on the same tree, round robin.  Each command runs under
subprocess.Popen and is reaped with os.wait4; wall time is the median, memory
the command's peak RSS (ru_maxrss, read through GNU time when installed, see
run_once).  A "vegafs start" row times `vegafs analyze EMPTY_DIR --json`: the
cost of starting Python and importing VegaFS.  The Rust anchors are found in
bench/.tools/bin (scripts/ensure-bench-tools.sh), then on PATH.  Always exits
0 with a report, except 2 when the tree cannot be made or vegafs itself fails.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
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
from typing import Any, NoReturn

BENCH_DIR = Path(__file__).resolve().parent
REPO_ROOT = BENCH_DIR.parent
DEFAULT_FILES = 1_000_000
DEFAULT_DIRS = 10_000
DEFAULT_SEED = 42

VEGAFS = "vegafs"
STARTUP = "vegafs start"
DU = "du"
DISKUS = "diskus"
PDU = "pdu"
DUST = "dust"
RUST_ANCHORS = (DISKUS, PDU, DUST)
GDU = "gdu"
FD = "fd"
PYWALK = "python walk"

GNU_TIME = Path("/usr/bin/time")
# Where scripts/ensure-bench-tools.sh (run by `make bench`) installs the Rust anchors.
TOOLS_BIN = BENCH_DIR / ".tools" / "bin"
INSTALL_RUST_ANCHORS = "scripts/ensure-bench-tools.sh"

GOAL_SPEEDUP = 2.3
GOAL_PEAK_RSS_MIB = 150.0
GOAL_DU_RATIO = 0.5  # VegaFS time / du -s time
GOAL_RUST_RATIO = 0.75  # VegaFS time / the fastest of diskus, pdu, dust


@dataclass(frozen=True)
class Tool:
    name: str
    cmd: list[str]
    version_cmd: list[str] | None = None  # default: the executable with --version


@dataclass
class Result:
    tool: Tool
    times: list[float] = field(default_factory=list)
    peak_rss_kib: int = 0
    error: str | None = None

    @property
    def median(self) -> float:
        return statistics.median(self.times)

    @property
    def peak_rss_mib(self) -> float:
        return self.peak_rss_kib / 1024


@dataclass(frozen=True)
class Run:
    seconds: float
    max_rss_kib: int
    exit_code: int
    stderr: str


@dataclass(frozen=True)
class Goal:
    text: str
    status: str  # PASS, FAIL or SKIP
    detail: str


@dataclass(frozen=True)
class Report:
    tree: Path
    rss_method: str
    check: dict[str, Any]
    reference: dict[str, int]
    results: list[Result]


def fail(message: str) -> NoReturn:
    print(f"analyze: {message}", file=sys.stderr)
    sys.exit(2)


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description="Benchmark `vegafs analyze`.")
    parser.add_argument("--tree", type=Path, help="benchmark tree (default: beside the repo)")
    parser.add_argument("--files", type=int, default=DEFAULT_FILES)
    parser.add_argument("--dirs", type=int, default=DEFAULT_DIRS)
    parser.add_argument("--seed", type=int, default=DEFAULT_SEED)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--vegafs", help="command that runs vegafs (default: found next to python)")
    parser.add_argument("--json-out", type=Path, help="also write the figures to this JSON file")
    args = parser.parse_args(argv)
    if args.runs < 1:
        parser.error("--runs must be at least 1")
    return args


def default_tree(files: int, dirs: int, seed: int) -> Path:
    """`../bench-tree` for the standard tree; other sizes get their own directory."""
    if (files, dirs, seed) == (DEFAULT_FILES, DEFAULT_DIRS, DEFAULT_SEED):
        return REPO_ROOT.parent / "bench-tree"
    return REPO_ROOT.parent / f"bench-tree-{files}f-{dirs}d-s{seed}"


def ensure_tree(tree: Path, files: int, dirs: int, seed: int) -> None:
    cmd = [sys.executable, str(BENCH_DIR / "gen_tree.py"), str(tree)]
    cmd += ["--files", str(files), "--dirs", str(dirs), "--seed", str(seed)]
    if subprocess.run(cmd, check=False).returncode != 0:
        fail(f"could not generate the tree at {tree}")


def find_vegafs(override: str | None) -> list[str]:
    if override:
        return shlex.split(override)
    beside_python = Path(sys.executable).parent / "vegafs"
    if os.access(beside_python, os.X_OK):
        return [str(beside_python)]
    on_path = shutil.which("vegafs")
    if on_path:
        return [on_path]
    fail(f"vegafs not found next to {sys.executable} nor on PATH; install it or pass --vegafs CMD")


def find_executable(names: list[str]) -> str | None:
    """The first of `names` in bench/.tools/bin, else the first on PATH."""
    for name in names:
        local = TOOLS_BIN / name
        if os.access(local, os.X_OK):
            return str(local)
    return next(filter(None, map(shutil.which, names)), None)


def build_tools(tree: Path, vegafs: list[str], empty: Path) -> tuple[list[Tool], list[str]]:
    """The commands to time, and a skip line for each anchor that is missing.

    Every anchor computes one total for the whole tree and prints only that (or
    a one-line summary); thread counts are left at each tool's default, all
    cores, except pdu's (see below).
    """
    root = str(tree)
    tools = [
        # vegafs has a `version` command, no --version option.
        Tool(VEGAFS, [*vegafs, "analyze", root, "--json"], [*vegafs, "version"]),
        Tool(STARTUP, [*vegafs, "analyze", str(empty), "--json"], [*vegafs, "version"]),
    ]
    skipped: list[str] = []
    rust = f"crates.io, run {INSTALL_RUST_ANCHORS}"
    wanted = [
        (DU, ["du"], ["-s", "--apparent-size", root], "Debian: coreutils"),
        # Apparent size; its default (--directories=auto) leaves out the directories'
        # own sizes, which du -s --apparent-size counts: included, the totals agree.
        (DISKUS, ["diskus"], ["-b", "--directories=included", root], rust),
        # pdu's default (--threads=auto) is all cores unless it takes the disk for a
        # hard disk, then 1 thread; max is all cores on any machine, like the others.
        (
            PDU,
            ["pdu"],
            [
                "--quantity=apparent-size",
                "--max-depth=1",
                "--bytes-format=plain",
                "--threads=max",
                root,
            ],
            rust,
        ),
        (DUST, ["dust"], ["--apparent-size", "--depth=0", "--no-progress", root], rust),
        (GDU, ["gdu"], ["-n", "-p", root], "Debian: gdu"),
        # "." is fd's match-all pattern: a lone path would be taken as the pattern.
        (FD, ["fdfind", "fd"], ["-u", "-S", "+1k", ".", root], "Debian: fd-find"),
    ]
    for name, executables, args, source in wanted:
        found = find_executable(executables)
        if found:
            tools.append(Tool(name, [found, *args]))
        else:
            skipped.append(f"SKIP {name}: `{executables[0]}` not installed ({source})")
    tools.append(Tool(PYWALK, [sys.executable, str(BENCH_DIR / "pywalk.py"), root]))
    return tools, skipped


def rss_probe() -> str | None:
    """GNU time, if installed, to read a command's peak RSS (see run_once)."""
    return str(GNU_TIME) if os.access(GNU_TIME, os.X_OK) else None


def run_once(cmd: list[str], probe: str | None) -> Run:
    """Run `cmd` with stdout to /dev/null; its wall time and peak RSS.

    A child's ru_maxrss from os.wait4 starts at the RSS it had when it exec'd,
    which after Python's vfork is this runner's own peak (~15 MiB): a floor
    that hides small tools.  GNU time is a small C parent whose own wait4 gives
    the command's true figure, so it is used when present.
    """
    with tempfile.TemporaryFile() as err, tempfile.NamedTemporaryFile("r") as rss:
        argv = [probe, "-f", "%M", "-o", rss.name, *cmd] if probe else cmd
        started = time.perf_counter()
        proc = subprocess.Popen(
            argv, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=err
        )
        _, status, usage = os.wait4(proc.pid, 0)
        seconds = time.perf_counter() - started
        # wait4 reaped the child behind Popen's back; tell Popen so.
        proc.returncode = os.waitstatus_to_exitcode(status)
        err.seek(0)
        stderr = err.read().decode(errors="replace")
        max_rss_kib = parse_time_rss(rss.read()) if probe else usage.ru_maxrss
    return Run(seconds, max_rss_kib, proc.returncode, stderr)


def parse_time_rss(text: str) -> int:
    """GNU time's %M line is last; a "Command exited with ..." line may precede it."""
    words = text.split()
    return int(words[-1]) if words and words[-1].isdigit() else 0


def python_walk(tree: Path) -> dict[str, int]:
    """Untimed walk: warms the cache and gives the reference counts."""
    cmd = [sys.executable, str(BENCH_DIR / "pywalk.py"), str(tree)]
    proc = subprocess.run(cmd, check=False, capture_output=True, text=True)
    if proc.returncode != 0:
        fail(f"the python walk of {tree} failed; stderr:\n{proc.stderr}")
    counts: dict[str, int] = json.loads(proc.stdout)
    return counts


def check_vegafs(tool: Tool, reference: dict[str, int]) -> dict[str, Any]:
    """Run vegafs once untimed; exit 2 if it fails, warn if its file count is off."""
    proc = subprocess.run(tool.cmd, check=False, capture_output=True, text=True)
    if proc.returncode != 0:
        fail(f"`{shlex.join(tool.cmd)}` exited {proc.returncode}; stderr:\n{proc.stderr}")
    try:
        report = json.loads(proc.stdout)
    except json.JSONDecodeError as exc:
        fail(f"`{shlex.join(tool.cmd)}` printed no valid JSON ({exc}); stderr:\n{proc.stderr}")
    if not isinstance(report, dict):
        fail(f"`{shlex.join(tool.cmd)}` printed JSON that is not an object")
    missing = [key for key in ("files", "dirs", "apparent_bytes") if key not in report]
    if missing:
        print(f"WARNING: vegafs JSON lacks key(s) {', '.join(missing)}")
    print(f"check files: vegafs {report.get('files')}, python walk {reference['files']}")
    print(f"check dirs: vegafs {report.get('dirs')}, python walk {reference['dirs']} (below root)")
    print(
        f"check apparent_bytes: vegafs {report.get('apparent_bytes')}, "
        f"python walk {reference['apparent_bytes']} (regular files)"
    )
    if report.get("files") != reference["files"]:
        print("WARNING: vegafs file count differs from the python walk")
    # The walk alone, without starting Python and printing: what the core costs.
    print(f"vegafs core walk (elapsed_s in its JSON): {report.get('elapsed_s')} s")
    return {key: report.get(key) for key in ("files", "dirs", "apparent_bytes", "elapsed_s")}


def measure(tools: list[Tool], runs: int, probe: str | None) -> list[Result]:
    """Time every tool `runs` times, round robin; a failing anchor is dropped."""
    results = [Result(tool) for tool in tools]
    for _ in range(runs):
        for result in results:
            if result.error is not None:
                continue
            run = run_once(result.tool.cmd, probe)
            if run.exit_code != 0:
                if result.tool.name == VEGAFS:
                    fail(f"vegafs exited {run.exit_code} while timed; stderr:\n{run.stderr}")
                result.error = f"exit {run.exit_code}: {run.stderr.strip()[-300:]}"
                continue
            result.times.append(run.seconds)
            result.peak_rss_kib = max(result.peak_rss_kib, run.max_rss_kib)
    return results


def print_table(results: list[Result]) -> None:
    base = results[0].median
    print(f"\n{'tool':<12} {'median s':>9} {'min s':>9} {'peak RSS MiB':>13} {'t/vegafs':>9}")
    for result in results:
        if result.error is not None:
            print(f"{result.tool.name:<12} FAILED {result.error}")
            continue
        ratio = result.median / base
        print(
            f"{result.tool.name:<12} {result.median:>9.3f} {min(result.times):>9.3f} "
            f"{result.peak_rss_mib:>13.1f} {ratio:>9.2f}"
        )


def evaluate_goals(results: list[Result]) -> list[Goal]:
    by_name = {r.tool.name: r for r in results if r.error is None}
    vegafs = by_name[VEGAFS]
    goals = [faster_than(vegafs, by_name.get(FD), 1.0, "VegaFS time <= fd walk+stat time")]
    for name in (DU, GDU):
        text = f"VegaFS >= {GOAL_SPEEDUP}x faster than {name}"
        goals.append(faster_than(vegafs, by_name.get(name), GOAL_SPEEDUP, text))
    peak = vegafs.peak_rss_mib
    status = "PASS" if peak <= GOAL_PEAK_RSS_MIB else "FAIL"
    text = f"VegaFS peak memory <= {GOAL_PEAK_RSS_MIB:.0f} MiB"
    goals.append(Goal(text, status, f"{peak:.1f} MiB"))
    text = f"VegaFS / du -s <= {GOAL_DU_RATIO}"
    goals.append(time_ratio(vegafs, by_name.get(DU), GOAL_DU_RATIO, text))
    rust = [by_name[name] for name in RUST_ANCHORS if name in by_name]
    fastest = min(rust, key=lambda r: r.median) if rust else None
    text = f"VegaFS / fastest of {', '.join(RUST_ANCHORS)} <= {GOAL_RUST_RATIO}"
    goals.append(time_ratio(vegafs, fastest, GOAL_RUST_RATIO, text))
    return goals


def time_ratio(vegafs: Result, anchor: Result | None, limit: float, text: str) -> Goal:
    if anchor is None:
        return Goal(text, "SKIP", "anchor not measured, see above")
    ratio = vegafs.median / anchor.median
    status = "PASS" if ratio <= limit else "FAIL"
    detail = f"{ratio:.2f}: {vegafs.median:.3f} s vs {anchor.tool.name} {anchor.median:.3f} s"
    return Goal(text, status, detail)


def faster_than(vegafs: Result, anchor: Result | None, factor: float, text: str) -> Goal:
    if anchor is None:
        return Goal(text, "SKIP", "anchor not measured, see above")
    speedup = anchor.median / vegafs.median
    status = "PASS" if speedup >= factor else "FAIL"
    detail = f"{vegafs.median:.3f} s vs {anchor.median:.3f} s, {speedup:.2f}x"
    return Goal(text, status, detail)


def tool_version(tool: Tool) -> str:
    cmd = tool.version_cmd or [tool.cmd[0], "--version"]
    try:
        proc = subprocess.run(cmd, check=False, capture_output=True, text=True)
    except OSError:
        return "unknown"
    lines = (proc.stdout or proc.stderr).strip().splitlines()
    return " ".join(lines[0].split()) if proc.returncode == 0 and lines else "unknown"


def write_json(path: Path, args: argparse.Namespace, report: Report) -> None:
    results = report.results
    base = results[0].median
    data = {
        "tree": {
            "path": str(report.tree),
            "files": args.files,
            "dirs": args.dirs,
            "seed": args.seed,
        },
        "runs": args.runs,
        "machine": {"cpus": os.cpu_count(), "platform": platform.platform()},
        "rss_method": report.rss_method,
        "check": {"vegafs": report.check, "python_walk": report.reference},
        "tools": {
            r.tool.name: {
                "cmd": r.tool.cmd,
                "version": tool_version(r.tool),
                "error": r.error,
                "times_s": r.times,
                "median_s": r.median if r.times else None,
                "min_s": min(r.times) if r.times else None,
                "peak_rss_mib": r.peak_rss_mib if r.times else None,
                "ratio_to_vegafs": r.median / base if r.times else None,
            }
            for r in results
        },
        "goals": [
            {"goal": g.text, "status": g.status, "detail": g.detail}
            for g in evaluate_goals(results)
        ],
    }
    path.write_text(json.dumps(data, indent=2) + "\n", encoding="utf-8")
    print(f"\nwrote {path}")


def run_benchmark(args: argparse.Namespace, tree: Path, vegafs: list[str], empty: Path) -> int:
    tools, skipped = build_tools(tree, vegafs, empty)
    for line in skipped:
        print(line)
    print(f"warming the cache: python walk of {tree}")
    reference = python_walk(tree)
    check = check_vegafs(tools[0], reference)
    print(f"\ntiming {len(tools)} tools x {args.runs} runs, round robin:")
    for tool in tools:
        print(f"  {tool.name}: {shlex.join(tool.cmd)}")
    probe = rss_probe()
    rss_method = (
        f"ru_maxrss read by {probe} -f %M"
        if probe
        else f"os.wait4 ru_maxrss ({GNU_TIME} missing: small tools show this runner's ~15 MiB)"
    )
    print(f"peak RSS: {rss_method}")
    results = measure(tools, args.runs, probe)
    print_table(results)
    print()
    for goal in evaluate_goals(results):
        print(f"GOAL {goal.text}: {goal.status} ({goal.detail})")
    if args.json_out:
        write_json(args.json_out, args, Report(tree, rss_method, check, reference, results))
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    tree = args.tree or default_tree(args.files, args.dirs, args.seed)
    vegafs = find_vegafs(args.vegafs)
    ensure_tree(tree, args.files, args.dirs, args.seed)
    with tempfile.TemporaryDirectory(prefix="vegafs-bench-empty-") as empty:
        return run_benchmark(args, tree, vegafs, Path(empty))


if __name__ == "__main__":
    sys.exit(main())

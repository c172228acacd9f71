"""Where `vegafs`'s start-up time goes: the imports with the largest cumulative cost,
and the top-level packages whose modules take the most import time of their own.

Runs `vegafs analyze EMPTY_DIR --json` in a child interpreter under `python -X importtime`
(so imports done lazily by the command are counted too), once to warm the caches and once
to report.  Not a timing: -X importtime adds its own overhead; see analyze.py's
"vegafs start" row for the wall time.
Usage: python bench/startup.py [--top 10]
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass

# What the `vegafs` console script does (pyproject: vegafs = "vegafs.cli:main").
RUN_VEGAFS = "import sys; from vegafs.cli import main; sys.argv[0] = 'vegafs'; main()"


@dataclass(frozen=True)
class Import:
    module: str
    depth: int
    self_us: int
    cumulative_us: int


def parse_importtime(stderr: str) -> list[Import]:
    """Lines `import time: SELF | CUMULATIVE | <2 spaces per level>MODULE`."""
    imports = []
    for line in stderr.splitlines():
        if not line.startswith("import time:"):
            continue
        self_us, cumulative_us, name = line.removeprefix("import time:").split("|", 2)
        if not self_us.strip().isdigit():
            continue  # the header line
        depth = (len(name) - len(name.lstrip(" ")) - 1) // 2
        imports.append(Import(name.strip(), depth, int(self_us), int(cumulative_us)))
    return imports


def import_profile() -> list[Import]:
    with tempfile.TemporaryDirectory(prefix="vegafs-startup-") as empty:
        argv = [sys.executable, "-X", "importtime", "-c", RUN_VEGAFS, "analyze", empty, "--json"]
        for _ in range(2):  # the first run warms the page cache and writes the .pyc files
            proc = subprocess.run(argv, check=False, capture_output=True, text=True)
    if proc.returncode != 0:
        print(f"startup: `vegafs analyze EMPTY --json` exited {proc.returncode}:", file=sys.stderr)
        print(proc.stderr[-2000:], file=sys.stderr)
        sys.exit(2)
    return parse_importtime(proc.stderr)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Top import costs of `vegafs` start-up.")
    parser.add_argument("--top", type=int, default=10, help="how many imports to list")
    args = parser.parse_args(argv)
    imports = import_profile()
    total_us = sum(i.cumulative_us for i in imports if i.depth == 0)
    print(
        f"\nstart-up imports of `vegafs analyze EMPTY --json`: {len(imports)} modules, "
        f"{total_us / 1000:.0f} ms in total (under -X importtime, which adds its own cost)"
    )
    print(f"{'cumulative ms':>13} {'self ms':>8}  module (indented by import depth)")
    top = sorted(imports, key=lambda i: i.cumulative_us, reverse=True)[: args.top]
    for imp in top:
        print(
            f"{imp.cumulative_us / 1000:>13.1f} {imp.self_us / 1000:>8.1f}  "
            f"{'  ' * imp.depth}{imp.module}"
        )
    # The chain above nests; summing self time per top-level package says whose code it is.
    by_package: Counter[str] = Counter()
    for imp in imports:
        by_package[imp.module.partition(".")[0]] += imp.self_us
    print(f"\n{'self ms':>13}  top-level package (its modules' own import time, summed)")
    for package, self_us in by_package.most_common(args.top):
        print(f"{self_us / 1000:>13.1f}  {package}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

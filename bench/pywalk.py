"""Walk a tree with os.scandir, stat every entry, print the counts as JSON.

The plain-Python anchor of bench/analyze.py, and its reference file count.
Usage: python bench/pywalk.py TREE
"""

from __future__ import annotations

import json
import os
import stat
import sys


def walk(root: str) -> dict[str, int]:
    """Count entries below `root` (not `root` itself), without following links."""
    files = dirs = others = apparent_bytes = 0
    stack = [root]
    while stack:
        with os.scandir(stack.pop()) as entries:
            for entry in entries:
                info = entry.stat(follow_symlinks=False)
                if stat.S_ISDIR(info.st_mode):
                    dirs += 1
                    stack.append(entry.path)
                elif stat.S_ISREG(info.st_mode):
                    files += 1
                    apparent_bytes += info.st_size
                else:
                    others += 1
    return {"files": files, "dirs": dirs, "others": others, "apparent_bytes": apparent_bytes}


def main() -> int:
    if len(sys.argv) != 2:
        print("usage: python bench/pywalk.py TREE", file=sys.stderr)
        return 2
    print(json.dumps(walk(sys.argv[1])))
    return 0


if __name__ == "__main__":
    sys.exit(main())

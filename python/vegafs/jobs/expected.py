"""How many entries a walk is expected to meet, so that a job that walks gets an ETA.

A walk does not know its total in advance. Two estimates are cheap and usually close:

- **the last run** of the same job (same operation, same params: the result cache's key) met
  that many entries; kept in the cache for ``REMEMBER_S``, whether or not the operation's
  results are cached;
- otherwise, when every root is the top of a file system (a mount point), the inodes those
  file systems have in use (``statvfs``: ``f_files - f_ffree``), as the ``df -i`` figure. A walk
  with filters, or a tree with many hard links, meets fewer entries: the ETA is then too long,
  never a reason to stop early.

Neither is a promise: a tree that grew since its last run outruns its estimate, and the ETA is
then unknown (``None``) until the walk ends.
"""

import os
from collections.abc import Sequence
from pathlib import Path

from vegafs.cache.store import Cache
from vegafs.eta import eta_s

REMEMBER_S = 30 * 86_400.0  # a tree walked monthly still gets its ETA


def _key(result_key: str) -> str:
    return f"{result_key}:entries"


def expected_entries(cache: Cache, result_key: str, roots: Sequence[str]) -> int | None:
    """The entries the walk is expected to meet; None when there is no estimate."""
    remembered = cache.get(_key(result_key))  # Redis down: a miss (its breaker)
    if remembered is not None and remembered.isdigit():
        return int(remembered)
    return _inodes_in_use(roots)


def remember(cache: Cache, result_key: str, entries: int) -> None:
    """Keeps what a walk met, for its next run's ETA."""
    if entries > 0:
        cache.set(_key(result_key), str(entries).encode(), REMEMBER_S)


def _inodes_in_use(roots: Sequence[str]) -> int | None:
    if not roots:
        return None
    total = 0
    devices = set()
    for root in roots:
        try:
            if not Path(root).is_mount():
                return None
            st = os.statvfs(root)
            dev = Path(root).stat().st_dev
        except OSError:
            return None
        if st.f_files == 0:  # a file system that does not count inodes (btrfs, some FUSE)
            return None
        if dev not in devices:
            devices.add(dev)
            total += st.f_files - st.f_ffree
    return total or None


def walk_eta(elapsed_s: float, entries: int, expected: int | None) -> float | None:
    """Seconds left at the rate so far, while the walk has not outrun its estimate."""
    if expected is None or entries >= expected:
        return None
    return eta_s(elapsed_s, entries, expected)

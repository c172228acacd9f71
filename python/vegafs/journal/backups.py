"""The journal's backup store: the bytes a step replaces, kept so that a rollback, ``vegafs
recover`` and ``vegafs undo`` can write them back.

Each writing operation that needs it gets a directory ``<data_dir>/backups/<tag>/`` (tag: the
process id and a random suffix, chosen before the journal gives the operation its id; each
step's ``backup`` column names its file there, so the journal knows where every backup is).
The directory exists, fsynced into its parent, before the operation is journaled; each backup
is made by the step and durable (``syncfs``) before the file it keeps changes: a hard link to
the file where the store is on the file's file system (the file's inode, left to the store
alone when the new content is renamed over it: no byte copied), else a copy of its bytes and
times. A rollback that ends ``rolled_back`` deletes the operation's backups (``discard``).

Backups stay until ``vegafs ops forget OP_ID`` deletes them (then the operation is marked
``forgotten`` and cannot be undone), or, with ``VEGAFS_BACKUP_RETENTION_DAYS`` set, until a
writing operation starts after the operation finished that many days ago (``forget_expired``).
``forget`` refuses an operation that is not finished (applying, or failed: recovery may still
need its backups).
"""

import os
import re
import shutil
from datetime import datetime, timedelta
from pathlib import Path

from vegafs.errors import VegaFSError
from vegafs.journal.store import (
    APPLYING,
    COMMITTED,
    FAILED,
    ROLLED_BACK,
    UNDONE,
    Journal,
    OpRecord,
)

FORGOTTEN = "forgotten"  # committed, rolled back or undone, then its backups deleted


class ForgetError(VegaFSError):
    """The operation's backups cannot be deleted: unknown, or not finished."""


def backups_root() -> Path:
    from vegafs.local_settings import journal_config

    return journal_config().data_dir / "backups"


def new_store() -> Path:
    """A new, empty directory for one operation's backups, durable in its parent."""
    root = backups_root()
    root.mkdir(parents=True, exist_ok=True)
    store = root / f"{os.getpid()}-{os.urandom(6).hex()}"
    store.mkdir(mode=0o700)
    _fsync_dir(root)
    return store


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def stores_of(journal: Journal, op_id: int) -> list[Path]:
    """The backup directories an operation's steps name."""
    dirs = {Path(s.backup).parent for s in journal.steps(op_id) if s.backup is not None}
    return sorted(dirs)


def forget(journal: Journal, op_id: int) -> int:
    """Deletes an operation's backups and marks it ``forgotten``: the number of backup files
    deleted. Raises ``ForgetError`` for an unknown or unfinished operation."""
    op = journal.get(op_id)
    if op is None:
        raise ForgetError(f"no writing operation {op_id}")
    if op.state in (APPLYING, FAILED):
        raise ForgetError(
            f"operation {op_id} is {op.state}: run `vegafs recover` first (it may need the backups)"
        )
    deleted = discard(journal, op_id) + _delete_set_aside(journal, op)
    journal.set_state(op_id, FORGOTTEN)
    return deleted


def discard(journal: Journal, op_id: int) -> int:
    """Deletes the backup directories of an operation's steps: the number of backups deleted.
    ``forget``'s, and the end of a rollback (every file is as it was: a backup linked to a file
    left unchanged would give it a second link, which a later ``replace`` refuses)."""
    root = backups_root().resolve()
    deleted = 0
    for store in stores_of(journal, op_id):
        # Only a directory of the store itself: a journal row never makes this delete elsewhere.
        if store.resolve().parent != root or not store.is_dir():
            continue
        deleted += sum(1 for _ in store.iterdir())
        shutil.rmtree(store)
    return deleted


def forget_expired(journal: Journal, days: float, now: datetime | None = None) -> list[int]:
    """Forgets (``forget``) every finished operation (committed, rolled back or undone) last
    changed more than ``days`` ago: the ids forgotten, oldest first."""
    from vegafs.db.plain import utcnow

    cutoff = (now or utcnow()) - timedelta(days=days)
    expired = journal.finished_before((COMMITTED, ROLLED_BACK, UNDONE), cutoff)
    for op_id in expired:
        forget(journal, op_id)
    return expired


# A target ``--on-conflict overwrite`` moved aside (plan.rs): ``.vegafs-TAG-old-N``.
_SET_ASIDE = re.compile(r"\.vegafs-.+-old-[0-9]+")


def _delete_set_aside(journal: Journal, op: OpRecord) -> int:
    """Deletes the files a rename's, a move's or a copy's ``--on-conflict overwrite`` moved
    aside, each only if it is still there, the same file (device, inode, mtime), as the
    operation left it; by its name in its directory, opened beneath the operation's roots if it
    was a job's (``op.beneath``), so that nothing is deleted through a symlink."""
    from vegafs import _native

    aside = [s for s in journal.steps(op.id)
             if s.kind == "rename" and _SET_ASIDE.fullmatch(Path(s.dst).name)]  # fmt: skip
    # A root removed since holds nothing of the operation's any more (roots are configuration,
    # trusted: looked at by path); with none left there is nothing to delete.
    roots = [r for r in op.beneath if Path(r).is_dir()]
    if not aside or (op.beneath and not roots):
        return 0
    removed = _native.remove_files([(s.dst, s.identity) for s in aside], beneath=roots)
    return sum(removed)

"""Applying a journaled plan, rolling it back, and recovering after a crash."""

import errno as errno_codes
from collections.abc import Sequence
from dataclasses import dataclass

from vegafs import _native
from vegafs.errors import ApplyError
from vegafs.eta import Steps
from vegafs.journal.backups import discard
from vegafs.journal.kinds import KEEPS_SOURCE, OsError, runs
from vegafs.journal.store import (
    APPLYING,
    COMMITTED,
    FAILED,
    ROLLED_BACK,
    Journal,
    OpRecord,
    Step,
    owner,
    owner_alive,
)

# Steps between two journal writes (and two rounds of directory fsyncs).
BATCH = 1000


@dataclass(frozen=True)
class Applied:
    op_id: int
    steps: int


def apply(
    journal: Journal,
    operation: str,
    params: dict[str, object],
    steps: Sequence[Step],
    cancel: _native.CancelToken | None = None,
    *,
    job_id: int | None = None,
    beneath: Sequence[str] = (),
    batch: int = BATCH,
    sizes: Sequence[int] = (),
    batch_bytes: int = 0,
    steps_of: Steps | None = None,
) -> Applied:
    """Journals ``steps`` (committed before the first change), runs them a batch at a time,
    and marks the operation committed; on an error or a cancel, rolls back what was done and
    raises ``ApplyError`` (``KeyboardInterrupt`` from Ctrl-C likewise, after the rollback).
    A job passes its id and its roots: every path is then opened beneath them. ``batch``:
    steps between two journal writes and two rounds of syncs (a crash loses no more progress
    than that: recovery looks at those steps on disk). ``sizes``, each step's bytes, and
    ``batch_bytes``: a batch also ends before its bytes pass ``batch_bytes`` (``batches``).
    ``steps_of``: advanced batch by batch (a job's progress shows the steps done and an ETA)."""
    op_id = journal.begin(operation, params, steps, job_id=job_id, beneath=beneath)
    if steps_of is not None:
        steps_of.start(len(steps))
    done = 0
    touched = 0  # steps that may have run: the rollback checks each on disk
    try:
        for start, end in batches(len(steps), batch, sizes, batch_bytes):
            these = steps[start:end]
            touched = end
            n, error = _run(these, cancel, beneath)
            _sync(these[:n], beneath)
            done += n
            if error is not None:
                raise ApplyError(_os_message(error), rolled_back=False)
            if n < len(these):
                raise ApplyError("cancelled", rolled_back=False)
            journal.advance(op_id, done)
            if steps_of is not None:
                steps_of.advance(done)
    except BaseException as e:
        why = str(e) or type(e).__name__
        rolled_back = _roll_back(journal, op_id, steps[:touched], why, beneath)
        if isinstance(e, ApplyError):
            raise ApplyError(str(e), rolled_back=rolled_back) from None
        raise
    journal.finish(op_id, COMMITTED, steps_done=done)
    return Applied(op_id, done)


def batches(
    n: int, batch: int, sizes: Sequence[int] = (), batch_bytes: int = 0
) -> list[tuple[int, int]]:
    """The bounds (start, end) of the batches of ``n`` steps: at most ``batch`` steps each, and,
    given each step's size (``sizes``) and ``batch_bytes``, each ends before its sizes would
    pass ``batch_bytes`` (a step bigger than that is a batch of its own)."""
    if not sizes or batch_bytes <= 0:
        return [(start, min(start + batch, n)) for start in range(0, n, batch)]
    bounds = []
    start = weight = 0
    for i, size in enumerate(sizes):
        if i > start and (i - start == batch or weight + size > batch_bytes):
            bounds.append((start, i))
            start, weight = i, 0
        weight += size
    if start < n:
        bounds.append((start, n))
    return bounds


def _run(
    batch: Sequence[Step], cancel: _native.CancelToken | None, beneath: Sequence[str]
) -> tuple[int, OsError | None]:
    """Runs a batch, each run of one kind by its kind: how many steps completed, and the error
    that stopped the next one."""
    done = 0
    for kind, run in runs(batch):
        n, error = kind.run(run, cancel, beneath)
        done += n
        if error is not None or n < len(run):
            return done, error
    return done, None


def _sync(steps: Sequence[Step], beneath: Sequence[str]) -> None:
    """fsyncs the directories the steps changed."""
    sources = [s.src for s in steps if s.kind not in KEEPS_SOURCE]
    _native.sync_parents([s.dst for s in steps] + sources, beneath=beneath)


def _os_message(error: tuple[int, str]) -> str:
    code, message = error
    name = errno_codes.errorcode.get(code)
    return f"{message}{f' ({name})' if name and name not in message else ''}"


def _roll_back(
    journal: Journal, op_id: int, steps: Sequence[Step], why: str, beneath: Sequence[str]
) -> bool:
    """Reverses the steps of ``steps`` found done on disk, last first (each by its kind: a
    rename's entry is checked by device and inode just before it is moved back); the journal
    says how it ended: rolled_back, or failed (a step could not be reversed; ``vegafs
    recover`` tries again, and may: nothing was replaced). Rolled back, its backups are
    deleted."""
    error = None
    for kind, run in reversed(runs(steps)):
        error = kind.reverse(run, beneath)
        if error is not None:
            break
    _sync(steps, beneath)
    if error is None:
        journal.finish(op_id, ROLLED_BACK, steps_done=0, error=why)
        discard(journal, op_id)  # every file is as it was: its backups are of no use
        return True
    message = f"{why}; the rollback stopped: {_os_message(error)}"
    journal.finish(op_id, FAILED, steps_done=len(steps), error=message)
    return False


@dataclass(frozen=True)
class Recovered:
    op_id: int
    state: str  # committed (every step had been done), rolled_back, or failed


def recover(journal: Journal, *, job_id: int | None = None) -> list[Recovered]:
    """Finishes every operation a crash left unfinished (``applying``), or whose rollback
    stopped (``failed``): if every step after the last batch the journal knows of is done on
    disk, the operation had completed and is committed; otherwise each step found done on disk
    is reversed, last first. Run twice, the second run finds nothing to do.

    Only operations nobody is running: those whose process has ended (on this host; another
    host's are left to it), this process's own, and, for a worker running ``job_id``, that
    job's (it holds the job's lease, so the attempt that began them is over)."""
    out = []
    me = owner()
    for op in journal.unfinished():
        this_job = job_id is not None and op.job_id == job_id
        ours = this_job or (op.owner == me and op.job_id is None)
        # Otherwise: left if running (another process, or another job in this worker) or run
        # on another host.
        if not ours and (op.owner == me or owner_alive(op.owner) is not False):
            continue
        out.append(Recovered(op.id, _recover(journal, op)))
    return out


def _recover(journal: Journal, op: OpRecord) -> str:
    steps = journal.steps(op.id)
    if op.state == APPLYING:
        rest = steps[op.steps_done :]
        if all(all(kind.done(run, op.beneath)) for kind, run in runs(rest)):
            _sync(rest, op.beneath)
            journal.finish(op.id, COMMITTED, steps_done=len(steps))
            return COMMITTED
    why = op.error or "recovered after an interruption"
    return ROLLED_BACK if _roll_back(journal, op.id, steps, why, op.beneath) else FAILED

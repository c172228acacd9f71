"""Applying a journaled plan, rolling it back, and recovering after a crash."""

import errno as errno_codes
from collections.abc import Sequence
from dataclasses import dataclass

from vegafs import _native
from vegafs.errors import VegaFSError
from vegafs.journal.kinds import OsError, runs
from vegafs.journal.store import APPLYING, COMMITTED, FAILED, ROLLED_BACK, Journal, Step

# Steps between two journal writes (and two rounds of directory fsyncs).
BATCH = 1000


class ApplyError(VegaFSError):
    """A step failed or the run was cancelled: the steps done were rolled back
    (``rolled_back``), or, if the rollback stopped too, are left for ``vegafs recover``."""

    def __init__(self, message: str, *, rolled_back: bool) -> None:
        super().__init__(message)
        self.rolled_back = rolled_back


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
) -> Applied:
    """Journals ``steps`` (committed before the first rename), runs them a batch at a time,
    and marks the operation committed; on an error or a cancel, rolls back what was done and
    raises ``ApplyError`` (``KeyboardInterrupt`` from Ctrl-C likewise, after the rollback)."""
    op_id = journal.begin(operation, params, steps)
    done = 0
    touched = 0  # steps that may have run: the rollback checks each on disk
    try:
        for start in range(0, len(steps), BATCH):
            batch = steps[start : start + BATCH]
            touched = start + len(batch)
            n, error = _run(batch, cancel)
            _native.sync_parents([s.dst for s in batch[:n]] + [s.src for s in batch[:n]])
            done += n
            if error is not None:
                raise ApplyError(_os_message(error), rolled_back=False)
            if n < len(batch):
                raise ApplyError("cancelled", rolled_back=False)
            journal.advance(op_id, done)
    except BaseException as e:
        rolled_back = _roll_back(journal, op_id, steps[:touched], str(e) or type(e).__name__)
        if isinstance(e, ApplyError):
            raise ApplyError(str(e), rolled_back=rolled_back) from None
        raise
    journal.finish(op_id, COMMITTED, steps_done=done)
    return Applied(op_id, done)


def _run(batch: Sequence[Step], cancel: _native.CancelToken | None) -> tuple[int, OsError | None]:
    """Runs a batch, each run of one kind by its kind: how many steps completed, and the error
    that stopped the next one."""
    done = 0
    for kind, run in runs(batch):
        n, error = kind.run(run, cancel)
        done += n
        if error is not None or n < len(run):
            return done, error
    return done, None


def _os_message(error: tuple[int, str]) -> str:
    code, message = error
    name = errno_codes.errorcode.get(code)
    return f"{message}{f' ({name})' if name and name not in message else ''}"


def _roll_back(journal: Journal, op_id: int, steps: Sequence[Step], why: str) -> bool:
    """Reverses the steps of ``steps`` found done on disk, last first (each by its kind: a
    rename's entry is checked by device and inode just before it is moved back); the journal
    says how it ended: rolled_back, or failed (a step could not be reversed; ``vegafs
    recover`` tries again, and may: nothing was replaced)."""
    error = None
    for kind, run in reversed(runs(steps)):
        error = kind.reverse(run)
        if error is not None:
            break
    _native.sync_parents([s.src for s in steps] + [s.dst for s in steps])
    if error is None:
        journal.finish(op_id, ROLLED_BACK, steps_done=0, error=why)
        return True
    message = f"{why}; the rollback stopped: {_os_message(error)}"
    journal.finish(op_id, FAILED, steps_done=len(steps), error=message)
    return False


@dataclass(frozen=True)
class Recovered:
    op_id: int
    state: str  # committed (every step had been done), rolled_back, or failed


def recover(journal: Journal) -> list[Recovered]:
    """Finishes every operation a crash left unfinished (``applying``), or whose rollback
    stopped (``failed``): if every step after the last batch the journal knows of is at its
    target, the operation had completed and is committed; otherwise each step found done on
    disk (by device and inode) is reversed, last first. Run twice, the second run finds
    nothing to do."""
    out = []
    for op in journal.unfinished():
        steps = journal.steps(op.id)
        if op.state == APPLYING:
            rest = steps[op.steps_done :]
            if all(all(kind.done(run)) for kind, run in runs(rest)):
                _native.sync_parents([s.dst for s in rest] + [s.src for s in rest])
                journal.finish(op.id, COMMITTED, steps_done=len(steps))
                out.append(Recovered(op.id, COMMITTED))
                continue
        ok = _roll_back(journal, op.id, steps, op.error or "recovered after an interruption")
        out.append(Recovered(op.id, ROLLED_BACK if ok else FAILED))
    return out

"""The kinds of step a journal runs, and what each needs from the core: run a run of steps in
order, reverse the ones found done, and tell recovery whether each is done.

Every writing operation is a list of steps (``Step``); consecutive steps of one kind go to that
kind together. A kind is registered here by name (``write_steps.kind``); ``rename`` is the
first. A kind must keep the journal's promise (docs/concepts.md): ``run`` never replaces an
entry it was not told to and stops at the first error, reporting how many steps it completed;
``reverse`` looks at each step on disk and reverses only those it finds done, last first, so it
can run twice (after a crash during a rollback) and change nothing the second time; ``done``
says, for recovery, whether each step is complete on disk.
"""

from collections.abc import Sequence
from typing import Protocol

from vegafs import _native
from vegafs.journal.store import Step

# An OS error from the core: (errno, message naming the path).
OsError = tuple[int, str]


class StepKind(Protocol):
    """``beneath``: for a job, the roots every path must be opened beneath (no symlink
    followed); empty: anywhere."""

    def run(
        self, steps: Sequence[Step], cancel: _native.CancelToken | None, beneath: Sequence[str]
    ) -> tuple[int, OsError | None]:
        """Runs ``steps`` in order: how many completed, and the error that stopped the next
        one (none: all done, or cancelled before the rest)."""
        ...

    def reverse(self, steps: Sequence[Step], beneath: Sequence[str]) -> OsError | None:
        """Reverses, last first, each of ``steps`` (given in the order they ran) that is done
        on disk; the error that stopped it, if any."""
        ...

    def done(self, steps: Sequence[Step], beneath: Sequence[str]) -> list[bool]:
        """Whether each step is complete on disk (recovery after a crash)."""
        ...


class Rename:
    """``src`` renamed to ``dst``, never replacing a ``dst`` (``renameat2(RENAME_NOREPLACE)``);
    found done when the entry of ``dev``/``ino``/``stamp`` is at ``dst``."""

    def run(
        self, steps: Sequence[Step], cancel: _native.CancelToken | None, beneath: Sequence[str]
    ) -> tuple[int, OsError | None]:
        return _native.rename_steps([(s.src, s.dst) for s in steps], cancel, beneath=beneath)

    def reverse(self, steps: Sequence[Step], beneath: Sequence[str]) -> OsError | None:
        done = [(s.src, s.dst, s.identity) for s in steps]
        _reversed, _not_done, error = _native.roll_back(done, beneath=beneath)
        return error

    def done(self, steps: Sequence[Step], beneath: Sequence[str]) -> list[bool]:
        found = _native.identities([s.dst for s in steps], beneath=beneath)
        return [f == s.identity for s, f in zip(steps, found, strict=True)]


KINDS: dict[str, StepKind] = {"rename": Rename()}


def runs(steps: Sequence[Step]) -> list[tuple[StepKind, Sequence[Step]]]:
    """``steps`` cut into runs of one kind, in order."""
    out: list[tuple[StepKind, Sequence[Step]]] = []
    start = 0
    for i in range(1, len(steps) + 1):
        if i == len(steps) or steps[i].kind != steps[start].kind:
            out.append((KINDS[steps[start].kind], steps[start:i]))
            start = i
    return out

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

from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass, field
from typing import Any, Protocol

from vegafs import _native
from vegafs.journal.store import Step

# An OS error from the core: (errno, message naming the path).
OsError = tuple[int, str]


class StepKind(Protocol):
    def run(
        self, steps: Sequence[Step], cancel: _native.CancelToken | None
    ) -> tuple[int, OsError | None]:
        """Runs ``steps`` in order: how many completed, and the error that stopped the next
        one (none: all done, or cancelled before the rest)."""
        ...

    def reverse(self, steps: Sequence[Step]) -> OsError | None:
        """Reverses, last first, each of ``steps`` (given in the order they ran) that is done
        on disk; the error that stopped it, if any."""
        ...

    def done(self, steps: Sequence[Step]) -> list[bool]:
        """Whether each step is complete on disk (recovery after a crash)."""
        ...


class Rename:
    """``src`` renamed to ``dst``, never replacing a ``dst`` (``renameat2(RENAME_NOREPLACE)``);
    found done when the entry of ``dev``/``ino``/``stamp`` is at ``dst``."""

    def run(
        self, steps: Sequence[Step], cancel: _native.CancelToken | None
    ) -> tuple[int, OsError | None]:
        return _native.rename_steps([(s.src, s.dst) for s in steps], cancel)

    def reverse(self, steps: Sequence[Step]) -> OsError | None:
        _reversed, _not_done, error = _native.roll_back([(s.src, s.dst, s.identity) for s in steps])
        return error

    def done(self, steps: Sequence[Step]) -> list[bool]:
        found = _native.identities([s.dst for s in steps])
        return [f == s.identity for s, f in zip(steps, found, strict=True)]


class Replace:
    """The file at ``src`` gets a new content (BLAKE3 ``digest``): its bytes are copied to
    ``backup`` in the journal's backup store (fsynced) first, the new content is written to the
    temporary file ``dst`` beside it (mode, owner and times kept, fsynced) and renamed over it;
    the file must still be the one planned (``dev``/``ino``/``stamp``, and its size), else the
    step fails "changed since the plan". Found done when the file's content hashes to
    ``digest``; reversed by writing the backup back the same way, only over that content.

    Where the new content comes from is the running operation's (``rewriting``): the
    replacement run again on the bytes read (``replace``), or a file (undo: a backup). Reversing
    and recovery need neither."""

    def run(
        self, steps: Sequence[Step], cancel: _native.CancelToken | None
    ) -> tuple[int, OsError | None]:
        source = _REWRITE.get()
        if source is None:
            raise RuntimeError("a replace step runs inside rewriting(...)")
        return _native.replace_files(
            source.options,
            [(s.src, s.dst, s.backup or "", s.identity, source.sizes.get(s.src), s.digest or b"",
              source.files.get(s.src)) for s in steps],
            cancel,
        )  # fmt: skip

    def reverse(self, steps: Sequence[Step]) -> OsError | None:
        _reversed, _not_done, error = _native.restore_files(
            [(s.src, s.dst, s.backup or "", s.digest or b"") for s in steps]
        )
        return error

    def done(self, steps: Sequence[Step]) -> list[bool]:
        found = _native.content_digests([s.src for s in steps])
        return [f is not None and f == s.digest for s, f in zip(steps, found, strict=True)]


@dataclass(frozen=True)
class RewriteSource:
    """Where a running operation's ``replace`` steps get their new content: ``options`` (the
    core's replace options) run again on each file's bytes, or ``files[src]``, a file holding
    it; ``sizes[src]``: each file's size as planned."""

    options: dict[str, Any] | None
    sizes: Mapping[str, int] = field(default_factory=dict)
    files: Mapping[str, str] = field(default_factory=dict)


_REWRITE: ContextVar[RewriteSource | None] = ContextVar("rewrite_source", default=None)


@contextmanager
def rewriting(source: RewriteSource) -> Iterator[None]:
    """``replace`` steps run inside this take their new content from ``source``."""
    token = _REWRITE.set(source)
    try:
        yield
    finally:
        _REWRITE.reset(token)


KINDS: dict[str, StepKind] = {"rename": Rename(), "replace": Replace()}


def runs(steps: Sequence[Step]) -> list[tuple[StepKind, Sequence[Step]]]:
    """``steps`` cut into runs of one kind, in order."""
    out: list[tuple[StepKind, Sequence[Step]]] = []
    start = 0
    for i in range(1, len(steps) + 1):
        if i == len(steps) or steps[i].kind != steps[start].kind:
            out.append((KINDS[steps[start].kind], steps[start:i]))
            start = i
    return out

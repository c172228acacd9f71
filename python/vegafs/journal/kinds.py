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
from itertools import groupby
from operator import attrgetter
from typing import Any, Protocol

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
    found done when the entry of ``dev``/``ino``/``stamp`` is at ``dst``. ``run`` may rename
    the steps of different directories in parallel (``rename_steps``), so steps after the ones
    it reports done may be done too: the runner's rollback looks at each on disk."""

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


class Mkdir:
    """A new directory at ``dst`` (``src`` is the same path; no identity: the directory does
    not exist when the journal is committed). ``run`` fails with EEXIST if something appeared
    there since planning: the whole operation then rolls back. ``reverse`` removes the directory
    only if it is still a directory and empty (``rmdir`` refuses anything else by itself): a
    file anyone put there stays, and so does the directory. Found done when a directory is
    there. Each is made or removed by its name in its parent, opened beneath the roots for a
    job (``_native.make_dirs``)."""

    def run(
        self, steps: Sequence[Step], cancel: _native.CancelToken | None, beneath: Sequence[str]
    ) -> tuple[int, OsError | None]:
        return _native.make_dirs([s.dst for s in steps], cancel, beneath=beneath)

    def reverse(self, steps: Sequence[Step], beneath: Sequence[str]) -> OsError | None:
        _done, error = _native.remove_empty_dirs([s.dst for s in reversed(steps)], beneath=beneath)
        return error

    def done(self, steps: Sequence[Step], beneath: Sequence[str]) -> list[bool]:
        states = _native.dir_states([s.dst for s in steps], beneath=beneath)
        return [state in ("empty", "full") for state in states]


class Rmdir:
    """The directory at ``dst`` removed if it is empty (undoing a ``mkdir``): one that is not
    empty, or not a directory, or not there, is left as it is, which is not an error. Reversed
    by making the directory again where it is missing (the entries an interrupted undo moved
    back go there again); found done when no empty directory is there."""

    def run(
        self, steps: Sequence[Step], cancel: _native.CancelToken | None, beneath: Sequence[str]
    ) -> tuple[int, OsError | None]:
        return _native.remove_empty_dirs([s.dst for s in steps], cancel, beneath=beneath)

    def reverse(self, steps: Sequence[Step], beneath: Sequence[str]) -> OsError | None:
        paths = [s.dst for s in reversed(steps)]
        _done, error = _native.make_dirs(paths, exist_ok=True, beneath=beneath)
        return error

    def done(self, steps: Sequence[Step], beneath: Sequence[str]) -> list[bool]:
        states = _native.dir_states([s.dst for s in steps], beneath=beneath)
        return [state != "empty" for state in states]


class Replace:
    """The file at ``src`` gets a new content (BLAKE3 ``digest``): its bytes are copied to
    ``backup`` in the journal's backup store (fsynced) first, the new content is written to the
    temporary file ``dst`` beside it (mode, owner and times kept, fsynced) and renamed over it
    (for a job, ``src``'s directory opened beneath the roots, no symlink followed);
    the file must still be the one planned (``dev``/``ino``/``stamp``, and its size), else the
    step fails "changed since the plan". Found done when the file's content hashes to
    ``digest``; reversed by writing the backup back the same way, only over that content.

    Where the new content comes from is the running operation's (``rewriting``): the
    replacement run again on the bytes read (``replace``), or a file (undo: a backup). Reversing
    and recovery need neither."""

    def run(
        self, steps: Sequence[Step], cancel: _native.CancelToken | None, beneath: Sequence[str]
    ) -> tuple[int, OsError | None]:
        source = _REWRITE.get()
        if source is None:
            raise RuntimeError("a replace step runs inside rewriting(...)")
        return _native.replace_files(
            source.options,
            [(s.src, s.dst, s.backup or "", s.identity, source.sizes.get(s.src), s.digest or b"",
              source.files.get(s.src)) for s in steps],
            cancel,
            beneath=beneath,
        )  # fmt: skip

    def reverse(self, steps: Sequence[Step], beneath: Sequence[str]) -> OsError | None:
        _reversed, _not_done, error = _native.restore_files(
            [(s.src, s.dst, s.backup or "", s.digest or b"") for s in steps], beneath=beneath
        )
        return error

    def done(self, steps: Sequence[Step], beneath: Sequence[str]) -> list[bool]:
        found = _native.content_digests([s.src for s in steps], beneath=beneath)
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


def _copy_args(
    steps: Sequence[Step],
) -> list[tuple[str, str, str, tuple[int, int, int], bytes | None]]:
    # The identity's fields, not the property: 100,000 property calls cost a tenth of a second.
    return [(s.src, s.dst, s.backup or "", (s.dev, s.ino, s.stamp), s.digest) for s in steps]


class Copy:
    """``src`` copied to ``dst`` (``vegafs copy``): written to an unnamed file in ``dst``'s
    directory (``O_TMPFILE``), else (a symlink, or no unnamed files there) to the temporary name
    ``backup``; a run's copies are all written (in parallel), their file systems synced
    (``syncfs``), then published without replacing anything (``linkat``, or the no-replace
    rename of the temporary name). ``dev``/``ino``/
    ``stamp`` are the source's (the copy keeps its mtime), ``digest`` its BLAKE3 digest when the
    copy is verified. Found done when ``dst`` is the copy (same mtime, and the same content as
    the source or the digest); reversed by removing the temporary file and ``dst`` only if it is
    the copy."""

    def run(
        self, steps: Sequence[Step], cancel: _native.CancelToken | None, beneath: Sequence[str]
    ) -> tuple[int, OsError | None]:
        return _native.copy_steps(_copy_args(steps), cancel, beneath=beneath)

    def reverse(self, steps: Sequence[Step], beneath: Sequence[str]) -> OsError | None:
        _removed, _not_ours, error = _native.remove_copies(
            _copy_args(steps), False, beneath=beneath
        )
        return error

    def done(self, steps: Sequence[Step], beneath: Sequence[str]) -> list[bool]:
        return _native.copies_done(_copy_args(steps), beneath=beneath)


class Uncopy:
    """The undo of a copy: ``dst`` (the copy of ``src``) removed if it still is the copy (as
    ``Copy`` checks), in order; a copy changed since the undo was planned stops it. Reversed by
    copying ``src`` to ``dst`` again (through the temporary name ``backup``) where ``dst`` is
    gone; found done when ``dst`` is gone."""

    def run(
        self, steps: Sequence[Step], cancel: _native.CancelToken | None, beneath: Sequence[str]
    ) -> tuple[int, OsError | None]:
        done = 0
        for start in range(0, len(steps), 256):  # the cancel is looked at between chunks
            if cancel is not None and cancel.cancelled:
                return done, None
            chunk = steps[start : start + 256]
            # remove_copies goes last first: given reversed, it goes in order.
            removed, not_ours, error = _native.remove_copies(
                _copy_args(chunk[::-1]), True, beneath=beneath
            )
            done += removed + not_ours
            if error is not None:
                return done, error
        return done, None

    def reverse(self, steps: Sequence[Step], beneath: Sequence[str]) -> OsError | None:
        back = list(reversed(steps))
        there = _native.identities([s.dst for s in back], beneath=beneath)
        gone = [s for s, found in zip(back, there, strict=True) if found is None]
        ids = _native.identities([s.src for s in gone], beneath=beneath)
        again: list[tuple[str, str, str, tuple[int, int, int], bytes | None]]
        again = [(s.src, s.dst, s.backup or "", found, None)
                 for s, found in zip(gone, ids, strict=True) if found is not None]  # fmt: skip
        _done, error = _native.copy_steps(again, None, beneath=beneath)
        return error

    def done(self, steps: Sequence[Step], beneath: Sequence[str]) -> list[bool]:
        there = _native.identities([s.dst for s in steps], beneath=beneath)
        return [found is None for found in there]


class UnlinkMoved:
    """The second step of a move across file systems (the first is a ``copy`` of ``src`` to
    ``dst``): ``src`` removed, only if it is still the entry planned (``dev``/``ino``/``stamp``)
    and ``dst`` is verified to be its copy (``digest``, or a symlink's text), and once ``dst``'s
    directory is fsynced. Reversed where ``src`` is gone and ``dst`` there by copying ``dst``
    back through the temporary name ``backup`` in ``src``'s directory (the ``copy`` step's
    reverse then removes ``dst``); found done when ``src`` is gone and ``dst`` there."""

    def run(
        self, steps: Sequence[Step], cancel: _native.CancelToken | None, beneath: Sequence[str]
    ) -> tuple[int, OsError | None]:
        return _native.remove_moved(_copy_args(steps), cancel, beneath=beneath)

    def reverse(self, steps: Sequence[Step], beneath: Sequence[str]) -> OsError | None:
        _done, error = _native.restore_moved(_copy_args(steps), beneath=beneath)
        return error

    def done(self, steps: Sequence[Step], beneath: Sequence[str]) -> list[bool]:
        return _native.moved_done(_copy_args(steps), beneath=beneath)


def move_across(
    src: str, dst: str, entry: tuple[int, int, int], digest: bytes | None, tag: str
) -> list[Step]:
    """A move of ``src`` to ``dst`` (both absolute) on another file system: a copy (through a
    temporary name beside ``dst``, verified against ``digest``), then the source removed (its
    way back: a temporary name beside ``src``)."""
    # Joined as text: pathlib took 0.9 s of a profiled move of 20,000 files.
    temp = f"/.vegafs-{tag}"
    return [
        Step(src, dst, *entry, kind="copy", backup=dst.rpartition("/")[0] + temp, digest=digest),
        Step(src, dst, *entry, kind="unlink_moved", backup=src.rpartition("/")[0] + temp,
             digest=digest),
    ]  # fmt: skip


KINDS: dict[str, StepKind] = {
    "rename": Rename(),
    "mkdir": Mkdir(),
    "rmdir": Rmdir(),
    "replace": Replace(),
    "copy": Copy(),
    # A copy's directories are made and removed as a move's are (the names are the journal's).
    "copy_mkdir": Mkdir(),
    "uncopy": Uncopy(),
    "copy_rmdir": Rmdir(),
    # A move across file systems: a "copy", then this.
    "unlink_moved": UnlinkMoved(),
}


# Kinds whose steps leave the source's directory as it was: only the target's is synced.
KEEPS_SOURCE = frozenset({"copy"})


def runs(steps: Sequence[Step]) -> list[tuple[StepKind, Sequence[Step]]]:
    """``steps`` cut into runs of one kind, in order."""
    out: list[tuple[StepKind, Sequence[Step]]] = []
    start = 0
    # groupby walks the steps in C: a batch of copies is one run, found without a Python loop.
    for kind, run in groupby(steps, key=attrgetter("kind")):
        end = start + len(list(run))
        out.append((KINDS[kind], steps[start:end]))
        start = end
    return out

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

import errno
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass, field
from pathlib import Path
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


class Mkdir:
    """A new directory at ``dst`` (``src`` is the same path; no identity: the directory does
    not exist when the journal is committed). ``run`` fails with EEXIST if something appeared
    there since planning: the whole operation then rolls back. ``reverse`` removes the directory
    only if it is still a directory and empty (``rmdir`` refuses anything else by itself): a
    file anyone put there stays, and so does the directory. Found done when a directory is
    there."""

    def run(
        self, steps: Sequence[Step], cancel: _native.CancelToken | None, beneath: Sequence[str]
    ) -> tuple[int, OsError | None]:
        _anywhere(beneath)
        for i, step in enumerate(steps):
            if cancel is not None and cancel.cancelled:
                return i, None
            try:
                Path(step.dst).mkdir()
            except OSError as e:
                return i, _os_error(e, step.dst)
        return len(steps), None

    def reverse(self, steps: Sequence[Step], beneath: Sequence[str]) -> OsError | None:
        _anywhere(beneath)
        return _remove_empty(steps)

    def done(self, steps: Sequence[Step], beneath: Sequence[str]) -> list[bool]:
        _anywhere(beneath)
        return [_is_dir(s.dst) for s in steps]


class Rmdir:
    """The directory at ``dst`` removed if it is empty (undoing a ``mkdir``): one that is not
    empty, or not a directory, or not there, is left as it is, which is not an error. Reversed
    by making the directory again where it is missing (the entries an interrupted undo moved
    back go there again); found done when no empty directory is there."""

    def run(
        self, steps: Sequence[Step], cancel: _native.CancelToken | None, beneath: Sequence[str]
    ) -> tuple[int, OsError | None]:
        _anywhere(beneath)
        for i, step in enumerate(steps):
            if cancel is not None and cancel.cancelled:
                return i, None
            error = _remove_empty([step])
            if error is not None:
                return i, error
        return len(steps), None

    def reverse(self, steps: Sequence[Step], beneath: Sequence[str]) -> OsError | None:
        _anywhere(beneath)
        for step in reversed(steps):
            try:
                Path(step.dst).mkdir()
            except FileExistsError:
                pass
            except OSError as e:
                return _os_error(e, step.dst)
        return None

    def done(self, steps: Sequence[Step], beneath: Sequence[str]) -> list[bool]:
        _anywhere(beneath)
        return [not (_is_dir(s.dst) and not any(Path(s.dst).iterdir())) for s in steps]


def _anywhere(beneath: Sequence[str], kind: str = "mkdir and rmdir") -> None:
    """These steps work by path: operations that have them (move, replace, copy) are not applied as
    jobs yet (their check() refuses it), so they never run beneath roots."""
    if beneath:
        raise NotImplementedError(f"{kind} steps are not confined beneath roots yet")


# What rmdir answers for a directory that must stay: not empty, not a directory, not there.
_LEAVE = {errno.ENOTEMPTY, errno.EEXIST, errno.ENOTDIR, errno.ENOENT}


def _remove_empty(steps: Sequence[Step]) -> OsError | None:
    """Removes each directory of ``steps`` that is empty, last first."""
    for step in reversed(steps):
        path = Path(step.dst)
        if path.is_symlink():
            continue  # rmdir refuses a symlink anyway; never follow one
        try:
            path.rmdir()
        except OSError as e:
            if e.errno not in _LEAVE:
                return _os_error(e, step.dst)
    return None


def _is_dir(path: str) -> bool:
    p = Path(path)
    return p.is_dir() and not p.is_symlink()


def _os_error(e: OSError, path: str) -> OsError:
    return (e.errno or 0, f"{path}: {e.strerror or e}")


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
        self, steps: Sequence[Step], cancel: _native.CancelToken | None, beneath: Sequence[str]
    ) -> tuple[int, OsError | None]:
        _anywhere(beneath, "replace")
        source = _REWRITE.get()
        if source is None:
            raise RuntimeError("a replace step runs inside rewriting(...)")
        return _native.replace_files(
            source.options,
            [(s.src, s.dst, s.backup or "", s.identity, source.sizes.get(s.src), s.digest or b"",
              source.files.get(s.src)) for s in steps],
            cancel,
        )  # fmt: skip

    def reverse(self, steps: Sequence[Step], beneath: Sequence[str]) -> OsError | None:
        _anywhere(beneath, "replace")
        _reversed, _not_done, error = _native.restore_files(
            [(s.src, s.dst, s.backup or "", s.digest or b"") for s in steps]
        )
        return error

    def done(self, steps: Sequence[Step], beneath: Sequence[str]) -> list[bool]:
        _anywhere(beneath, "replace")
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


def _copy_args(
    steps: Sequence[Step],
) -> list[tuple[str, str, str, tuple[int, int, int], bytes | None]]:
    return [(s.src, s.dst, s.backup or "", s.identity, s.digest) for s in steps]


class Copy:
    """``src`` copied to ``dst`` (``vegafs copy``): written to the temporary name ``backup`` in
    ``dst``'s directory; a run's temporary files are all written (in parallel), their file
    systems synced (``syncfs``), then published without replacing anything. ``dev``/``ino``/
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
}


# Kinds whose steps leave the source's directory as it was: only the target's is synced.
KEEPS_SOURCE = frozenset({"copy"})


def runs(steps: Sequence[Step]) -> list[tuple[StepKind, Sequence[Step]]]:
    """``steps`` cut into runs of one kind, in order."""
    out: list[tuple[StepKind, Sequence[Step]]] = []
    start = 0
    for i in range(1, len(steps) + 1):
        if i == len(steps) or steps[i].kind != steps[start].kind:
            out.append((KINDS[steps[start].kind], steps[start:i]))
            start = i
    return out

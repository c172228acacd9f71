"""A replace plan applied through the journal: one ``replace`` step per changed file, its
backup's place named, run a batch at a time. Plain values in (the core's planned rows, the
options as ``_native.replace_files`` takes them): ``vegafs.ops.replace`` and the command line's
quick path (``vegafs.cli.quick``) both apply with it."""

import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from vegafs._native import CancelToken
    from vegafs.eta import Steps
    from vegafs.journal.store import Journal

# Files written between two journal writes: each batch costs a syncfs and an fsync of each
# directory it touched, whatever its size (docs/benchmarks.md); recovery checks at most this
# many files' contents. As rename's.
APPLY_BATCH = 8192


def apply_replace(
    journal: "Journal",
    params: dict[str, Any],
    options: dict[str, Any],
    planned: Sequence[Mapping[str, Any]],
    cancel: "CancelToken | None" = None,
    *,
    job_id: int | None = None,
    beneath: Sequence[str] = (),
    steps_of: "Steps | None" = None,
) -> int:
    """Journals the files ``planned`` to replace (``params``: the operation's, as recorded) and
    writes them (``options``: the replacement), for a job beneath its roots; the operation's
    id. Raises ``ApplyError`` as ``journal.runner.apply``."""
    from vegafs.journal.backups import new_store
    from vegafs.journal.kinds import RewriteSource, rewriting
    from vegafs.journal.runner import apply
    from vegafs.journal.store import Step

    store = new_store()
    tag = f"{os.getpid()}-{os.urandom(4).hex()}"
    steps = []
    sizes = {}
    dirs: dict[str, str] = {}  # a directory as planned -> absolute (recovery may run elsewhere)
    for n, row in enumerate(r for r in planned if r["action"] == "replace"):
        # One Path per directory, not three per file: pathlib's parsing was a tenth of a
        # second per thousands of steps.
        head, name = os.path.split(row["target"])
        parent = dirs.get(head)
        if parent is None:
            parent = dirs[head] = str(Path(head).absolute()).rstrip("/") + "/"
        target = parent + name
        step = Step(target, f"{parent}.vegafs-{tag}-{n}", row["dev"], row["ino"], row["stamp"],
                    kind="replace", backup=f"{store}/{n}", digest=row["digest"])  # fmt: skip
        steps.append(step)
        sizes[target] = row["size"]
    with rewriting(RewriteSource(options, sizes)):
        applied = apply(journal, "replace", params, steps, cancel, job_id=job_id,
                        beneath=beneath, batch=APPLY_BATCH, steps_of=steps_of)  # fmt: skip
    return applied.op_id

"""Splitting one operation's params into shards, running a shard, merging the shards' results.

Pure data: no database, no HTTP (``vegafs.jobs.sharding`` stores shards as jobs and calls this).

**Split.** A quick scan (the core's ``list_entries``, to depth ``SPLIT_DEPTH + 1``, with the
job's own exclude globs, hidden-file rule and one-file-system rule) finds the directories at
depth ``SPLIT_DEPTH`` below each root: the *units*. Each unit is weighed by the entries found
one level below it, and the units are dealt into ``n`` groups of about equal weight (largest
first, each to the lightest group). Each group is one shard whose roots are its units. Each root
also gets a *top* shard: the root itself with every unit excluded (an exclude glob that names
its path relative to the root), so the entries above the units (the root, the directories
between, the files beside them) are counted once, by it, and nothing below a unit is.

**Merge.** ``analyze``: the shards' results add up (``AnalyzeResult.merge``); the totals of the
directories above the units are the top shard's plus the totals of the units below them (a
unit shard reports each unit's total, ``unit_bytes``, from the core's ``root_totals``), so
``largest_dirs`` is exact. Operations
whose rows are the result (``search``, ``hash``, ``validate``) append their shards' rows and add
up their summaries' counts. ``dupes`` cannot finish inside a shard (files of one size may lie in
different shards): each shard only walks (``dupe_files``: a row per regular file, with its size,
device and inode); the merge counts the paths of each size over all shards and keeps the files
of the sizes seen more than once (``dupe_candidates``). Few of them (``plan_hashing``): it runs
the rest of ``dupes`` on them in one place (``find_dupes_among``: hard links joined by (dev,
inode) across shards, then edges, then content). Many: they are split by size
(``split_by_size``: a size never in two parts) into a second round of shards, each hashing its
part (``hash_files``), and ``merge_hashed`` merges their groups in the order one run sends them.
Either way its groups and summary are an unsharded run's.

A selection the split cannot keep exact is not split (the job runs as one): a glob with ``/``
(relative to a root, which a unit is not), ignore files (rules in directories above a unit),
``max_depth`` at or above the units, roots inside one another, or a tree with fewer than two
units. Hard links between shards: an analyze shard reports the multiply-linked entries it
counted (``linked``), the merge keeps one per inode (``_one_link_per_inode``) and takes the
others out (``uncount_links``); dupes joins them by (dev, inode).
"""

import heapq
import os
import re
from collections.abc import Callable, Collection, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pydantic import BaseModel

from vegafs import engine
from vegafs.engine.analysis import (
    AnalyzeResult,
    EntryError,
    LinkedFile,
    PathSize,
    analyze_roots,
    settle_links,
    uncount_links,
)
from vegafs.engine.dupes import DupesSummary, Stage, dupe_files, find_dupes_among
from vegafs.errors import Cancelled
from vegafs.ops.registry import Operation, RunContext, can_split, drain

# Units are the directories this deep below a root (2: a root's grandchildren). A unit at depth
# 1 could not be excluded from its root's top shard by a glob anchored to the root.
SPLIT_DEPTH = 2
# Key of a unit shard's summary: each of its roots' total bytes (analyze).
UNIT_BYTES = "unit_bytes"
# Key of an analyze shard's summary: the multiply-linked entries it counted (LinkedFile rows).
LINKED = "linked"
_GLOB_SPECIAL = re.compile(r"([\\*?\[\]{}!])")


@dataclass(frozen=True)
class Unit:
    root: str  # the root it lies below
    path: str
    weight: int


def plan(op: Operation, params: BaseModel, n: int, ctx: RunContext) -> list[dict[str, Any]] | None:
    """The params of each shard (JSON-ready), or None: run the job as one. ``n``: how many unit
    shards at most; each root adds its top shard."""
    if not can_split(op.name) or n < 2:
        return None
    selection: engine.Selection = getattr(params, "selection")  # noqa: B009
    if not _splittable(selection):
        return None
    units, top_dirs = _scan(selection, ctx)
    if len(units) < 2:
        return None
    groups = _deal(units, n)
    base = params.model_dump(mode="json")
    if op.name == "analyze" and base.get("now") is None:
        # Every shard must age files against the same instant.
        base["now"] = _now_iso()
    shards: list[dict[str, Any]] = []
    for root in selection.roots:
        mine = [u for u in units if u.root == str(root)]
        top = dict(base)
        top["selection"] = {
            **base["selection"],
            "roots": [str(root)],
            "exclude": base["selection"]["exclude"]
            + [_escape(os.path.relpath(u.path, root)) for u in mine],
        }
        if op.name == "analyze":  # every directory above the units among its largest
            top["top"] = params.top + top_dirs.get(str(root), 0)  # type: ignore[attr-defined]
        shards.append(top)
    depth = selection.max_depth
    for group in groups:
        shard = dict(base)
        shard["selection"] = {
            **base["selection"],
            "roots": [u.path for u in group],
            "max_depth": None if depth is None else depth - SPLIT_DEPTH,
        }
        shards.append(shard)
    return shards


def _now_iso() -> str:
    import time
    from datetime import UTC, datetime

    return datetime.fromtimestamp(int(time.time()), UTC).isoformat()


def _splittable(s: engine.Selection) -> bool:
    if any("/" in g.removeprefix("./") for g in s.include + s.exclude):
        return False
    if s.ignore_files or s.follow_symlinks:
        return False
    if s.max_depth is not None and s.max_depth <= SPLIT_DEPTH:
        return False
    roots = [os.fsencode(r).rstrip(b"/") + b"/" for r in s.roots]
    return not any(a != b and b.startswith(a) for a in roots for b in roots)


def _scan(s: engine.Selection, ctx: RunContext) -> tuple[list[Unit], dict[str, int]]:
    """The units below each root, weighed, and how many directories each root has above (and
    beside) them. Only the rules that decide which directories are walked are kept."""
    scan = engine.Selection(
        roots=s.roots,
        exclude=s.exclude,
        hidden=s.hidden,
        one_file_system=s.one_file_system,
        max_depth=SPLIT_DEPTH + 1,
    )
    roots = [str(r) for r in s.roots]
    dirs: dict[str, str] = {}  # unit path -> its root
    weights: dict[str, int] = {}
    above: dict[str, int] = dict.fromkeys(roots, 0)
    with engine.list_entries(scan, cancel=ctx.cancel, beneath=ctx.beneath) as stream:
        for batch in stream:
            for row in batch:
                root, depth = _root_of(row["path"], roots)
                if depth == SPLIT_DEPTH and row["type"] == "dir":
                    dirs[row["path"]] = root
                elif depth == SPLIT_DEPTH + 1:
                    parent = row["path"].rsplit("/", 1)[0]
                    weights[parent] = weights.get(parent, 0) + 1
                if row["type"] == "dir" and 0 < depth <= SPLIT_DEPTH:
                    above[root] += 1
    units = []
    for path, root in dirs.items():
        if not _plain_text(path) or (s.one_file_system and not _same_device(path, root)):
            continue  # left to the top shard, which counts it as the walk would
        units.append(Unit(root, path, 1 + weights.get(path, 0)))
    return units, above


def _root_of(path: str, roots: Sequence[str]) -> tuple[str, int]:
    for root in roots:
        if path == root:
            return root, 0
        prefix = root.rstrip("/") + "/"
        if path.startswith(prefix):
            return root, path[len(prefix) :].count("/") + 1
    raise ValueError(f"{path}: not below any root")


def _plain_text(path: str) -> bool:
    """A path that is valid UTF-8 (one a JSON spec and a glob can name exactly)."""
    try:
        path.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def _same_device(path: str, root: str) -> bool:
    try:
        return Path(path).stat().st_dev == Path(root).stat().st_dev
    except OSError:
        return False


def _escape(relative: str) -> str:
    return _GLOB_SPECIAL.sub(r"\\\1", relative)


def _deal(units: list[Unit], n: int) -> list[list[Unit]]:
    """At most ``n`` groups of about equal weight: heaviest unit first, to the lightest group."""
    groups: list[list[Unit]] = [[] for _ in range(min(n, len(units)))]
    heap = [(0, i) for i in range(len(groups))]
    for unit in sorted(units, key=lambda u: (-u.weight, u.path)):
        weight, i = heapq.heappop(heap)
        groups[i].append(unit)
        heapq.heappush(heap, (weight + unit.weight, i))
    return [sorted(g, key=lambda u: u.path) for g in groups if g]


def is_top(shard_params: dict[str, Any], params: dict[str, Any]) -> bool:
    """Whether a shard is a root's top shard (its roots are the job's own)."""
    roots = shard_params["selection"]["roots"]
    return all(r in params["selection"]["roots"] for r in roots)


# ---- running a shard --------------------------------------------------------------------------


def run_shard(op: Operation, params: Any, ctx: RunContext, top: bool) -> dict[str, Any]:
    """Run one shard; its summary as JSON. An analyze unit shard also reports each unit's
    total (``unit_bytes``); a dupes shard only walks (its rows: the files it found)."""
    if op.name == "dupes":
        stream = dupe_files(
            params.selection,
            max_errors=params.max_errors,
            progress=ctx.progress,
            cancel=ctx.cancel,
            beneath=ctx.beneath,
        )
        return DupesSummary.model_validate(drain(stream, ctx)).model_dump(mode="json")
    if op.name != "analyze":
        return op.run(params, ctx).model_dump(mode="json")
    merged, unit_bytes, linked = analyze_roots(
        params.selection,
        top=params.top,
        max_errors=params.max_errors,
        now=params.now,
        progress=ctx.progress,
        cancel=ctx.cancel,
        beneath=ctx.beneath,
        defer_links=True,
    )
    if not top:
        # A unit is a directory of the job's tree: among its largest (its roots are left out).
        units = [PathSize(path=p, bytes=b) for p, b in unit_bytes.items()]
        merged = merged.model_copy(
            update={"largest_dirs": _largest(merged.largest_dirs + units, params.top)}
        )
    if merged.errors:
        ctx.rows([e.model_dump(mode="json") for e in merged.errors])
    summary = merged.model_dump(mode="json", exclude={"errors"})
    if not top:
        summary[UNIT_BYTES] = unit_bytes
    if linked:  # rare: a tree without hard links stores nothing more
        summary[LINKED] = [list(lf) for lf in linked]
    return summary


# ---- merging ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Shard:
    params: dict[str, Any]
    summary: dict[str, Any]
    rows: Callable[[], Iterable[dict[str, Any]]]  # its result rows, read when needed


def merge_analyze(params: dict[str, Any], shards: Sequence[Shard], elapsed_s: float) -> Any:
    """The job's AnalyzeResult from its shards' (summaries, and their rows: the errors)."""
    top_n, max_errors = params["top"], params["max_errors"]
    kept, dropped = _one_link_per_inode(shards)
    unit_bytes: dict[str, int] = {}
    results = []
    for shard, repeats in zip(shards, dropped, strict=True):
        units = dict(shard.summary.get(UNIT_BYTES, {}))
        for lf in repeats:  # the units above a link counted by another shard too
            for unit in units:
                if lf.counted_in == unit or lf.counted_in.startswith(unit.rstrip("/") + "/"):
                    units[unit] -= lf.size
        unit_bytes.update(units)
        errors = [EntryError.model_validate(r) for r in shard.rows()]
        fields = {k: v for k, v in shard.summary.items() if k not in (UNIT_BYTES, LINKED)}
        result = AnalyzeResult.model_validate({**fields, "errors": errors})
        results.append(uncount_links(result, repeats))
    merged = settle_links(_merge_all(results), kept, top_n)
    # Directories above the units: the top shard's total plus the units' below each.
    above: list[PathSize] = []
    deep: list[PathSize] = []
    for shard, result in zip(shards, results, strict=True):
        if shard.summary.get(UNIT_BYTES) is None:
            for d in result.largest_dirs:
                prefix = d.path.rstrip("/") + "/"
                extra = sum(b for p, b in unit_bytes.items() if p.startswith(prefix))
                above.append(PathSize(path=d.path, bytes=d.bytes + extra))
        else:
            deep.extend(result.largest_dirs)
    return merged.model_copy(
        update={
            "roots": params["selection"]["roots"],
            "top": top_n,
            "max_errors": max_errors,
            "largest_files": _largest(merged.largest_files, top_n),
            "largest_dirs": _largest(above + deep, top_n),
            "errors": merged.errors[:max_errors],
            "elapsed_s": round(elapsed_s, 6),
        }
    )


def _one_link_per_inode(
    shards: Sequence[Shard],
) -> tuple[list[LinkedFile], list[list[LinkedFile]]]:
    """The multiply-linked entries the shards counted: one per (dev, inode), the one of the
    smallest path (the one a single walk names), and per shard the others, counted twice."""
    linked = [[LinkedFile(*row) for row in s.summary.get(LINKED, [])] for s in shards]
    kept: dict[tuple[int, int], LinkedFile] = {}
    for lf in (lf for links in linked for lf in links):
        seen = kept.get((lf.dev, lf.ino))
        if seen is None or os.fsencode(lf.path) < os.fsencode(seen.path):
            kept[(lf.dev, lf.ino)] = lf
    dropped = [[lf for lf in links if kept[(lf.dev, lf.ino)] is not lf] for links in linked]
    return list(kept.values()), dropped


Candidate = tuple[str, int, int, int]  # a file a walk found: (path, size, dev, ino)


def dupe_candidates(
    shards: Sequence[Shard], shared: Collection[int] | None = None
) -> list[Candidate]:
    """The files of the sizes seen more than once over all the walks (hard links included:
    joined by (dev, inode) in the stages); ``shared``: those sizes, when the caller counted
    them (the database can). Without it each shard's rows are read twice (the paths of each
    size counted, then the files of shared sizes kept); either way only candidates are held."""
    if shared is None:
        paths_of_size: dict[int, int] = {}
        for shard in shards:
            for row in shard.rows():
                paths_of_size[row["size"]] = paths_of_size.get(row["size"], 0) + 1
        shared = {size for size, n in paths_of_size.items() if n > 1}
        del paths_of_size
    return [
        (row["path"], row["size"], row["dev"], row["ino"])
        for shard in shards
        for row in shard.rows()
        if row["size"] in shared
    ]


def merge_dupes(
    params: dict[str, Any], shards: Sequence[Shard], ctx: RunContext, elapsed_s: float
) -> DupesSummary:
    """The job's dupes from its shards' walks, the stages run here (``find_dupes_among``: hard
    links joined by (dev, inode) across shards, then edges, then content): the groups go to
    ``ctx.rows``, as an unsharded run sends them; the summary is returned."""
    found = hash_files(params, dupe_candidates(shards), ctx)
    return dupes_summary(params, [s.summary for s in shards], [found], elapsed_s)


def hash_files(params: dict[str, Any], files: list[Candidate], ctx: RunContext) -> DupesSummary:
    """The stages of ``dupes`` over ``files`` (reopened beneath the job's roots); the groups go
    to ``ctx.rows`` (largest waste first, ties by hash). A second-round shard runs this."""
    selection = engine.Selection.model_validate(params["selection"])
    stream = find_dupes_among(
        selection,
        files,
        max_errors=params["max_errors"],
        progress=ctx.progress,
        cancel=ctx.cancel,
        beneath=ctx.beneath,
    )
    del files
    return DupesSummary.model_validate(drain(stream, ctx))


# ---- dupes' second round: the hashing split by size -------------------------------------------

# What opening a file costs, in bytes read: a candidate weighs its size plus this (a million
# small files cost their opens more than their bytes).
FILE_WEIGHT = 64 * 1024
# Candidate files per input row of a second-round shard (a million candidates: 1000 rows).
INPUT_CHUNK = 1000


@dataclass(frozen=True)
class HashRound:
    """The merge of dupes' walks found too much to hash in one place: these parts (split by
    size) are to be hashed by shards of a second round."""

    parts: list[list[Candidate]]


def plan_hashing(files: list[Candidate], n: int, min_weight: int) -> HashRound | None:
    """The second round for ``files``, or None: hash them where they are (fewer than
    ``min_weight`` bytes of work, see FILE_WEIGHT; or one size only; or ``n`` < 2)."""
    if n < 2 or hash_weight(files) < min_weight:
        return None
    parts = split_by_size(files, n)
    return HashRound(parts) if len(parts) > 1 else None


def hash_weight(files: Iterable[Candidate]) -> int:
    """The work of hashing ``files``, in bytes (see FILE_WEIGHT): what a split balances."""
    return sum(f[1] + FILE_WEIGHT for f in files)


def split_by_size(files: Sequence[Candidate], n: int) -> list[list[Candidate]]:
    """At most ``n`` parts of about equal weight, each holding whole sizes (the files of one
    size are compared with one another only, so a part's groups are the job's): heaviest size
    first, to the lightest part. Each part in (size, path) order."""
    by_size: dict[int, list[Candidate]] = {}
    for f in files:
        by_size.setdefault(f[1], []).append(f)
    sizes = sorted(by_size, key=lambda size: (-hash_weight(by_size[size]), size))
    parts: list[list[Candidate]] = [[] for _ in range(max(1, min(n, len(sizes))))]
    heap = [(0, i) for i in range(len(parts))]
    for size in sizes:
        weight, i = heapq.heappop(heap)
        parts[i].extend(by_size[size])
        heapq.heappush(heap, (weight + hash_weight(by_size[size]), i))
    return [sorted(p, key=lambda f: (f[1], f[0])) for p in parts if p]


def input_rows(files: Sequence[Candidate]) -> list[dict[str, Any]]:
    """A second-round shard's files as its input rows (``job_inputs``), INPUT_CHUNK a row."""
    return [{"files": files[i : i + INPUT_CHUNK]} for i in range(0, len(files), INPUT_CHUNK)]


def files_of(rows: Iterable[dict[str, Any]]) -> list[Candidate]:
    """The files of a second-round shard's input rows."""
    return [(f[0], int(f[1]), int(f[2]), int(f[3])) for row in rows for f in row["files"]]


def merge_hashed(
    params: dict[str, Any],
    walks: Sequence[dict[str, Any]],
    hashed: Sequence[Shard],
    ctx: RunContext,
    elapsed_s: float,
) -> DupesSummary:
    """The job's dupes from its walks' summaries and its second-round shards: their groups
    (each shard's largest waste first, ties by hash) merged into one stream in that order, to
    ``ctx.rows``; the summary is an unsharded run's."""
    batch: list[dict[str, Any]] = []
    streams = [s.rows() for s in hashed]
    for row in heapq.merge(*streams, key=lambda r: (-r["wasted_bytes"], r["hash"])):
        batch.append(row)
        if len(batch) >= MERGE_BATCH:
            _send(batch, ctx)
            batch = []
    if batch:
        _send(batch, ctx)
    found = [DupesSummary.model_validate(s.summary) for s in hashed]
    return dupes_summary(params, walks, found, elapsed_s)


MERGE_BATCH = 1000  # rows the merge of the second round sends at once


def _send(batch: list[dict[str, Any]], ctx: RunContext) -> None:
    if ctx.cancel.cancelled:
        raise Cancelled("cancelled while merging the groups")
    ctx.rows(batch)


def dupes_summary(
    params: dict[str, Any],
    walks: Sequence[dict[str, Any]],
    found: Sequence[DupesSummary],
    elapsed_s: float,
) -> DupesSummary:
    """An unsharded run's summary from the walks' (files, bytes, their errors) and the stages'
    over parts holding whole sizes (everything else: added up). A size seen once is one path:
    no hard link is left out of the stages' ``hard_links``."""
    walked = [DupesSummary.model_validate(w) for w in walks]
    errors = [e for w in walked for e in w.errors] + [e for f in found for e in f.errors]
    stages = {
        name: Stage(
            groups=sum(getattr(f, name).groups for f in found),
            files=sum(getattr(f, name).files for f in found),
            bytes=sum(getattr(f, name).bytes for f in found),
        )
        for name in ("by_size", "by_edges", "by_content")
    }
    added = ("hard_links", "duplicate_groups", "duplicate_files", "reclaimable_bytes")
    return DupesSummary(
        roots=params["selection"]["roots"],
        files=sum(w.files for w in walked),
        bytes=sum(w.bytes for w in walked),
        **{k: sum(getattr(f, k) for f in found) for k in added},
        **stages,
        hashed_bytes=sum(f.hashed_bytes for f in found),
        error_count=sum(w.error_count for w in walked) + sum(f.error_count for f in found),
        errors=sorted(errors, key=lambda e: os.fsencode(e.path))[: params["max_errors"]],
        elapsed_s=round(elapsed_s, 6),
    )


def merge_counts(
    params: dict[str, Any], summaries: Sequence[dict[str, Any]], elapsed_s: float
) -> dict[str, Any]:
    """An appending operation's summary: counts added up (in nested tables too: validate's
    ``by_format``), errors in path order (the first ``max_errors``), the job's roots; any other
    field as the first shard has it."""
    merged = {k: _add([s[k] for s in summaries if k in s]) for k in summaries[0]}
    merged["schema_version"] = summaries[0].get("schema_version")
    errors = [e for s in summaries for e in s.get("errors", [])]
    if "errors" in merged:
        cap = params.get("max_errors", len(errors))
        merged["errors"] = sorted(errors, key=lambda e: os.fsencode(e["path"]))[:cap]
    merged["roots"] = params["selection"]["roots"]
    merged["elapsed_s"] = round(elapsed_s, 6)
    return merged


def _add(values: list[Any]) -> Any:
    """Integers added up; tables (dicts) added key by key; anything else: the first value."""
    if all(isinstance(v, int) and not isinstance(v, bool) for v in values):
        return sum(values)
    if all(isinstance(v, dict) for v in values):
        keys = list(dict.fromkeys(k for v in values for k in v))
        return {k: _add([v[k] for v in values if k in v]) for k in keys}
    return values[0]


def _merge_all(results: Sequence[AnalyzeResult]) -> AnalyzeResult:
    merged = results[0]
    for r in results[1:]:
        merged = merged.merge(r)
    return merged


def _largest(rows: Iterable[PathSize], top: int) -> list[PathSize]:
    return heapq.nsmallest(top, rows, key=lambda r: (-r.bytes, os.fsencode(r.path)))

"""The worker: claims jobs, runs them with a lease it keeps renewing, records the outcome.

Each slot is a thread that claims one job at a time. The operation runs on a thread of its own
(the core releases the interpreter), while the slot renews the lease every ``heartbeat_s``,
writing the progress counters with it. A heartbeat that finds the lease gone (it expired and
another worker took the job) or a cancel request sets the operation's cancel token: the core stops
within a fraction of a second, and a worker that lost its lease writes nothing more. A heartbeat
that fails for any other reason than the database being away cancels the operation too.

The worker fails closed: it checks a job's paths at every attempt against its own roots
(``VEGAFS_ROOTS``) narrowed by the submitting key's root (stored with the job), and a worker
without roots runs nothing (every job fails ``path-not-allowed``).
"""

import functools
import json
import logging
import os
import socket
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

from prometheus_client import Histogram

from vegafs import ops
from vegafs.cache import Cache, result_key
from vegafs.cache.bus import Bus, cancel_topic, job_topic
from vegafs.db import Database, DatabaseUnavailable
from vegafs.db import jobs as queue
from vegafs.db import shards as shard_repo
from vegafs.db.database import utcnow
from vegafs.errors import Cancelled
from vegafs.jobs.confinement import narrowed_roots
from vegafs.jobs.expected import expected_entries, remember, walk_eta
from vegafs.jobs.failures import backoff_s, describe, is_transient
from vegafs.jobs.wakeup import QUEUE_TOPIC, PgListener
from vegafs.ops import sharding
from vegafs.ops.confine import PathNotAllowed
from vegafs.settings import Settings

log = logging.getLogger("vegafs.worker")
ROW_BATCH = 1000
SHARD_PROGRESS_S = 1.0  # how often a shard's worker adds up its job's progress
CACHE_ROWS = 10_000  # a result with more rows is not cached
ROWS_PAGE = 10_000  # a shard's rows read at once by the merge

JOB_SECONDS = Histogram(
    "vegafs_job_duration_seconds",
    "Run time of job attempts, by operation and outcome.",
    ["operation", "status"],
    buckets=(0.01, 0.05, 0.1, 0.5, 1, 5, 10, 30, 60, 300, 1800, 3600),
)


def default_worker_id() -> str:
    return f"{socket.gethostname()}:{os.getpid()}"


class LeaseLost(Exception):
    """The job's lease was taken over while its rows were being written."""


class _ResultWriter:
    """Where a running job's rows go: into ``job_results`` batch by batch as the operation sends
    them (each write renews the lease), so the worker never holds a job's rows. The first
    CACHE_ROWS rows are kept as well, for the cache; a longer result is not cached."""

    def __init__(self, db: Database, job: queue.Claimed, lease_s: float) -> None:
        self.db, self.job, self.lease_s = db, job, lease_s
        self.written = 0
        self.kept: list[dict[str, Any]] | None = []

    def __call__(self, batch: ops.Rows) -> None:
        job = self.job
        for start in range(0, len(batch), ROW_BATCH):
            chunk = batch[start : start + ROW_BATCH]
            if not queue.add_rows(
                self.db, job.id, job.lease_token, self.written, chunk, self.lease_s
            ):
                raise LeaseLost(f"job {job.id}: lease lost while writing rows")
            self.written += len(chunk)
        if self.kept is not None and len(self.kept) + len(batch) <= CACHE_ROWS:
            self.kept.extend(batch)
        else:
            self.kept = None


@dataclass
class _Attempt:
    """One run of an operation on its own thread."""

    job: queue.Claimed
    rows: _ResultWriter
    ctx: ops.RunContext
    result: Any = None
    error: BaseException | None = None
    # A heartbeat that failed (not for want of the database): the attempt's error once it stops.
    broken: BaseException | None = None
    started: float = field(default_factory=time.monotonic)
    # Kept in every progress it reports (a merging sharded job: its shards, all done).
    extra: dict[str, Any] = field(default_factory=dict)
    # The entries its walk is expected to meet (jobs/expected.py), for an ETA; None: unknown.
    expected: int | None = None

    def progress(self) -> dict[str, Any]:
        entries, dirs, size, errors = self.ctx.progress.snapshot()
        elapsed = time.monotonic() - self.started
        progress: dict[str, Any] = {
            "entries": entries,
            "dirs": dirs,
            "bytes": size,
            "errors": errors,
            "elapsed_s": round(elapsed, 3),
            "rate_per_s": round(entries / elapsed, 1) if elapsed > 0 else 0.0,
            "entries_expected": self.expected,
            "eta_s": walk_eta(elapsed, entries, self.expected),
        }
        # Applying a plan: its length is known (steps, steps_done, eta_s).
        return {**progress, **self.extra, **(self.ctx.steps.progress() or {})}


class Worker:
    def __init__(
        self,
        db: Database,
        cache: Cache,
        bus: Bus,
        settings: Settings,
        *,
        concurrency: int = 1,
        worker_id: str | None = None,
    ) -> None:
        self.db = db
        self.cache = cache
        self.bus = bus
        self.settings = settings
        self.concurrency = concurrency
        self.id = worker_id or default_worker_id()
        self._stop = threading.Event()
        self._threads: list[threading.Thread] = []
        self._listener: PgListener | None = None
        if not settings.roots:
            log.warning("VEGAFS_ROOTS is empty: every job will fail path-not-allowed")
        self._last_reclaim = 0.0
        self._reclaim_lock = threading.Lock()
        self._running: dict[int, _Attempt] = {}

    # ---- lifecycle ----------------------------------------------------------------------

    def start(self) -> None:
        if not self.db.is_sqlite:
            self._listener = PgListener(self.db.url, self.bus.hub)
        for n in range(self.concurrency):
            t = threading.Thread(target=self._slot, name=f"vegafs-worker-{n}", daemon=True)
            t.start()
            self._threads.append(t)
        log.info("worker %s: %d slot(s)", self.id, self.concurrency)

    def stop(self, timeout: float = 10.0) -> None:
        """Stop claiming; running operations are cancelled and their jobs queued again."""
        self._stop.set()
        for attempt in list(self._running.values()):
            attempt.ctx.cancel.cancel()
        self.bus.hub.deliver(QUEUE_TOPIC)
        deadline = time.monotonic() + timeout
        for t in self._threads:
            t.join(max(0.0, deadline - time.monotonic()))
        if self._listener is not None:
            self._listener.close()

    def wait(self) -> None:
        for t in self._threads:
            while t.is_alive():
                t.join(0.5)

    # ---- one slot -----------------------------------------------------------------------

    def _slot(self) -> None:
        with self.bus.hub.subscribe(QUEUE_TOPIC) as wakeup:
            while not self._stop.is_set():
                try:
                    for merge in self._reclaim_now_and_then():
                        self._run_claimed(merge)
                    job = queue.claim(self.db, self.id, self.settings.lease_s)
                except DatabaseUnavailable as e:
                    log.warning("database unavailable: %s", e)
                    self._stop.wait(self.settings.poll_s)
                    continue
                except Exception:  # a slot never dies: log, wait, try again
                    log.exception("claiming a job failed")
                    self._stop.wait(self.settings.poll_s)
                    continue
                if job is None:
                    wakeup.wait(self.settings.poll_s)
                    continue
                log.info("job %d: claimed by %s (attempt %d)", job.id, self.id, job.attempts)
                self._run_claimed(job)

    def _run_claimed(self, job: queue.Claimed) -> None:
        self._publish(job.id)
        try:
            self._run(job)
        except DatabaseUnavailable as e:
            # The outcome could not be written; the lease will expire and the job be
            # retried by whichever worker claims it then.
            log.warning("job %d: database unavailable, left to its lease: %s", job.id, e)
        except Exception:
            log.exception("job %d: worker error, left to its lease", job.id)

    def _reclaim_now_and_then(self) -> list[queue.Claimed]:
        """Reclaims expired leases, and settles the sharded jobs waiting for their shards (a
        shard may have ended where no worker settled it: its lease expired, or its worker died
        after its end). Returns the jobs this worker took to merge."""
        now = time.monotonic()
        period = min(self.settings.lease_s / 2, 5.0)
        with self._reclaim_lock:
            if now - self._last_reclaim < period:
                return []
            self._last_reclaim = now
        for job_id in queue.reclaim_expired(self.db):
            log.warning("job %d: lease expired, reclaimed", job_id)
            self._publish(job_id)
        merges = []
        for job_id in shard_repo.waiting(self.db):
            merge = self._settle(job_id)
            if merge is not None:
                merges.append(merge)
        return merges

    def _settle(self, job_id: int) -> queue.Claimed | None:
        """Settle a sharded job (db/shards.py); the job when this worker is to merge it."""
        settled = shard_repo.settle(self.db, job_id, self.id, self.settings.lease_s)
        if settled.ended is not None:
            log.info("job %d: %s (its shards)", job_id, settled.ended)
        self._publish(job_id)
        return settled.merge

    def _publish(self, job_id: int) -> None:
        self.bus.publish(job_topic(job_id))

    # ---- one job ------------------------------------------------------------------------

    def _run(self, job: queue.Claimed) -> None:
        writer = _ResultWriter(self.db, job, self.settings.lease_s)
        refused: PathNotAllowed | None = None
        try:
            roots = narrowed_roots(self.settings.roots, job.key_root)
        except PathNotAllowed as e:
            roots, refused = [], e
        # The walk opens its roots beneath the allowed roots, never through a symlink.
        ctx = ops.RunContext(rows=writer, beneath=tuple(roots), job_id=job.id)
        attempt = _Attempt(job, writer, ctx)
        if not self.settings.roots:  # fail closed: no roots, no paths
            error = {"type": "path-not-allowed", "message": "the worker has no VEGAFS_ROOTS"}
            self._end(attempt, "failed", error=error)
            return
        try:
            if refused is not None:
                raise refused
            op = ops.get(job.operation)
            spec = op.params.model_validate(job.spec)
            # Checked again: the tree may have changed since submit, or the row since written.
            confined = op.confine(spec, roots)
            if confined != spec:  # stored as real paths: one now resolves elsewhere
                changed = _first_moved(spec, confined)
                raise PathNotAllowed(
                    changed, "is reached through a symlink now; it was not at submit"
                )
        except (KeyError, ValueError, PathNotAllowed) as e:
            self._end(attempt, "failed", error=_params_error(e))
            return

        if job.parent_id is None and (job.shards or 0) > 1 and ops.can_split(op.name):
            self._run_sharded(attempt, op, spec)
            return
        if job.parent_id is not None:  # a shard: its job may be settled once it has ended
            shard = spec.model_dump(mode="json")
            if job.shard_round == 2:  # dupes' hashing: its files are its input rows
                self._execute(attempt, op, lambda: self._hash_shard(job.id, shard, attempt.ctx))
            else:
                top = sharding.is_top(shard, self._parent_spec(op, job.parent_id))
                self._execute(attempt, op, lambda: sharding.run_shard(op, spec, attempt.ctx, top))
            merge = self._settle(job.parent_id)
            if merge is not None:
                self._run_claimed(merge)
            return

        key = result_key(job.operation, job.spec)
        if op.cacheable and job.use_cache:
            cached = self.cache.get(key)
            if cached is not None:
                entry = json.loads(cached)
                writer(entry["rows"])
                age = max(0.0, time.time() - entry.get("computed_at", time.time()))
                self._succeed(attempt, entry["summary"], cached_age_s=age)
                return

        attempt.expected = expected_entries(self.cache, key, _roots_of(spec))
        summary = self._execute(attempt, op, lambda: op.run(spec, attempt.ctx))
        if summary is not None:
            remember(self.cache, key, attempt.ctx.progress.snapshot()[0])
        if summary is not None and op.cacheable and writer.kept is not None:
            entry = {"summary": summary, "rows": writer.kept, "computed_at": time.time()}
            value = json.dumps(entry).encode()
            self.cache.set(key, value, self.settings.cache_ttl_s)

    def _execute(
        self, attempt: _Attempt, op: ops.Operation, work: Callable[[], Any]
    ) -> dict[str, Any] | None:
        """Run ``work`` (the operation) under the lease and record its outcome; the summary
        recorded when it succeeded."""
        job = attempt.job
        lost = self._supervise(attempt, work)
        lost = lost or isinstance(attempt.error, LeaseLost)
        status = "lost" if lost else _outcome(attempt.error)
        JOB_SECONDS.labels(job.operation, status).observe(time.monotonic() - attempt.started)
        if lost:
            log.warning("job %d: lease lost; this attempt's outcome is dropped", job.id)
            return None
        if attempt.error is None:
            result = attempt.result
            summary = result if isinstance(result, dict) else result.model_dump(mode="json")
            return summary if self._succeed(attempt, summary) else None
        self._fail(attempt, attempt.error)
        return None

    # ---- a sharded job (ops/sharding.py decides, db/shards.py stores) ------------------

    def _parent_spec(self, op: ops.Operation, parent_id: int) -> dict[str, Any]:
        """The params of a shard's job, as validated (defaults filled in)."""
        parent = queue.get(self.db, parent_id)
        if parent is None:
            return {"selection": {"roots": []}}
        spec: dict[str, Any] = op.params.model_validate(parent.spec).model_dump(mode="json")
        return spec

    def _hash_shard(
        self, job_id: int, params: dict[str, Any], ctx: ops.RunContext
    ) -> dict[str, Any]:
        files = sharding.files_of(shard_repo.inputs_of(self.db, job_id))
        return sharding.hash_files(params, files, ctx).model_dump(mode="json")

    def _run_sharded(self, attempt: _Attempt, op: ops.Operation, spec: Any) -> None:
        """Split the job into shards, or merge them once all have succeeded, or (claimed again
        with shards that failed) queue those again."""
        job = attempt.job
        shards = shard_repo.shards_of(self.db, job.id)
        if not shards:
            assert job.shards is not None
            n = job.shards
            lost = self._supervise(attempt, lambda: sharding.plan(op, spec, n, attempt.ctx))
            if lost or attempt.error is not None:
                if not lost:
                    self._fail(attempt, attempt.error)  # type: ignore[arg-type]
                return
            specs = attempt.result
            if specs is None:  # cannot be split exactly: run as one job
                log.info("job %d: not split (see ops/sharding.py); runs as one", job.id)
                attempt.started = time.monotonic()
                self._execute(attempt, op, lambda: op.run(spec, attempt.ctx))
                return
            ids = shard_repo.add_shards(self.db, job, specs)
            if ids is None:
                log.warning("job %d: lease lost before its shards were added", job.id)
                return
            if not ids:
                log.info("job %d: cancelled while it was splitting; no shard added", job.id)
                self._publish(job.id)
                return
            log.info("job %d: split into %d shards (%d..%d)", job.id, len(ids), ids[0], ids[-1])
            self.bus.publish(QUEUE_TOPIC)
            self._publish(job.id)
            return
        if all(s.status == "succeeded" for s in shards):
            self._merge(attempt, op, spec.model_dump(mode="json"), shards)
            return
        shard_repo.resume(self.db, job)
        log.info("job %d: its failed or cancelled shards are queued again", job.id)
        self.bus.publish(QUEUE_TOPIC)
        merge = self._settle(job.id)
        if merge is not None:
            self._run_claimed(merge)

    def _merge(
        self, attempt: _Attempt, op: ops.Operation, params: dict[str, Any], shards: list[Any]
    ) -> None:
        """The shards' results merged into the job's (``params``: the job's, validated)."""
        job = attempt.job
        row = queue.get(self.db, job.id)
        started = row.started_at if row is not None and row.started_at else None
        # While it merges (dupes may hash then), its progress still says every shard is done.
        attempt.extra = {"shards": len(shards), "shards_done": len(shards)}

        def merge() -> dict[str, Any] | sharding.HashRound:
            elapsed = 0.0 if started is None else (utcnow() - started).total_seconds()
            if op.name == "analyze":
                result = sharding.merge_analyze(params, self._parts(shards), elapsed)
                if result.errors:
                    attempt.rows([e.model_dump(mode="json") for e in result.errors])
                merged: dict[str, Any] = result.model_dump(mode="json", exclude={"errors"})
                return merged
            if op.name == "dupes":
                return self._merge_dupes(params, shards, attempt, elapsed)
            copied = shard_repo.copy_rows(self.db, job, [s.id for s in shards])
            if copied is None:
                raise LeaseLost(f"job {job.id}: lease lost while merging its shards' rows")
            attempt.rows.written = copied
            return sharding.merge_counts(params, [s.summary for s in shards], elapsed)

        lost = self._supervise(attempt, merge)
        if lost or isinstance(attempt.error, LeaseLost):
            log.warning("job %d: lease lost while merging its shards", job.id)
            return
        if attempt.error is not None:
            self._fail(attempt, attempt.error)
            return
        if isinstance(attempt.result, sharding.HashRound):
            self._add_hash_round(job, params, attempt.result)
            return
        progress = shard_repo.sum_progress(row.progress if row else None, shards, len(shards))
        self._end(
            attempt,
            "succeeded",
            summary=attempt.result,
            rows=attempt.rows.written,
            progress={**progress, "cached": False},
        )
        log.info("job %d: %d shards merged", job.id, len(shards))

    def _merge_dupes(
        self, params: dict[str, Any], shards: list[Any], attempt: _Attempt, elapsed: float
    ) -> dict[str, Any] | sharding.HashRound:
        """Round 1 (the walks) done: hash their candidates here, or hand them to a second round
        (ops/sharding.py ``plan_hashing``); round 2 done: merge its groups."""
        ctx = attempt.ctx
        walks = [s for s in shards if s.shard_round is None]
        hashed = [s for s in shards if s.shard_round == 2]
        if hashed:
            parts = self._parts(hashed)
            summaries = [s.summary for s in walks]
            return sharding.merge_hashed(params, summaries, parts, ctx, elapsed).model_dump(
                mode="json"
            )
        parts = self._parts(walks)
        shared = shard_repo.sizes_seen_twice(self.db, [s.id for s in walks])
        files = sharding.dupe_candidates(parts, shared)
        n = attempt.job.shards or 0
        second = sharding.plan_hashing(files, n, self.settings.dupes_split_hash_bytes)
        if second is not None:
            return second
        found = sharding.hash_files(params, files, ctx)
        summaries = [s.summary for s in walks]
        return sharding.dupes_summary(params, summaries, [found], elapsed).model_dump(mode="json")

    def _add_hash_round(
        self, job: queue.Claimed, params: dict[str, Any], second: sharding.HashRound
    ) -> None:
        """Queue the second round of a dupes job (its hashing, split by size); the job waits."""
        inputs = [sharding.input_rows(p) for p in second.parts]
        ids = shard_repo.add_shards(
            self.db, job, [params] * len(inputs), shard_round=2, inputs=inputs
        )
        if ids is None:
            log.warning("job %d: lease lost before its hashing shards were added", job.id)
            return
        if ids:
            log.info("job %d: hashing split into %d shards by size", job.id, len(ids))
            self.bus.publish(QUEUE_TOPIC)
        self._publish(job.id)

    def _parts(self, shards: list[Any]) -> list[sharding.Shard]:
        """The shards as the merges take them: spec, summary and their rows, read on demand."""
        return [
            sharding.Shard(s.spec, s.summary, functools.partial(self._rows_of, s.id))
            for s in shards
        ]

    def _rows_of(self, job_id: int) -> Iterator[dict[str, Any]]:
        """A job's result rows, read a page at a time."""
        after = -1
        while True:
            page = queue.results(self.db, job_id, after_seq=after, limit=ROWS_PAGE)
            yield from (r.data for r in page)
            if len(page) < ROWS_PAGE:
                return
            after = page[-1].seq

    def _supervise(self, attempt: _Attempt, work: Callable[[], Any]) -> bool:
        """Run ``work``, renewing the lease; True when the lease was lost."""
        job, s = attempt.job, self.settings
        last_shard_progress = time.monotonic()

        def target() -> None:
            try:
                attempt.result = work()
            except BaseException as e:  # handed to the slot thread
                attempt.error = e
            finally:
                self.bus.hub.deliver(cancel_topic(job.id))  # wakes the loop below

        self._running[job.id] = attempt
        lost = False
        lease_until = time.monotonic() + s.lease_s
        try:
            with self.bus.hub.subscribe(cancel_topic(job.id)) as signal:
                thread = threading.Thread(target=target, name=f"vegafs-job-{job.id}", daemon=True)
                thread.start()
                while thread.is_alive():
                    signal.wait(s.heartbeat_s)
                    if not thread.is_alive():
                        break
                    try:
                        beat = queue.heartbeat(
                            self.db, job.id, job.lease_token, s.lease_s, attempt.progress()
                        )
                    except DatabaseUnavailable as e:
                        if time.monotonic() > lease_until - s.heartbeat_s:
                            log.warning("job %d: lease ran out while the database was away", job.id)
                            attempt.ctx.cancel.cancel()
                            lost = True
                        else:
                            log.debug("job %d: heartbeat failed: %s", job.id, e)
                        continue
                    except Exception as e:
                        # The lease cannot be renewed and nothing says why it would be later:
                        # stop the operation; the attempt ends with this error (retried as any).
                        log.exception("job %d: heartbeat failed; operation cancelled", job.id)
                        attempt.broken = e
                        attempt.ctx.cancel.cancel()
                        break
                    lease_until = time.monotonic() + s.lease_s
                    if not beat.held:
                        attempt.ctx.cancel.cancel()
                        lost = True
                    elif beat.cancel_requested:
                        attempt.ctx.cancel.cancel()
                    self._publish(job.id)
                    if job.parent_id is not None and (
                        time.monotonic() - last_shard_progress >= SHARD_PROGRESS_S
                    ):
                        last_shard_progress = time.monotonic()
                        try:
                            shard_repo.refresh_progress(self.db, job.parent_id)
                        except Exception as e:  # only a progress figure: the next one will do
                            log.debug("job %d: its job's progress: %s", job.id, e)
                        else:
                            self._publish(job.parent_id)
                thread.join()
        finally:
            del self._running[job.id]
        if attempt.broken is not None:
            attempt.result, attempt.error = None, attempt.broken
        return lost

    def _succeed(
        self, attempt: _Attempt, summary: dict[str, Any], *, cached_age_s: float | None = None
    ) -> bool:
        """``cached_age_s``: the result came from the cache, computed that long ago."""
        progress = {**attempt.progress(), "cached": cached_age_s is not None}
        if cached_age_s is not None:
            progress["cached_age_s"] = round(cached_age_s, 1)
        return self._end(
            attempt, "succeeded", summary=summary, rows=attempt.rows.written, progress=progress
        )

    def _fail(self, attempt: _Attempt, error: BaseException) -> None:
        job = attempt.job
        if isinstance(error, Cancelled):
            if self._stop.is_set():  # the worker is stopping: give the job back untouched
                queue.retry_later(
                    self.db,
                    job.id,
                    job.lease_token,
                    delay_s=0,
                    error={"type": "worker-stopped", "message": "worker stopped"},
                )
                self._publish(job.id)
                return
            self._end(attempt, "cancelled", error=describe(error))
            return
        record = describe(error)
        if is_transient(error) and job.attempts < job.max_attempts:
            delay = backoff_s(job.attempts, self.settings.retry_base_s, self.settings.retry_max_s)
            record["retry_in_s"] = round(delay, 3)
            log.warning(
                "job %d: attempt %d failed (%s); retrying in %.1f s",
                job.id,
                job.attempts,
                record["message"],
                delay,
            )
            queue.retry_later(self.db, job.id, job.lease_token, delay_s=delay, error=record)
            self._publish(job.id)
            return
        self._end(attempt, "failed", error=record)

    def _end(
        self,
        attempt: _Attempt,
        status: str,
        *,
        summary: dict[str, Any] | None = None,
        error: dict[str, Any] | None = None,
        rows: int = 0,
        progress: dict[str, Any] | None = None,
    ) -> bool:
        job = attempt.job
        done = queue.finish(
            self.db,
            job.id,
            job.lease_token,
            status=status,
            summary=summary,
            error=error,
            result_rows=rows,
            progress=progress or attempt.progress(),
        )
        if not done:
            log.warning("job %d: lease lost before it could be marked %s", job.id, status)
        self._publish(job.id)
        return done


def _outcome(error: BaseException | None) -> str:
    if error is None:
        return "succeeded"
    return "cancelled" if isinstance(error, Cancelled) else "failed"


def _first_moved(stored: Any, confined: Any) -> str:
    """The first root of ``stored`` whose real path is no longer itself."""
    for old, new in zip(_roots_of(stored), _roots_of(confined), strict=False):
        if old != new:
            return old
    return "params"


def _roots_of(spec: Any) -> list[str]:
    """The roots of an operation's selection; none for an operation that has no selection."""
    return [str(r) for r in getattr(getattr(spec, "selection", None), "roots", [])]


def _params_error(e: Exception) -> dict[str, Any]:
    if isinstance(e, KeyError):
        return {"type": "unknown-operation", "message": str(e.args[0])}
    return describe(e)

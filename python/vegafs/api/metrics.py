"""``GET /metrics``: Prometheus text. Jobs by state and queue depth are read from the database
(so every API replica reports the same), at most once every ``VEGAFS_METRICS_CACHE_S`` seconds
per process (5): counting jobs by state reads the whole jobs table, which a scrape every few
seconds from several scrapers must not repeat each time. HTTP latency is this process's; job
durations are those of the worker running in this process (a ``vegafs worker`` serves its own
with ``--metrics-port``)."""

import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass

from prometheus_client import REGISTRY, CollectorRegistry, Histogram, generate_latest
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.registry import Collector
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from vegafs.db import Database, DatabaseUnavailable
from vegafs.db import jobs as job_repo

HTTP_SECONDS = Histogram(
    "vegafs_http_request_duration_seconds",
    "HTTP request latency, by method, route and status.",
    ["method", "route", "status"],
    buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5),
)


@dataclass(frozen=True)
class Counts:
    by_status: dict[tuple[str, str], int]
    due: int


class JobStats:
    """The job counts, read from the database at most once every ``max_age_s`` seconds; the
    database's being down is never cached."""

    def __init__(self, db: Database, max_age_s: float) -> None:
        self.db = db
        self.max_age_s = max_age_s
        self._lock = threading.Lock()
        self._counts: Counts | None = None
        self._read_at = 0.0

    def counts(self) -> Counts:
        """Raises DatabaseUnavailable when they must be read and cannot be."""
        with self._lock:  # one reader at a time; the others wait for its answer
            now = time.monotonic()
            if self._counts is None or now - self._read_at >= self.max_age_s:
                self._counts = Counts(
                    job_repo.counts_by_status(self.db), job_repo.queue_depth(self.db)
                )
                self._read_at = now
            return self._counts


class JobCollector(Collector):
    def __init__(self, stats: JobStats) -> None:
        self.stats = stats

    def collect(self) -> Iterator[Metric]:
        jobs = GaugeMetricFamily(
            "vegafs_jobs", "Jobs by operation and status.", labels=["operation", "status"]
        )
        depth = GaugeMetricFamily("vegafs_queue_depth", "Queued jobs that are due now.")
        up = GaugeMetricFamily(
            "vegafs_database_up", "1 when the database answered the last reading of the counts."
        )
        try:
            counts = self.stats.counts()
        except DatabaseUnavailable:
            up.add_metric([], 0)
            yield up
            return
        for (operation, status), n in sorted(counts.by_status.items()):
            jobs.add_metric([operation, status], n)
        depth.add_metric([], counts.due)
        up.add_metric([], 1)
        yield from (jobs, depth, up)


class HttpMetrics:
    """Times every request; the label is the route's template, never the raw path."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        start = time.perf_counter()
        status = 500

        async def send_wrapper(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, send_wrapper)
        finally:
            template = _template(scope)
            HTTP_SECONDS.labels(scope["method"], template, str(status)).observe(
                time.perf_counter() - start
            )


def exposition(stats: JobStats) -> bytes:
    """This process's metrics followed by the database-derived ones."""
    jobs = CollectorRegistry(auto_describe=False)
    jobs.register(JobCollector(stats))
    return generate_latest(REGISTRY) + generate_latest(jobs)


def _template(scope: Scope) -> str:
    """The matched route as a template (``/api/v1/jobs/{job_id}``): a bounded label set."""
    if scope.get("route") is None:
        return "unmatched"
    path: str = scope["path"]
    for name, value in (scope.get("path_params") or {}).items():
        path = path.replace(f"/{value}", f"/{{{name}}}", 1)
    return path

"""What the API's routes share: settings, database, cache, bus, authenticator, worker."""

from dataclasses import dataclass

from vegafs.api.auth import Authenticator
from vegafs.api.limits import StreamSlots
from vegafs.api.metrics import JobStats
from vegafs.cache import Cache, connect
from vegafs.cache.bus import Bus
from vegafs.db import Database
from vegafs.db.store import JobStore, open_store
from vegafs.jobs import Worker
from vegafs.settings import Settings

# The API's blocking work (every database call but the store's on PostgreSQL) runs on AnyIO's
# thread pool, which create_app sizes to this, and the database pool keeps as many connections
# (the store's asyncpg pool as many again). With more threads than pooled
# connections, SQLAlchemy opens and closes a connection for each request over the pool's size
# (AnyIO's default of 40 threads on a pool of 10 cost a third of GET throughput, and more
# threads than this gain nothing in one process: docs/benchmarks.md).
API_THREADS = 16


@dataclass
class Services:
    settings: Settings
    db: Database
    store: JobStore  # the hot path: submit, read a job, find a key (db/store.py)
    cache: Cache
    bus: Bus
    auth: Authenticator
    streams: StreamSlots
    job_stats: JobStats
    worker: Worker | None = None

    @classmethod
    def open(cls, settings: Settings, *, worker_concurrency: int = 0) -> "Services":
        db = Database(settings.database, pool_size=API_THREADS)
        store = open_store(db, pool_size=API_THREADS)
        cache, bus = connect(settings.redis_url, settings.cache_timeout_s)
        worker = (
            Worker(db, cache, bus, settings, concurrency=worker_concurrency)
            if worker_concurrency > 0
            else None
        )
        auth = Authenticator(store, settings.auth_memo_s, may_be_open=settings.bound_to_loopback())
        streams = StreamSlots(settings.max_streams_per_key, settings.max_streams)
        stats = JobStats(db, settings.metrics_cache_s)
        return cls(settings, db, store, cache, bus, auth, streams, stats, worker)

    async def close(self) -> None:
        await self.store.close()
        if self.worker is not None:
            self.worker.stop()
        self.bus.close()
        self.db.dispose()

"""What the API's routes share: settings, database, cache, bus, authenticator, worker."""

from dataclasses import dataclass

from vegafs.api.auth import Authenticator
from vegafs.cache import Cache, connect
from vegafs.cache.bus import Bus
from vegafs.db import Database
from vegafs.jobs import Worker
from vegafs.settings import Settings


@dataclass
class Services:
    settings: Settings
    db: Database
    cache: Cache
    bus: Bus
    auth: Authenticator
    worker: Worker | None = None

    @classmethod
    def open(cls, settings: Settings, *, worker_concurrency: int = 0) -> "Services":
        db = Database(settings.database)
        cache, bus = connect(settings.redis_url, settings.cache_timeout_s)
        worker = (
            Worker(db, cache, bus, settings, concurrency=worker_concurrency)
            if worker_concurrency > 0
            else None
        )
        return cls(settings, db, cache, bus, Authenticator(db, settings.auth_memo_s), worker)

    def close(self) -> None:
        if self.worker is not None:
            self.worker.stop()
        self.bus.close()
        self.db.dispose()

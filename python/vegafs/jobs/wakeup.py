"""Waking idle workers when a job is queued.

On PostgreSQL the INSERT of a job sends ``NOTIFY vegafs_jobs``; a listener thread in every worker
process turns that into the local ``queue`` event, with or without Redis. On SQLite the process
that queues a job publishes the ``queue`` topic on the bus (in-process, or Redis across
processes). Polling every ``VEGAFS_POLL_S`` stays as the fallback for anything missed.
"""

import logging
import threading

from sqlalchemy.engine import make_url

from vegafs.cache.bus import LocalHub
from vegafs.db.jobs import NOTIFY_CHANNEL

log = logging.getLogger("vegafs.jobs")
QUEUE_TOPIC = "queue"


class PgListener:
    def __init__(self, url: str, hub: LocalHub) -> None:
        u = make_url(url).set(drivername="postgresql")
        self._dsn = u.render_as_string(hide_password=False)
        self._hub = hub
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="vegafs-pg-listen", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        import psycopg

        delay = 0.1
        while not self._stop.is_set():
            try:
                with psycopg.connect(self._dsn, autocommit=True, connect_timeout=3) as conn:
                    conn.execute(f"LISTEN {NOTIFY_CHANNEL}")
                    delay = 0.1
                    self._hub.deliver(QUEUE_TOPIC)  # whatever was queued while we were away
                    while not self._stop.is_set():
                        for _ in conn.notifies(timeout=1.0, stop_after=1):
                            self._hub.deliver(QUEUE_TOPIC)
            except psycopg.Error as e:
                log.debug("LISTEN %s: %s", NOTIFY_CHANNEL, e)
            self._stop.wait(delay)
            delay = min(delay * 2, 2.0)

    def close(self) -> None:
        self._stop.set()
        self._thread.join(timeout=3)

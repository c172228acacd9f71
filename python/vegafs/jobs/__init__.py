"""Jobs: the worker that claims queued jobs, runs their operation and records the outcome.

The SQL of the queue lives in ``vegafs.db.jobs``; this package decides what to run, when to
renew a lease, when to retry and when to give up.
"""

from vegafs.jobs.worker import Worker

__all__ = ["Worker"]

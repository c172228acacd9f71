"""Storage: SQLAlchemy 2 models, the Database handle, repositories; Alembic migrations beside it.

The names below load SQLAlchemy on first use, not on import: ``vegafs.db.plain`` (the journal's
connection) and ``vegafs.db.migrate``'s check do without it.
"""

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from vegafs.db.database import Database, DatabaseUnavailable
    from vegafs.db.models import ApiKey, Base, Job, JobResult

_FROM = {"Database": "database", "DatabaseUnavailable": "database", "ApiKey": "models",
         "Base": "models", "Job": "models", "JobResult": "models"}  # fmt: skip


def __getattr__(name: str) -> Any:
    module = _FROM.get(name)
    if module is None:
        raise AttributeError(f"module 'vegafs.db' has no attribute {name!r}")
    import importlib

    return getattr(importlib.import_module(f"vegafs.db.{module}"), name)


__all__ = ["ApiKey", "Base", "Database", "DatabaseUnavailable", "Job", "JobResult"]

"""Storage: SQLAlchemy 2 models, the Database handle, repositories; Alembic migrations beside it."""

from vegafs.db.database import Database, DatabaseUnavailable
from vegafs.db.models import ApiKey, Base, Job, JobResult

__all__ = ["ApiKey", "Base", "Database", "DatabaseUnavailable", "Job", "JobResult"]

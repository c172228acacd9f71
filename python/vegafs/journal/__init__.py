"""The journal of the writing operations, and what applies, rolls back and recovers them.

The guarantee (docs/concepts.md): the whole plan is in the journal, committed, before the first
change; renames never replace a target; steps advance a batch at a time, each batch's
directories fsynced before the journal says it is done; an error or a cancel rolls back the
steps done, in reverse; after a crash, ``recover`` finds on disk, by (device, inode), which
steps of an unfinished operation were done and rolls them back.
"""

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from vegafs.journal.store import Journal


def open_journal() -> "Journal":
    """The journal in the configured database (``VEGAFS_DATABASE_URL``; by default the local
    SQLite file), its commits durable; a local SQLite database is migrated on first use."""
    from vegafs.db import migrate
    from vegafs.db.database import Database
    from vegafs.journal.store import Journal
    from vegafs.settings import get_settings

    db = Database(get_settings().database, pool_size=1, durable=True)
    if db.is_sqlite and not migrate.is_current(db):
        migrate.upgrade(db)
    return Journal(db)

"""Alembic environment: the engine comes from vegafs.db.migrate, never from an ini file."""

from alembic import context
from sqlalchemy import text

from vegafs.db.models import Base

# Any constant: the key of the advisory lock upgrades take on PostgreSQL ("vegafsdb").
PG_LOCK_KEY = 0x7665676166736462

engine = context.config.attributes["engine"]
with engine.connect() as connection:
    if connection.dialect.name == "postgresql":
        # Held until the commit: processes upgrading a database at once (workers started
        # together on a fresh one) run one after the other, and the later ones find it at the
        # head. SQLite's equivalent is the write lock of the BEGIN IMMEDIATE below.
        connection.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": PG_LOCK_KEY})
    context.configure(
        connection=connection,
        target_metadata=Base.metadata,
        render_as_batch=connection.dialect.name == "sqlite",
        # One transaction for the whole upgrade, SQLite too (Alembic would commit after each
        # revision there): the first process to start on a fresh file holds the write lock
        # until it is at the head; another waits, then finds nothing to do. With a commit per
        # revision, a worker started beside another ran a revision the other had just run
        # ("index ix_jobs_owner_active already exists") and died.
        transactional_ddl=True,
    )
    with context.begin_transaction():
        context.run_migrations()
    connection.commit()

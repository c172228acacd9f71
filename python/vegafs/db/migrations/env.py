"""Alembic environment: the engine comes from vegafs.db.migrate, never from an ini file."""

from alembic import context

from vegafs.db.models import Base

engine = context.config.attributes["engine"]
with engine.connect() as connection:
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

"""write_steps.kind, .backup, .digest: steps other than renames; write_ops.owner, .job_id, .beneath

A writing operation's steps were all renames. Replace, copy, move and overwrite add steps of
other kinds (``kind``), some of which keep the original bytes in the journal's backup store
(``backup``: the path of the copy) or check a file by the hash of the content they wrote
(``digest``). An operation records who runs it (``owner``: host, process and its start, so
that recovery leaves a live operation alone; ``job_id`` for a job) and, for a job, the roots its
changes are confined beneath (``beneath``), which its rollback and recovery keep to.

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-30 04:00:00
"""

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("write_ops") as batch:
        batch.add_column(sa.Column("owner", sa.String(300), nullable=True))
        batch.add_column(sa.Column("job_id", sa.BigInteger(), nullable=True))
        batch.add_column(sa.Column("beneath", sa.JSON(none_as_null=True), nullable=True))
    with op.batch_alter_table("write_steps") as batch:
        batch.add_column(sa.Column("kind", sa.String(16), nullable=False, server_default="rename"))
        batch.add_column(sa.Column("backup", sa.LargeBinary(), nullable=True))
        batch.add_column(sa.Column("digest", sa.LargeBinary(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("write_steps") as batch:
        batch.drop_column("digest")
        batch.drop_column("backup")
        batch.drop_column("kind")
    with op.batch_alter_table("write_ops") as batch:
        batch.drop_column("beneath")
        batch.drop_column("job_id")
        batch.drop_column("owner")

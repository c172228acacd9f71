"""write_steps.kind, .backup, .digest: steps other than renames

A writing operation's steps were all renames. Replace, copy, move and overwrite add steps of
other kinds (``kind``), some of which keep the original bytes in the journal's backup store
(``backup``: the path of the copy) or check a file by the hash of the content they wrote
(``digest``).

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
    with op.batch_alter_table("write_steps") as batch:
        batch.add_column(sa.Column("kind", sa.String(16), nullable=False, server_default="rename"))
        batch.add_column(sa.Column("backup", sa.LargeBinary(), nullable=True))
        batch.add_column(sa.Column("digest", sa.LargeBinary(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("write_steps") as batch:
        batch.drop_column("digest")
        batch.drop_column("backup")
        batch.drop_column("kind")

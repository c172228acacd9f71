"""jobs.key_root: the submitting API key's root, kept with the job

The worker confines a job's paths to its own roots narrowed by this root, at every attempt, and
a retry checks it again; NULL means the key had no root (or the job came from the CLI).

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-30 10:00:00
"""

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("jobs", schema=None) as batch_op:
        batch_op.add_column(sa.Column("key_root", sa.String(length=4096), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("jobs", schema=None) as batch_op:
        batch_op.drop_column("key_root")

"""ix_jobs_owner_active: a key's queued and running jobs, for the per-key limit

Each submit counts the submitting key's unfinished jobs. Through ix_jobs_owner that count read
every job the key ever had (millions of index entries for a key with a long history); this
partial index holds the unfinished jobs alone.

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-29 21:00:00
"""

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None

ACTIVE = "status IN ('queued', 'running')"


def upgrade() -> None:
    op.create_index(
        "ix_jobs_owner_active",
        "jobs",
        ["owner"],
        postgresql_where=sa.text(ACTIVE),
        sqlite_where=sa.text(ACTIVE),
    )


def downgrade() -> None:
    op.drop_index("ix_jobs_owner_active", table_name="jobs")

"""jobs.parent_id, jobs.shards: one job split into shards, each a job of its own

A job submitted with ``shards`` (N) is split by the worker that claims it into child jobs
(``parent_id`` names the job they belong to) that any worker claims like any other job; the
parent keeps ``shards``, the number asked for. Children go when their parent is deleted.

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-30 11:00:00
"""

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("jobs") as batch:
        batch.add_column(sa.Column("parent_id", sa.BigInteger(), nullable=True))
        batch.add_column(sa.Column("shards", sa.Integer(), nullable=True))
        batch.create_foreign_key(
            "fk_jobs_parent_id", "jobs", ["parent_id"], ["id"], ondelete="CASCADE"
        )
        batch.create_index("ix_jobs_parent", ["parent_id"])


def downgrade() -> None:
    with op.batch_alter_table("jobs") as batch:
        batch.drop_index("ix_jobs_parent")
        batch.drop_constraint("fk_jobs_parent_id", type_="foreignkey")
        batch.drop_column("shards")
        batch.drop_column("parent_id")

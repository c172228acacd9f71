"""jobs.parent_id, jobs.shards: one job split into shards, each a job of its own

A job submitted with ``shards`` (N) is split by the worker that claims it into child jobs
(``parent_id`` names the job they belong to) that any worker claims like any other job; the
parent keeps ``shards``, the number asked for. Children go when their parent is deleted. The
per-key count of unfinished jobs leaves shards out: its partial index gets the condition.

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-30 11:00:00
"""

import sqlalchemy as sa
from alembic import op

BEFORE = "status IN ('queued', 'running')"
ACTIVE = "status IN ('queued', 'running') AND parent_id IS NULL"

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def _owner_active(where: str) -> None:
    op.drop_index("ix_jobs_owner_active", table_name="jobs")
    op.create_index(
        "ix_jobs_owner_active",
        "jobs",
        ["owner"],
        postgresql_where=sa.text(where),
        sqlite_where=sa.text(where),
    )


def upgrade() -> None:
    with op.batch_alter_table("jobs") as batch:
        batch.add_column(sa.Column("parent_id", sa.BigInteger(), nullable=True))
        batch.add_column(sa.Column("shards", sa.Integer(), nullable=True))
        batch.create_foreign_key(
            "fk_jobs_parent_id", "jobs", ["parent_id"], ["id"], ondelete="CASCADE"
        )
        batch.create_index("ix_jobs_parent", ["parent_id"])
    _owner_active(ACTIVE)


def downgrade() -> None:
    _owner_active(BEFORE)
    with op.batch_alter_table("jobs") as batch:
        batch.drop_index("ix_jobs_parent")
        batch.drop_constraint("fk_jobs_parent_id", type_="foreignkey")
        batch.drop_column("shards")
        batch.drop_column("parent_id")

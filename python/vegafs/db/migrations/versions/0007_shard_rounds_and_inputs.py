"""jobs.shard_round, job_inputs: a sharded job's second round of shards and their input rows

A sharded ``dupes`` job runs two rounds of shards: round 1 walks (a shard per part of the
tree), round 2 hashes (a shard per part of the candidate files, split by size). A round-2
shard's input is its list of files, stored as rows of ``job_inputs`` (a chunk of files per
row, so a million candidates are about a thousand rows), written with the shard and read by
whichever worker claims it; a rerun reads them again (its result rows go, its inputs stay).
Inputs go with their job.

Revision ID: 0007
Revises: 0006
Create Date: 2026-11-30 17:30:00
"""

import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None

Id = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    with op.batch_alter_table("jobs") as batch:
        batch.add_column(sa.Column("shard_round", sa.Integer(), nullable=True))
    op.create_table(
        "job_inputs",
        sa.Column("job_id", Id, sa.ForeignKey("jobs.id", ondelete="CASCADE"), primary_key=True),
        sa.Column("seq", sa.Integer(), primary_key=True, autoincrement=False),
        sa.Column("data", sa.JSON(none_as_null=True), nullable=False),
    )


def downgrade() -> None:
    op.drop_table("job_inputs")
    with op.batch_alter_table("jobs") as batch:
        batch.drop_column("shard_round")

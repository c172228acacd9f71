"""write_ops, write_steps: the journal of the writing operations

A writing operation's whole plan is written here, and committed, before its first change;
``steps_done`` advances a batch at a time. Recovery after a crash reads it.

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-30 01:30:00
"""

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None

Id = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "write_ops",
        sa.Column("id", Id, primary_key=True, autoincrement=True),
        sa.Column("operation", sa.String(100), nullable=False),
        sa.Column("params", sa.JSON(none_as_null=True), nullable=False),
        sa.Column("state", sa.String(16), nullable=False),
        sa.Column("steps_total", sa.Integer(), nullable=False),
        sa.Column("steps_done", sa.Integer(), nullable=False),
        sa.Column("error", sa.String(4096), nullable=True),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("updated_at", sa.DateTime(), nullable=False),
    )
    op.create_table(
        "write_steps",
        sa.Column("op_id", Id, sa.ForeignKey("write_ops.id", ondelete="CASCADE"), primary_key=True),
        sa.Column("seq", sa.Integer(), primary_key=True, autoincrement=False),
        sa.Column("src", sa.LargeBinary(), nullable=False),
        sa.Column("dst", sa.LargeBinary(), nullable=False),
        sa.Column("dev", sa.BigInteger(), nullable=False),
        sa.Column("ino", sa.BigInteger(), nullable=False),
        sa.Column("stamp", sa.BigInteger(), nullable=False),
    )


def downgrade() -> None:
    op.drop_table("write_steps")
    op.drop_table("write_ops")

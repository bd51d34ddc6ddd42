"""Calls remember which instance runs them (heartbeat); wider text columns.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-23
"""

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None

WIDER = [
    ("calls", "from_number", 40, 255),
    ("calls", "to_number", 40, 255),
    ("calls", "desk", 80, 120),
    ("calls", "caller_name", 120, 255),
    ("follow_ups", "assignee", 80, 120),
]


def upgrade() -> None:
    with op.batch_alter_table("calls") as batch:
        batch.add_column(sa.Column("instance_id", sa.String(length=120), nullable=True))
        batch.add_column(sa.Column("heartbeat_at", sa.DateTime(timezone=True), nullable=True))
    for table, column, old, new in WIDER:
        with op.batch_alter_table(table) as batch:
            batch.alter_column(column, type_=sa.String(length=new),
                               existing_type=sa.String(length=old))


def downgrade() -> None:
    for table, column, old, new in WIDER:
        with op.batch_alter_table(table) as batch:
            batch.alter_column(column, type_=sa.String(length=old),
                               existing_type=sa.String(length=new))
    with op.batch_alter_table("calls") as batch:
        batch.drop_column("heartbeat_at")
        batch.drop_column("instance_id")

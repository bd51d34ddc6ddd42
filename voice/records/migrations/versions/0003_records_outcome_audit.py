"""Call outcome (summary, topics, follow-up due dates/owners/sources), the audit log,
purge marks, and full-text search of utterances on PostgreSQL.

Follow-ups that were ``closed`` become ``done`` (statuses are now open, in_progress, done).

Revision ID: 0003_records
Revises: 0003_auth
Create Date: 2026-12-03
"""

import sqlalchemy as sa
from alembic import op

revision = "0003_records"
down_revision = "0003_auth"
branch_labels = None
depends_on = None

FTS_INDEX = "ix_utterances_text_fts"


def upgrade() -> None:
    with op.batch_alter_table("calls") as batch:
        batch.add_column(sa.Column("summary", sa.JSON(), nullable=True))
        batch.add_column(sa.Column("topics", sa.JSON(), nullable=False, server_default="[]"))
        batch.add_column(sa.Column("purged_at", sa.DateTime(timezone=True), nullable=True))
    with op.batch_alter_table("follow_ups") as batch:
        batch.add_column(sa.Column("kind", sa.String(length=20), nullable=False,
                                   server_default="decide"))
        batch.add_column(sa.Column("for_whom", sa.String(length=255), nullable=False,
                                   server_default=""))
        batch.add_column(sa.Column("due_at", sa.DateTime(timezone=True), nullable=True))
        batch.add_column(sa.Column("due_text", sa.String(length=255), nullable=False,
                                   server_default=""))
        batch.add_column(sa.Column("source", sa.JSON(), nullable=True))
        batch.add_column(sa.Column("updated_at", sa.DateTime(timezone=True), nullable=True))
        batch.create_index("ix_follow_ups_due_at", ["due_at"])
        batch.create_index("ix_follow_ups_assignee", ["assignee"])
    op.execute("UPDATE follow_ups SET status = 'done' WHERE status = 'closed'")
    op.create_table(
        "audit_log",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("username", sa.String(length=80), nullable=False),
        sa.Column("role", sa.String(length=20), nullable=False),
        sa.Column("action", sa.String(length=40), nullable=False),
        sa.Column("call_sid", sa.String(length=64), nullable=True),
        sa.Column("path", sa.String(length=500), nullable=False),
        sa.Column("remote_addr", sa.String(length=64), nullable=False),
        sa.Column("detail", sa.JSON(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_audit_log_at", "audit_log", ["at"])
    op.create_index("ix_audit_log_username", "audit_log", ["username"])
    op.create_index("ix_audit_log_call_sid", "audit_log", ["call_sid"])
    if op.get_bind().dialect.name == "postgresql":
        op.execute(f"CREATE INDEX {FTS_INDEX} ON utterances "
                   "USING gin (to_tsvector('english', text))")


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute(f"DROP INDEX IF EXISTS {FTS_INDEX}")
    op.drop_table("audit_log")
    op.execute("UPDATE follow_ups SET status = 'closed' WHERE status = 'done'")
    op.execute("UPDATE follow_ups SET status = 'open' WHERE status = 'in_progress'")
    with op.batch_alter_table("follow_ups") as batch:
        batch.drop_index("ix_follow_ups_assignee")
        batch.drop_index("ix_follow_ups_due_at")
        for column in ("updated_at", "source", "due_text", "due_at", "for_whom", "kind"):
            batch.drop_column(column)
    with op.batch_alter_table("calls") as batch:
        for column in ("purged_at", "topics", "summary"):
            batch.drop_column(column)

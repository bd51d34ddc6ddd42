"""Users get a session version, desks and per-user API tokens.

Existing receptionists are given the default desk (``front-desk``) so that they
still see the console after the upgrade; ``voice users desks NAME ...`` changes it.

Revision ID: 0003_auth
Revises: 0002
Create Date: 2026-12-03
"""

import sqlalchemy as sa
from alembic import op

revision = "0003_auth"
down_revision = "0002"
branch_labels = None
depends_on = None

DEFAULT_DESK = "front-desk"


def upgrade() -> None:
    with op.batch_alter_table("users") as batch:
        batch.add_column(
            sa.Column("session_version", sa.Integer(), nullable=False, server_default="1")
        )
    op.create_table(
        "user_desks",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("user_id", sa.Integer(), sa.ForeignKey("users.id", ondelete="CASCADE"),
                  nullable=False),
        sa.Column("desk", sa.String(length=120), nullable=False),
        sa.UniqueConstraint("user_id", "desk"),
    )
    op.create_index("ix_user_desks_user_id", "user_desks", ["user_id"])
    op.create_table(
        "api_tokens",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("user_id", sa.Integer(), sa.ForeignKey("users.id", ondelete="CASCADE"),
                  nullable=False),
        sa.Column("token_hash", sa.String(length=64), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("revoked_at", sa.DateTime(timezone=True), nullable=True),
    )
    op.create_index("ix_api_tokens_user_id", "api_tokens", ["user_id"])
    op.create_index("ix_api_tokens_token_hash", "api_tokens", ["token_hash"], unique=True)
    op.execute(
        sa.text(
            "INSERT INTO user_desks (user_id, desk) "
            "SELECT id, :desk FROM users WHERE role = 'receptionist'"
        ).bindparams(desk=DEFAULT_DESK)
    )


def downgrade() -> None:
    op.drop_index("ix_api_tokens_token_hash", table_name="api_tokens")
    op.drop_index("ix_api_tokens_user_id", table_name="api_tokens")
    op.drop_table("api_tokens")
    op.drop_index("ix_user_desks_user_id", table_name="user_desks")
    op.drop_table("user_desks")
    with op.batch_alter_table("users") as batch:
        batch.drop_column("session_version")

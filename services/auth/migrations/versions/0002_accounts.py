"""Accounts, their encrypted tokens, connection attempts, operator API keys, rate budgets.

Revision ID: 0002
Revises: 0001
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

from shared.migrations import create_allegro_budget_table

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None

TS = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "accounts",
        sa.Column("id", sa.Text, primary_key=True),
        sa.Column("alias", sa.Text, nullable=False, unique=True),
        sa.Column("base_marketplace", sa.Text, nullable=False),
        sa.Column("status", sa.Text, nullable=False),
        sa.Column("status_reason", sa.Text),
        sa.Column("allegro_user_id", sa.Text),
        sa.Column("allegro_login", sa.Text),
        sa.Column("connected_at", TS),
        sa.Column("access_expires_at", TS),
        sa.Column("created_at", TS, nullable=False, server_default=sa.func.now()),
        sa.Column("updated_at", TS, nullable=False, server_default=sa.func.now()),
    )
    op.create_table(
        "account_tokens",
        sa.Column(
            "account_id",
            sa.Text,
            sa.ForeignKey("accounts.id", ondelete="CASCADE"),
            primary_key=True,
        ),
        sa.Column("access_token", sa.Text, nullable=False),  # Fernet ciphertext
        sa.Column("refresh_token", sa.Text, nullable=False),  # Fernet ciphertext
        sa.Column("access_expires_at", TS, nullable=False),
        sa.Column("scope", sa.Text, nullable=False, server_default=""),
        sa.Column("generation", sa.Integer, nullable=False, server_default="1"),
        sa.Column("refreshed_at", TS, nullable=False, server_default=sa.func.now()),
    )
    op.create_table(
        "connection_attempts",
        sa.Column("id", postgresql.UUID(as_uuid=True), primary_key=True),
        sa.Column(
            "account_id", sa.Text, sa.ForeignKey("accounts.id", ondelete="CASCADE"), nullable=False
        ),
        sa.Column("flow", sa.Text, nullable=False),
        sa.Column("status", sa.Text, nullable=False),
        sa.Column("state", sa.Text, unique=True),
        sa.Column("redirect_uri", sa.Text),
        sa.Column("code_verifier", sa.Text),  # Fernet ciphertext
        sa.Column("device_code", sa.Text),  # Fernet ciphertext
        sa.Column("user_code", sa.Text),
        sa.Column("verification_uri", sa.Text),
        sa.Column("verification_uri_complete", sa.Text),
        sa.Column("poll_interval", sa.Integer),
        sa.Column("next_poll_at", TS),
        sa.Column("expires_at", TS, nullable=False),
        sa.Column("error", sa.Text),
        sa.Column("created_at", TS, nullable=False, server_default=sa.func.now()),
        sa.Column("finished_at", TS),
    )
    op.create_index(
        "connection_attempts_pending_device",
        "connection_attempts",
        ["next_poll_at"],
        postgresql_where=sa.text("status = 'pending' AND flow = 'device'"),
    )
    op.create_table(
        "api_keys",
        sa.Column("id", sa.Text, primary_key=True),
        sa.Column("name", sa.Text, nullable=False),
        sa.Column("role", sa.Text, nullable=False),
        sa.Column("secret_hash", sa.Text, nullable=False),
        sa.Column("created_at", TS, nullable=False, server_default=sa.func.now()),
        sa.Column("revoked_at", TS),
    )
    create_allegro_budget_table()


def downgrade() -> None:
    op.drop_table("allegro_rate_budget")
    op.drop_table("api_keys")
    op.drop_table("connection_attempts")
    op.drop_table("account_tokens")
    op.drop_table("accounts")

"""Pricing contexts: the rules, fee table and rates a price was computed with, stored once.

A price row keeps only its compact trace and points at its context; the explanation chain is
expanded from both.

Revision ID: 0003
Revises: 0002
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "contexts",
        sa.Column("id", postgresql.UUID(as_uuid=True), primary_key=True),
        sa.Column("account_id", sa.Text, nullable=False),
        sa.Column("document", postgresql.JSONB, nullable=False),
        sa.Column(
            "created_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()
        ),
    )
    op.add_column("prices", sa.Column("context_id", postgresql.UUID(as_uuid=True)))


def downgrade() -> None:
    op.drop_column("prices", "context_id")
    op.drop_table("contexts")

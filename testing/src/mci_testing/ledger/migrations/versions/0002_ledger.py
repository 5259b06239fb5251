"""The ledger: one row per handler effect, so a test can count lost and doubled effects.

Revision ID: 0002
Revises: 0001
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # Deliberately no unique key: a double effect must be visible, not refused.
    op.create_table(
        "ledger",
        sa.Column("id", sa.BigInteger, sa.Identity(), primary_key=True),
        sa.Column("message_id", postgresql.UUID(as_uuid=True), nullable=False),
        sa.Column("seq", sa.Integer, nullable=False),
        sa.Column("correlation_id", sa.Text),
        sa.Column("pid", sa.Integer, nullable=False),
        sa.Column("recorded_at", sa.DateTime(timezone=True), server_default=sa.func.now()),
    )
    op.create_table("cured", sa.Column("seq", sa.Integer, primary_key=True))


def downgrade() -> None:
    op.drop_table("cured")
    op.drop_table("ledger")

"""Operator-tunable catalog settings (the reservation lag).

Revision ID: 0003
Revises: 0002
"""

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "catalog_config",
        sa.Column("key", sa.Text, primary_key=True),
        sa.Column("value", sa.dialects.postgresql.JSONB, nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), server_default=sa.func.now()),
    )
    op.execute("INSERT INTO catalog_config (key, value) VALUES ('reservation_lag_seconds', '600')")


def downgrade() -> None:
    op.drop_table("catalog_config")

"""Store prices, reasons and traces as json, not jsonb: they are written in bulk on every run
and only ever read whole (no operator or index looks inside), so jsonb's conversion on write
buys nothing.

Revision ID: 0004
Revises: 0003
"""

from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None

COLUMNS = ("prices", "unpriced", "explanation")


def upgrade() -> None:
    for column in COLUMNS:
        op.execute(f"ALTER TABLE prices ALTER COLUMN {column} TYPE json USING {column}::json")


def downgrade() -> None:
    for column in COLUMNS:
        op.execute(f"ALTER TABLE prices ALTER COLUMN {column} TYPE jsonb USING {column}::jsonb")

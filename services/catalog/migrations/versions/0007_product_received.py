"""Products keep a field as the supplier sent it where we stored something else (a rejected
EAN, a shortened title, an HTML description before sanitising), and operator titles per SKU.

Revision ID: 0007
Revises: 0006
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects.postgresql import JSONB

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column(
        "products",
        sa.Column("received", JSONB, nullable=False, server_default=sa.text("'{}'::jsonb")),
    )
    op.create_table(
        "title_overrides",
        sa.Column("sku", sa.Text, primary_key=True),
        sa.Column("title", sa.Text, nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_by", sa.Text),
    )


def downgrade() -> None:
    op.drop_table("title_overrides")
    op.drop_column("products", "received")

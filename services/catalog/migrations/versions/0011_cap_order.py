"""The product cap held: which products are past it per account, and the order that decides.

Revision ID: 0011
Revises: 0010
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects.postgresql import JSONB

revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column(
        "account_listing",
        sa.Column("cap_order", sa.Text, nullable=False, server_default="margin"),
    )
    op.add_column(
        "account_listing",
        sa.Column("priority", JSONB, nullable=False, server_default=sa.text("'[]'::jsonb")),
    )
    op.create_table(
        "account_capped",
        sa.Column("account_id", sa.Text, primary_key=True),
        sa.Column("sku", sa.Text, primary_key=True),
    )


def downgrade() -> None:
    op.drop_table("account_capped")
    op.drop_column("account_listing", "priority")
    op.drop_column("account_listing", "cap_order")

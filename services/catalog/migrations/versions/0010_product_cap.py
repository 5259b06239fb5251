"""Per-account product cap (null: the default, 45,000, Allegro's per-shop figure).

Revision ID: 0010
Revises: 0009
"""

import sqlalchemy as sa
from alembic import op

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("account_listing", sa.Column("product_cap", sa.Integer))


def downgrade() -> None:
    op.drop_column("account_listing", "product_cap")

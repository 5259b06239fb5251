"""The offer directory: which SKU each of the platform's offers sells, from OfferPublished.

A checkout form's line names its offer and, where the offer carries one, the offer's external id
(our SKU). An offer whose external id is missing or was edited away on Allegro still maps to its
SKU through this table, so the order goes to the supplier with the right product.

Revision ID: 0005
Revises: 0004
"""

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "offer_skus",
        sa.Column("offer_id", sa.Text, primary_key=True),
        sa.Column("account_id", sa.Text, nullable=False),
        sa.Column("sku", sa.Text, nullable=False),
        sa.Column(
            "updated_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()
        ),
    )


def downgrade() -> None:
    op.drop_table("offer_skus")

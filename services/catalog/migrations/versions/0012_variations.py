"""Variations: a product may be a variation of a parent (BigBuy's products with attributes),
with the attribute values that tell it from its siblings.

Revision ID: 0012
Revises: 0011
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects.postgresql import JSON

revision = "0012"
down_revision = "0011"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("products", sa.Column("parent_sku", sa.Text, nullable=True))
    # json, not jsonb: the supplier's order of the attribute groups (size, then colour) is
    # kept, and is the order the group's axes are shown in.
    op.add_column(
        "products",
        sa.Column("variation", JSON, nullable=False, server_default=sa.text("'{}'::json")),
    )
    # A group is read by its parent (the product page, the parent's own view).
    op.create_index(
        "products_parent_sku",
        "products",
        ["parent_sku", "sku"],
        postgresql_where=sa.text("parent_sku IS NOT NULL"),
    )


def downgrade() -> None:
    op.drop_index("products_parent_sku", table_name="products")
    op.drop_column("products", "variation")
    op.drop_column("products", "parent_sku")

"""Allegro's category tree as pricing has read it (GET /sale/categories/{categoryId}): the
parent chain of each mapped category decides its commission group. One tree for every account
(Allegro has one), each row with the time it was read so that it expires.

Catalogue items keep their per-marketplace category overrides (CatalogItem.allegro_category_ids).

Revision ID: 0007
Revises: 0006
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "allegro_categories",
        sa.Column("id", sa.Text, primary_key=True),
        sa.Column("parent_id", sa.Text),  # null: a root (or a category Allegro did not find)
        sa.Column("name", sa.Text),
        sa.Column("leaf", sa.Boolean, nullable=False, server_default=sa.false()),
        # false: Allegro answered 404 (deleted or never existed); asked again once expired
        sa.Column("found", sa.Boolean, nullable=False, server_default=sa.true()),
        sa.Column(
            "fetched_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()
        ),
    )
    op.add_column("catalog_items", sa.Column("allegro_category_ids", postgresql.JSONB))


def downgrade() -> None:
    op.drop_column("catalog_items", "allegro_category_ids")
    op.drop_table("allegro_categories")

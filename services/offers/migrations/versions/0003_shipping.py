"""Shipping price lists: the configuration per account, the Allegro id of every list of its family
(one per weight band and destination set), and the Allegro rate budgets the service shares.

Revision ID: 0003_shipping
Revises: 0002
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

from shared.migrations import create_allegro_budget_table

revision = "0003_shipping"
down_revision = "0003_offers"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # Another revision of this service may create the budget table too (the first Allegro
    # caller does): whichever runs first makes it.
    if not sa.inspect(op.get_bind()).has_table("allegro_rate_budget"):
        create_allegro_budget_table()
    op.create_table(
        "shipping_configurations",
        sa.Column("account_id", sa.Text, primary_key=True),
        sa.Column("document", postgresql.JSONB, nullable=False),
        sa.Column("version", sa.Integer, nullable=False),
        sa.Column("updated_by", sa.Text, nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        # What the last successful apply sent: offers get their lists from it, not from a
        # newer configuration whose lists Allegro does not have yet.
        sa.Column("applied_document", postgresql.JSONB),
        sa.Column("applied_version", sa.Integer),
        sa.Column("applied_at", sa.DateTime(timezone=True)),
        sa.Column("apply_claimed_until", sa.DateTime(timezone=True)),
    )
    op.create_table(
        "shipping_price_lists",
        sa.Column("account_id", sa.Text, nullable=False),
        sa.Column("band", sa.Integer, nullable=False),
        sa.Column("destination_set", sa.Text, nullable=False),
        sa.Column("allegro_id", sa.Text, nullable=False),
        sa.Column("name", sa.Text, nullable=False),
        sa.Column("fingerprint", sa.Text, nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("account_id", "band", "destination_set"),
        sa.UniqueConstraint("account_id", "allegro_id", name="shipping_price_lists_allegro_id"),
    )


def downgrade() -> None:
    op.drop_table("shipping_price_lists")
    op.drop_table("shipping_configurations")

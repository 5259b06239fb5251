"""Pricing state: catalogue items, rule sets, FX rates, fee tables, prices, holds.

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
    op.create_table(
        "catalog_items",
        sa.Column("account_id", sa.Text, primary_key=True),
        sa.Column("sku", sa.Text, primary_key=True),
        sa.Column("revision", sa.BigInteger, nullable=False),
        sa.Column("listed", sa.Boolean, nullable=False),
        sa.Column("cost", sa.Numeric),
        sa.Column("cost_currency", sa.Text),
        sa.Column("rrp", sa.Numeric),
        sa.Column("rrp_currency", sa.Text),
        sa.Column("brand", sa.Text),
        sa.Column("supplier_category", sa.Text),
        sa.Column("allegro_category_id", sa.Text),
        sa.Column("weight_kg", sa.Numeric),
        sa.Column(
            "updated_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()
        ),
    )
    op.create_table(
        "rule_sets",
        sa.Column("account_id", sa.Text, primary_key=True),
        sa.Column("version", sa.Integer, primary_key=True),
        sa.Column("document", postgresql.JSONB, nullable=False),
        # pending: saved, waiting for an operator (circuit breaker); active; superseded; rejected
        sa.Column("status", sa.Text, nullable=False),
        sa.Column("created_by", sa.Text, nullable=False),
        sa.Column(
            "created_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()
        ),
    )
    op.create_table(
        "fx_rates",
        sa.Column("account_id", sa.Text, primary_key=True),
        sa.Column("base", sa.Text, primary_key=True),
        sa.Column("quote", sa.Text, primary_key=True),
        sa.Column("rate", sa.Numeric, nullable=False),
        sa.Column("source", sa.Text, nullable=False),
        sa.Column("as_of", sa.Date, nullable=False),
        sa.Column(
            "updated_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()
        ),
    )
    op.create_table(
        "fee_tables",
        sa.Column("account_id", sa.Text, primary_key=True),
        sa.Column("document", postgresql.JSONB, nullable=False),
        sa.Column("updated_by", sa.Text, nullable=False),
        sa.Column(
            "updated_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()
        ),
    )
    # The last computed prices of a product on every marketplace, with their explanation chains.
    op.create_table(
        "prices",
        sa.Column("account_id", sa.Text, primary_key=True),
        sa.Column("sku", sa.Text, primary_key=True),
        sa.Column("catalog_revision", sa.BigInteger, nullable=False),
        sa.Column("prices", postgresql.JSONB, nullable=False),  # {marketplace: amount}
        sa.Column("unpriced", postgresql.JSONB, nullable=False),  # {marketplace: reason}
        sa.Column("explanation", postgresql.JSONB, nullable=False),  # {marketplace: {...}}
        sa.Column("rule_version", sa.Integer),
        sa.Column(
            "computed_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()
        ),
    )
    op.create_table(
        "holds",
        sa.Column("id", postgresql.UUID(as_uuid=True), primary_key=True),
        sa.Column("account_id", sa.Text, nullable=False),
        sa.Column("kind", sa.Text, nullable=False),  # rules | catalog | fx | fees
        sa.Column("status", sa.Text, nullable=False),  # pending | confirmed | rejected
        sa.Column("rule_version", sa.Integer),
        sa.Column("skus", postgresql.ARRAY(sa.Text)),
        sa.Column("stats", postgresql.JSONB, nullable=False),
        sa.Column("created_by", sa.Text, nullable=False),
        sa.Column(
            "created_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()
        ),
        sa.Column("decided_by", sa.Text),
        sa.Column("decided_at", sa.DateTime(timezone=True)),
    )
    op.create_index("holds_account_status", "holds", ["account_id", "status"])


def downgrade() -> None:
    for table in ("holds", "prices", "fee_tables", "fx_rates", "rule_sets", "catalog_items"):
        op.drop_table(table)

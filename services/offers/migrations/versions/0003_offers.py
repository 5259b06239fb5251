"""Publication: the accounts' readiness and pause, one offer per (account, SKU) with what is
wanted and what was sent, every transition with its cause, cached category parameters, and
the Allegro rate budgets shared by replicas.

Revision ID: 0003_offers
Revises: 0002
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects.postgresql import JSONB

from shared.migrations import create_allegro_budget_table

revision = "0003_offers"
down_revision = "0002"
branch_labels = None
depends_on = None

TZ = sa.DateTime(timezone=True)


def upgrade() -> None:
    create_allegro_budget_table()
    op.create_table(
        "publication_accounts",
        sa.Column("account_id", sa.Text, primary_key=True),
        # unknown (never checked) | ready | not_ready
        sa.Column("readiness", sa.Text, nullable=False, server_default="unknown"),
        # Per item: status, the Allegro id found, and how to fix it when missing.
        sa.Column("readiness_items", JSONB, nullable=False, server_default="[]"),
        sa.Column("return_policy_id", sa.Text),
        sa.Column("implied_warranty_id", sa.Text),
        sa.Column("shipping_rates_id", sa.Text),
        sa.Column("responsible_producer_id", sa.Text),
        # What the operator gave for GPSR: the producer's data (to create it) and the text.
        sa.Column("producer_data", JSONB),
        sa.Column("safety_information", sa.Text),
        sa.Column("checked_at", TZ),
        # When the stored result's check began: a check that began earlier (a replica's, racing
        # an operator's) never overwrites it.
        sa.Column("check_started_at", TZ),
        sa.Column("check_due_at", TZ, server_default=sa.func.now()),
        sa.Column("check_claimed_until", TZ),
        # The account's base marketplace (prices there go in sellingMode) and the marketplaces
        # its offers are priced for (CZ and SK are sold from a PL account).
        sa.Column("base_marketplace", sa.Text, nullable=False, server_default="allegro-pl"),
        sa.Column(
            "marketplaces",
            sa.dialects.postgresql.ARRAY(sa.Text),
            nullable=False,
            server_default="{allegro-pl,allegro-cz,allegro-sk}",
        ),
        sa.Column("paused", sa.Boolean, nullable=False, server_default=sa.false()),
        sa.Column("paused_by", sa.Text),
        sa.Column("updated_at", TZ, nullable=False, server_default=sa.func.now()),
    )
    op.create_table(
        "offers",
        sa.Column("account_id", sa.Text, primary_key=True),
        sa.Column("sku", sa.Text, primary_key=True),
        # waiting | checking | not_listable | creating | active | inactive | failed | ended
        sa.Column("state", sa.Text, nullable=False),
        sa.Column("waiting_for", sa.dialects.postgresql.ARRAY(sa.Text), server_default="{}"),
        sa.Column("reason", JSONB),  # {code, message, allegro_errors}
        sa.Column("offer_id", sa.Text),  # Allegro's
        sa.Column("allegro_status", sa.Text),  # publication.status as last read
        sa.Column("marketplaces", JSONB, nullable=False, server_default="{}"),
        # Wanted: the catalogue item and the prices, each with the revision it came with.
        sa.Column("listed", sa.Boolean, nullable=False, server_default=sa.false()),
        sa.Column("content", JSONB),
        sa.Column("catalog_revision", sa.BigInteger, nullable=False, server_default="0"),
        sa.Column("stock", sa.Integer, nullable=False, server_default="0"),
        sa.Column("prices", JSONB, nullable=False, server_default="{}"),
        sa.Column("unpriced", JSONB, nullable=False, server_default="{}"),
        sa.Column("price_revision", sa.BigInteger, nullable=False, server_default="0"),
        # Sent: what Allegro holds as far as we know (sync compares these with the wanted).
        sa.Column("sent_catalog_revision", sa.BigInteger),
        sa.Column("sent_price_revision", sa.BigInteger),
        sa.Column("sent_prices", JSONB),
        sa.Column("sent_stock", sa.Integer),
        sa.Column("shipping_rates_id", sa.Text),
        # Enabled marketplaces left out of the offer, with why (no price, wrong currency).
        sa.Column("not_sent", JSONB, nullable=False, server_default="{}"),
        # The worker's next write or read for this offer: check | create | poll | verify | end |
        # activate; NULL when nothing is due. One claim at a time (lease), so one write in flight.
        sa.Column("work", sa.Text),
        sa.Column("due_at", TZ),
        sa.Column("claimed_until", TZ),
        sa.Column("attempts", sa.Integer, nullable=False, server_default="0"),
        sa.Column("operation_url", sa.Text),
        sa.Column("created_at", TZ, nullable=False, server_default=sa.func.now()),
        sa.Column("updated_at", TZ, nullable=False, server_default=sa.func.now()),
    )
    op.create_index(
        "offers_due", "offers", ["due_at"], postgresql_where=sa.text("work IS NOT NULL")
    )
    op.create_index("offers_account_state", "offers", ["account_id", "state", "sku"])
    op.create_table(
        "offer_transitions",
        sa.Column("id", sa.BigInteger, sa.Identity(), primary_key=True),
        sa.Column("account_id", sa.Text, nullable=False),
        sa.Column("sku", sa.Text, nullable=False),
        sa.Column("from_state", sa.Text),
        sa.Column("to_state", sa.Text, nullable=False),
        sa.Column("cause", sa.Text, nullable=False),
        sa.Column("reason", JSONB),
        sa.Column("at", TZ, nullable=False, server_default=sa.func.now()),
    )
    op.create_index("offer_transitions_offer", "offer_transitions", ["account_id", "sku", "id"])
    op.create_index(
        "offer_transitions_recent", "offer_transitions", ["account_id", "to_state", "at"]
    )
    op.create_table(
        "category_parameters",
        sa.Column("category_id", sa.Text, primary_key=True),
        sa.Column("parameters", JSONB, nullable=False),
        sa.Column("fetched_at", TZ, nullable=False, server_default=sa.func.now()),
    )


def downgrade() -> None:
    op.drop_table("category_parameters")
    op.drop_table("offer_transitions")
    op.drop_table("offers")
    op.drop_table("publication_accounts")
    op.drop_table("allegro_rate_budget")

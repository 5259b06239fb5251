"""Tracking back and operator search: write-backs to Allegro (shipments and fulfillment
statuses), each checkout form's history, and search columns on checkout forms.

Revision ID: 0004
Revises: 0003
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None

TZ = sa.DateTime(timezone=True)


def upgrade() -> None:
    # What the operator searches by, kept beside the stored form (filled on every save).
    op.add_column("checkout_forms", sa.Column("buyer_login", sa.Text))
    op.add_column("checkout_forms", sa.Column("bought_at", TZ))
    op.add_column(
        "checkout_forms",
        sa.Column("skus", postgresql.ARRAY(sa.Text), nullable=False, server_default="{}"),
    )
    op.execute(
        "UPDATE checkout_forms SET buyer_login = form->'buyer'->>'login',"
        " bought_at = CAST(form->'lineItems'->0->>'boughtAt' AS timestamptz),"
        " skus = ARRAY(SELECT li->'offer'->'external'->>'id'"
        "  FROM jsonb_array_elements(form->'lineItems') li"
        "  WHERE li->'offer'->'external'->>'id' IS NOT NULL)"
    )
    op.create_index("checkout_forms_buyer", "checkout_forms", ["buyer_login"])
    op.create_index("checkout_forms_skus", "checkout_forms", ["skus"], postgresql_using="gin")
    op.create_index("checkout_forms_created", "checkout_forms", ["created_at", "id"])
    op.create_table(
        "write_backs",
        sa.Column("id", sa.BigInteger, sa.Identity(), primary_key=True),
        sa.Column("account_id", sa.Text, nullable=False),
        sa.Column("checkout_form_id", sa.Text, nullable=False),
        # shipment: add the waybill, then set the fulfillment status; fulfillment_status: only
        # set the status.
        sa.Column("kind", sa.Text, nullable=False),
        sa.Column("fulfillment_status", sa.Text, nullable=False),  # the status to set
        sa.Column("waybill", sa.Text),
        sa.Column("carrier", sa.Text),  # as the fulfilment system named it
        sa.Column("carrier_id", sa.Text),  # Allegro's carrier id
        sa.Column("carrier_name", sa.Text),  # only for carrier_id OTHER
        sa.Column("line_items", postgresql.JSONB, nullable=False, server_default="[]"),
        sa.Column("shipment_id", sa.Text),  # Allegro's, once the waybill is added
        sa.Column(
            "state", sa.Text, nullable=False, server_default="pending"
        ),  # pending|done|failed
        sa.Column("requested_by", sa.Text, nullable=False),
        sa.Column("attempts", sa.Integer, nullable=False, server_default="0"),
        sa.Column("last_error", sa.Text),
        sa.Column("next_attempt_at", TZ, nullable=False, server_default=sa.func.now()),
        sa.Column("created_at", TZ, nullable=False, server_default=sa.func.now()),
        sa.Column("updated_at", TZ, nullable=False, server_default=sa.func.now()),
        sa.Column("done_at", TZ),
    )
    # Idempotent on the waybill: one shipment per checkout form and waybill, however often the
    # fulfilment system sends it.
    op.create_index(
        "write_backs_waybill",
        "write_backs",
        ["checkout_form_id", "waybill"],
        unique=True,
        postgresql_where=sa.text("kind = 'shipment'"),
    )
    op.create_index(
        "write_backs_due",
        "write_backs",
        ["next_attempt_at"],
        postgresql_where=sa.text("state = 'pending'"),
    )
    op.create_index("write_backs_form", "write_backs", ["checkout_form_id", "id"])
    op.create_index("write_backs_state", "write_backs", ["state", "id"])
    op.create_table(
        "order_history",
        sa.Column("id", sa.BigInteger, sa.Identity(), primary_key=True),
        sa.Column("checkout_form_id", sa.Text, nullable=False),
        sa.Column("at", TZ, nullable=False, server_default=sa.func.now()),
        # imported, received, cancelled, shipment_requested, status_requested, shipment_added,
        # fulfillment_set, write_back_failed, write_back_retried, reimported
        sa.Column("kind", sa.Text, nullable=False),
        sa.Column("detail", postgresql.JSONB, nullable=False, server_default="{}"),
    )
    op.create_index("order_history_form", "order_history", ["checkout_form_id", "id"])


def downgrade() -> None:
    op.drop_table("order_history")
    op.drop_table("write_backs")
    op.drop_index("checkout_forms_created", "checkout_forms")
    op.drop_index("checkout_forms_skus", "checkout_forms")
    op.drop_index("checkout_forms_buyer", "checkout_forms")
    op.drop_column("checkout_forms", "skus")
    op.drop_column("checkout_forms", "bought_at")
    op.drop_column("checkout_forms", "buyer_login")

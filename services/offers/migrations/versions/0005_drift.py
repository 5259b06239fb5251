"""Reconciliation and drift: the offer-event cursor per account, every difference found between
Allegro's offers and ours (from offer events or a full reconcile), and the reconciles run.

Revision ID: 0005_drift
Revises: 0003_shipping
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects.postgresql import JSONB

revision = "0005_drift"
# 0004_commands (batch price and stock commands) is written in parallel; re-chained at merge.
down_revision = "0004_commands"
branch_labels = None
depends_on = None

TZ = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "offer_event_cursors",
        sa.Column("account_id", sa.Text, primary_key=True),
        # Allegro's id of the last event read (`from` of the next read); NULL: from the oldest
        # Allegro keeps (24 hours).
        sa.Column("last_event_id", sa.Text),
        sa.Column("last_event_at", TZ),
        sa.Column("events_read", sa.BigInteger, nullable=False, server_default="0"),
        sa.Column("read_at", TZ),
        # Seconds between the last event read and its read, 0 once caught up.
        sa.Column("lag_seconds", sa.Float, nullable=False, server_default="0"),
        # Allegro refused the cursor (older than its 24 hours): events were lost, run a reconcile.
        sa.Column("lost_at", TZ),
        sa.Column("due_at", TZ, nullable=False, server_default=sa.func.now()),
        sa.Column("claimed_until", TZ),
    )
    op.create_table(
        "offer_reconciliations",
        sa.Column("id", sa.BigInteger, sa.Identity(), primary_key=True),
        sa.Column("account_id", sa.Text, nullable=False),
        sa.Column("requested_by", sa.Text, nullable=False),
        sa.Column("started_at", TZ, nullable=False, server_default=sa.func.now()),
        # Held until then; a crashed reconcile's hold runs out and another may start.
        sa.Column("held_until", TZ, nullable=False),
        sa.Column("finished_at", TZ),
        # allegro_offers, our_offers, by kind, by repair
        sa.Column("counts", JSONB),
    )
    op.create_index("offer_reconciliations_account", "offer_reconciliations", ["account_id", "id"])
    op.create_table(
        "offer_drift",
        sa.Column("id", sa.BigInteger, sa.Identity(), primary_key=True),
        sa.Column("account_id", sa.Text, nullable=False),
        sa.Column("sku", sa.Text),  # NULL: an Allegro offer without external id
        sa.Column("offer_id", sa.Text),  # Allegro's
        # price | stock | ended | status | missing_on_allegro | unknown_to_us
        sa.Column("kind", sa.Text, nullable=False),
        sa.Column("field", sa.Text, nullable=False),
        sa.Column("ours", JSONB),
        sa.Column("allegro", JSONB),
        # resend | reactivate | end | verify | recreate | adopt; NULL: reported only
        sa.Column("repair", sa.Text),
        sa.Column("source", sa.Text, nullable=False),  # events | reconcile
        sa.Column("event_id", sa.Text),
        sa.Column("event_type", sa.Text),
        sa.Column("reconciliation_id", sa.BigInteger),
        sa.Column("seen_at", TZ, nullable=False, server_default=sa.func.now()),
    )
    op.create_index("offer_drift_account", "offer_drift", ["account_id", "id"])
    # One difference per event and kind: an event read twice records nothing twice.
    op.create_index(
        "offer_drift_event",
        "offer_drift",
        ["account_id", "event_id", "kind"],
        unique=True,
        postgresql_where=sa.text("event_id IS NOT NULL"),
    )


def downgrade() -> None:
    op.drop_table("offer_drift")
    op.drop_table("offer_reconciliations")
    op.drop_table("offer_event_cursors")

"""Drift rechecks: offer events the reader could not compare yet (we changed the offer after
Allegro's state was read), kept per offer until the offer is compared again.

Revision ID: 0010_drift_rechecks
Revises: 0009_images
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects.postgresql import JSONB

revision = "0010_drift_rechecks"
down_revision = "0009_images"
branch_labels = None
depends_on = None

TZ = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "offer_drift_rechecks",
        # One per offer: the events kept for it are merged into it.
        sa.Column("account_id", sa.Text, primary_key=True),
        sa.Column("sku", sa.Text, primary_key=True),
        # The events skipped (as Allegro sent them, oldest first): the evidence of a drift found.
        sa.Column("events", JSONB, nullable=False),
        sa.Column("kept_at", TZ, nullable=False, server_default=sa.func.now()),
    )


def downgrade() -> None:
    op.drop_table("offer_drift_rechecks")

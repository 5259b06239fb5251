"""Offer images: each supplier image URL uploaded to Allegro (`POST /sale/images`) once per
account, its Allegro location kept for reuse by every offer showing it; and the supplier images
an offer was last given (`sent_images`), so a changed gallery is sent as an edit.

Revision ID: 0009_images
Revises: 0008_readiness_check_numbers
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects.postgresql import JSONB

revision = "0009_images"
down_revision = "0008_readiness_check_numbers"
branch_labels = None
depends_on = None

TZ = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "offer_images",
        sa.Column("account_id", sa.Text, primary_key=True),
        sa.Column("source_url", sa.Text, primary_key=True),
        sa.Column("location", sa.Text, nullable=False),
        sa.Column("uploaded_at", TZ, nullable=False, server_default=sa.func.now()),
        # Allegro removes an upload no offer uses at this time; NULL once an offer was created
        # or edited with it (Allegro keeps it from then on).
        sa.Column("expires_at", TZ),
    )
    # NULL: no gallery sent by us yet (offers created before this column).
    op.add_column("offers", sa.Column("sent_images", JSONB))


def downgrade() -> None:
    op.drop_column("offers", "sent_images")
    op.drop_table("offer_images")

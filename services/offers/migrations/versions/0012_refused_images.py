"""Supplier image URLs whose upload Allegro refused (a 422 on `POST /sale/images`: not found
at the URL, a format or size it does not take), per account: the next offers showing the URL
leave it out without uploading it again, until `image_refusal_retry_seconds` after the refusal
(a supplier may fix the image). Transient failures (429, 5xx, timeouts) are not kept here.

Revision ID: 0012_refused_images
Revises: 0011_claim_and_image_indexes
"""

import sqlalchemy as sa
from alembic import op

revision = "0012_refused_images"
down_revision = "0011_claim_and_image_indexes"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "refused_images",
        sa.Column("account_id", sa.Text, primary_key=True),
        sa.Column("source_url", sa.Text, primary_key=True),
        # Allegro's answer, as the offer's history says it.
        sa.Column("reason", sa.Text, nullable=False),
        sa.Column("refused_at", sa.DateTime(timezone=True), nullable=False),
    )


def downgrade() -> None:
    op.drop_table("refused_images")

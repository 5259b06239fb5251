"""Two indexes on the publication's hot path.

- Due operation polls in the order they are due: the worker's claim takes them first, then the
  other due steps in the order of `offers_due`; each part reads about as many index entries as
  it claims, instead of sorting every due offer at each claim.
- Uploads not yet used by an offer, by location: an offer created or edited with images marks
  its uploads as kept (`expires_at` NULL) by their locations, which scanned every upload of the
  account at each create (some 100,000 rows at 45,000 products; the index holds only the few
  uploads waiting for their offer).

Revision ID: 0011_claim_and_image_indexes
Revises: 0010_drift_rechecks
"""

import sqlalchemy as sa
from alembic import op

revision = "0011_claim_and_image_indexes"
down_revision = "0010_drift_rechecks"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index(
        "offers_polls_due", "offers", ["due_at"], postgresql_where=sa.text("work = 'poll'")
    )
    op.create_index(
        "offer_images_unused",
        "offer_images",
        ["account_id", "location"],
        postgresql_where=sa.text("expires_at IS NOT NULL"),
    )


def downgrade() -> None:
    op.drop_index("offer_images_unused", table_name="offer_images")
    op.drop_index("offers_polls_due", table_name="offers")

"""The handling time an offer was last given on Allegro (`delivery.handlingTime`), so a change
of the supplier's handling days (or the account's own) is sent once, as an edit of the offer.

Revision ID: 0006_handling_time
Revises: 0005_drift
"""

import sqlalchemy as sa
from alembic import op

revision = "0006_handling_time"
down_revision = "0005_drift"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # NULL: not sent by us yet (offers created before this column, or with Allegro's default).
    op.add_column("offers", sa.Column("sent_handling_time", sa.Text))


def downgrade() -> None:
    op.drop_column("offers", "sent_handling_time")

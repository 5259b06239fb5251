"""Readiness checks are ordered by a number drawn when each is granted (a worker's claim, an
operator's check), under the account's row lock, instead of their transaction's start time: a
check whose transaction began first could be granted second, read Allegro before the other one
created what was missing, and still count as the earlier one.

`check_number` is the number of the check whose result is stored; a result of a check with a
smaller number is not stored over it. It replaces `check_started_at`.

Revision ID: 0008_readiness_check_numbers
Revises: 0007_waiting_for_something
"""

import sqlalchemy as sa
from alembic import op

revision = "0008_readiness_check_numbers"
down_revision = "0007_waiting_for_something"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute("CREATE SEQUENCE readiness_check_numbers")
    # NULL: no check stored since the numbers (any result is newer).
    op.add_column("publication_accounts", sa.Column("check_number", sa.BigInteger))
    op.drop_column("publication_accounts", "check_started_at")


def downgrade() -> None:
    op.add_column("publication_accounts", sa.Column("check_started_at", sa.DateTime(timezone=True)))
    op.drop_column("publication_accounts", "check_number")
    op.execute("DROP SEQUENCE readiness_check_numbers")

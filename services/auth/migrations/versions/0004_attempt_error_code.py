"""A connection attempt's error code in its own column (the callback no longer parses it out
of the message).

Revision ID: 0004
Revises: 0003
"""

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("connection_attempts", sa.Column("error_code", sa.Text))
    # Attempts finished before this stored "<code>: <detail>" (or the code alone) in `error`.
    op.execute(
        "UPDATE connection_attempts SET error_code = btrim(split_part(error, ':', 1))"
        " WHERE error IS NOT NULL"
    )


def downgrade() -> None:
    op.drop_column("connection_attempts", "error_code")

"""The Allegro rate budgets pricing's replicas share (shared.allegro.limiter.PostgresBudgets).

Revision ID: 0006
Revises: 0005
"""

from alembic import op

from shared.migrations import create_allegro_budget_table

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    create_allegro_budget_table()


def downgrade() -> None:
    op.drop_table("allegro_rate_budget")

"""Order import: accounts to poll (with the order-events cursor), checkout forms, line items,
and the Allegro rate budgets shared by replicas.

Revision ID: 0003
Revises: 0002
"""

import sqlalchemy as sa
from alembic import op

from shared.migrations import create_allegro_budget_table

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None

TZ = sa.DateTime(timezone=True)


def upgrade() -> None:
    create_allegro_budget_table()
    op.create_table(
        "accounts",
        sa.Column("account_id", sa.Text, primary_key=True),
        # connected | tokens_failed | refresh_failed | disconnected
        sa.Column("status", sa.Text, nullable=False),
        sa.Column("status_reason", sa.Text, nullable=False, server_default=""),
        # The last order event stored (exclusive `from` of the next read); NULL: from the oldest.
        sa.Column("event_cursor", sa.Text),
        sa.Column("next_poll_at", TZ, nullable=False, server_default=sa.func.now()),
        sa.Column("last_polled_at", TZ),
        sa.Column("failures", sa.Integer, nullable=False, server_default="0"),
        sa.Column("last_error", sa.Text),
        sa.Column("updated_at", TZ, nullable=False, server_default=sa.func.now()),
    )
    op.create_index("accounts_due", "accounts", ["next_poll_at"])
    op.create_table(
        "checkout_forms",
        sa.Column("id", sa.Text, primary_key=True),
        sa.Column("account_id", sa.Text, nullable=False),
        sa.Column("status", sa.Text, nullable=False),
        sa.Column("revision", sa.Text, nullable=False),
        sa.Column("fulfillment_status", sa.Text),
        sa.Column("marketplace_id", sa.Text),
        sa.Column("form", sa.dialects.postgresql.JSONB, nullable=False),
        sa.Column("received_at", TZ),  # when OrderReceived was emitted (once)
        sa.Column("cancelled_at", TZ),  # when OrderCancelled was emitted (once)
        # Replaced by a combined payment (its line items now in that form), or a duplicate of
        # line items already handed off in another form: never fulfilled.
        sa.Column("superseded_by", sa.Text),
        sa.Column("duplicate_of", sa.Text),
        sa.Column("last_event_id", sa.Text),
        sa.Column("created_at", TZ, nullable=False, server_default=sa.func.now()),
        sa.Column("updated_at", TZ, nullable=False, server_default=sa.func.now()),
    )
    op.create_index("checkout_forms_account", "checkout_forms", ["account_id", "created_at", "id"])
    op.create_table(
        "line_items",
        sa.Column("id", sa.Text, primary_key=True),
        sa.Column("account_id", sa.Text, nullable=False),
        sa.Column("checkout_form_id", sa.Text, nullable=False),
    )
    op.create_index("line_items_form", "line_items", ["checkout_form_id"])


def downgrade() -> None:
    op.drop_table("line_items")
    op.drop_table("checkout_forms")
    op.drop_table("accounts")
    op.drop_table("allegro_rate_budget")

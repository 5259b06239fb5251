"""Price and stock sync by Allegro's batch commands: the commands (each named by a UUID chosen
here and stored before it is sent), the offers in each with the value sent and the task's
result, and per offer the command in flight and the last failure.

Revision ID: 0004_commands
Revises: 0003_shipping
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects.postgresql import JSONB, UUID

revision = "0004_commands"
down_revision = "0003_shipping"
branch_labels = None
depends_on = None

TZ = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "offer_commands",
        sa.Column("command_id", UUID(as_uuid=False), primary_key=True),
        sa.Column("account_id", sa.Text, nullable=False),
        # price, quantity or publication: one Allegro command endpoint each.
        sa.Column("kind", sa.Text, nullable=False),
        # The price's marketplace (price commands only).
        sa.Column("marketplace", sa.Text),
        # The one value every offer of the command gets: a price, a quantity, END or ACTIVATE.
        sa.Column("value", JSONB, nullable=False),
        # new (stored, maybe not sent), sent (Allegro has it), done (tasks read and recorded).
        sa.Column("status", sa.Text, nullable=False, server_default="new"),
        sa.Column("offer_count", sa.Integer, nullable=False),
        sa.Column("task_count", JSONB),
        sa.Column("due_at", TZ, nullable=False, server_default=sa.func.now()),
        sa.Column("claimed_until", TZ),
        sa.Column("attempts", sa.Integer, nullable=False, server_default="0"),
        sa.Column("created_at", TZ, nullable=False, server_default=sa.func.now()),
        sa.Column("sent_at", TZ),
        sa.Column("completed_at", TZ),
    )
    op.create_index(
        "offer_commands_open",
        "offer_commands",
        ["due_at"],
        postgresql_where=sa.text("status <> 'done'"),
    )
    op.create_table(
        "offer_command_offers",
        sa.Column(
            "command_id",
            UUID(as_uuid=False),
            sa.ForeignKey("offer_commands.command_id"),
            primary_key=True,
        ),
        sa.Column("sku", sa.Text, primary_key=True),
        sa.Column("account_id", sa.Text, nullable=False),
        sa.Column("offer_id", sa.Text, nullable=False),
        # The price revision a price command carries (sent_price_revision on success).
        sa.Column("price_revision", sa.BigInteger),
        # success or failed, once the command's tasks are read.
        sa.Column("result", sa.Text),
        sa.Column("error", JSONB),
    )
    op.create_index("offer_command_offers_by_sku", "offer_command_offers", ["account_id", "sku"])
    # The command an offer is in (at most one: commands never overlap on an offer), when its
    # next sync may go (after a failure's backoff; 'infinity' when a failure is surfaced and
    # waits for a new wanted value or a retry), failed attempts in a row and the last failure.
    op.add_column("offers", sa.Column("sync_command_id", UUID(as_uuid=False)))
    op.add_column("offers", sa.Column("sync_due_at", TZ))
    op.add_column(
        "offers", sa.Column("sync_attempts", sa.Integer, nullable=False, server_default="0")
    )
    op.add_column("offers", sa.Column("sync_error", JSONB))


def downgrade() -> None:
    for column in ("sync_error", "sync_attempts", "sync_due_at", "sync_command_id"):
        op.drop_column("offers", column)
    op.drop_table("offer_command_offers")
    op.drop_table("offer_commands")

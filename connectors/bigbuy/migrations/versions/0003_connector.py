"""The connector's state: rate budgets, catalogue refresh runs with their fetched pages, the
products as last sent upstream, compliance data, and the supplier orders.

Revision ID: 0003
Revises: 0002
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects.postgresql import JSONB

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None

TZ = sa.DateTime(timezone=True)
# Times the scheduler compares with BigBuy's `X-RateLimit-Reset` are Unix seconds (the
# connector's clock), not database timestamps.
UNIX = sa.Float


def upgrade() -> None:
    op.create_table(
        "rate_budgets",
        sa.Column("endpoint", sa.Text, primary_key=True),
        sa.Column("call_limit", sa.Integer, nullable=False),
        sa.Column("remaining", sa.Integer, nullable=False),
        sa.Column("reset_at", UNIX, nullable=False),  # margin included
        sa.Column("calls", sa.BigInteger, nullable=False, server_default="0"),
        sa.Column("rejected", sa.BigInteger, nullable=False, server_default="0"),  # 429s seen
    )
    op.create_table(
        "refresh_runs",
        sa.Column("id", sa.BigInteger, sa.Identity(), primary_key=True),
        sa.Column("kind", sa.Text, nullable=False),  # full | stock
        # fetching -> joining -> done
        sa.Column("status", sa.Text, nullable=False, server_default="fetching"),
        sa.Column("started_at", UNIX, nullable=False),
        sa.Column("finished_at", UNIX),
        sa.Column("emitted", sa.Integer, nullable=False, server_default="0"),
        sa.Column("last_error", sa.Text),
    )
    op.create_index(
        "refresh_runs_open", "refresh_runs", ["kind"], postgresql_where=sa.text("status <> 'done'")
    )
    op.create_table(
        "run_lists",
        sa.Column("run_id", sa.BigInteger, nullable=False),
        sa.Column("list_name", sa.Text, nullable=False),
        sa.Column("next_page", sa.Integer, nullable=False, server_default="0"),
        sa.Column("done", sa.Boolean, nullable=False, server_default=sa.false()),
        sa.Column("rows", sa.Integer, nullable=False, server_default="0"),
        sa.Column("retry_at", UNIX, nullable=False, server_default="0"),
        sa.Column("errors", sa.Integer, nullable=False, server_default="0"),
        sa.Column("last_error", sa.Text),
        sa.PrimaryKeyConstraint("run_id", "list_name"),
    )
    op.create_table(
        "run_pages",
        sa.Column("run_id", sa.BigInteger, nullable=False),
        sa.Column("list_name", sa.Text, nullable=False),
        sa.Column("page", sa.Integer, nullable=False),
        sa.Column("rows", JSONB, nullable=False),
        sa.PrimaryKeyConstraint("run_id", "list_name", "page"),
    )
    # Which replica runs the scheduler (one at a time) and until when.
    op.create_table(
        "leases",
        sa.Column("name", sa.Text, primary_key=True),
        sa.Column("holder", sa.Text, nullable=False),
        sa.Column("until", UNIX, nullable=False),
    )
    op.create_table(
        "products",
        sa.Column("sku", sa.Text, primary_key=True),
        sa.Column("product_id", sa.BigInteger, nullable=False),
        sa.Column("variation_id", sa.BigInteger),
        sa.Column("active", sa.Boolean, nullable=False, server_default=sa.true()),
        sa.Column("record", JSONB, nullable=False),  # as last sent upstream (full)
        sa.Column("updated_at", TZ, nullable=False, server_default=sa.func.now()),
    )
    op.create_index("products_product", "products", ["product_id"])
    op.create_table(
        "compliance",
        sa.Column("product_id", sa.BigInteger, primary_key=True),
        sa.Column("data", JSONB),  # null: BigBuy has none (404)
        sa.Column("fetched_at", TZ, nullable=False, server_default=sa.func.now()),
    )
    op.create_table(
        "supplier_orders",
        sa.Column("order_id", sa.Text, primary_key=True),  # Allegro's; BigBuy's internalReference
        sa.Column("account_id", sa.Text, nullable=False),
        # new | checking | sending | sent | shipped | loss | out_of_stock | waiting_wallet |
        # bad_address | carrier_unavailable | unknown_product | failed | cancelled |
        # cancel_manual
        sa.Column("state", sa.Text, nullable=False),
        sa.Column("order", JSONB, nullable=False),  # the OrderReceived data
        sa.Column("address_override", JSONB),  # the operator's corrected shipping address
        sa.Column("accept_loss", sa.Boolean, nullable=False, server_default=sa.false()),
        sa.Column("bigbuy_order_id", sa.Text),
        sa.Column("bigbuy_status", sa.Text),
        sa.Column("cost_total", sa.Numeric(14, 2)),  # EUR, order/check's total
        sa.Column("sale_total", sa.Numeric(14, 2)),  # EUR, what the sale brings
        sa.Column("error_code", sa.Text),
        sa.Column("error", JSONB),
        sa.Column("attempts", sa.Integer, nullable=False, server_default="0"),
        sa.Column("due_at", UNIX, nullable=False, server_default="0"),
        sa.Column("lease_until", UNIX, nullable=False, server_default="0"),
        sa.Column("carrier", sa.Text),
        sa.Column("tracking_number", sa.Text),
        sa.Column("cancel_requested", sa.Boolean, nullable=False, server_default=sa.false()),
        sa.Column("created_at", TZ, nullable=False, server_default=sa.func.now()),
        sa.Column("updated_at", TZ, nullable=False, server_default=sa.func.now()),
    )
    op.create_index("supplier_orders_state", "supplier_orders", ["state", "created_at", "order_id"])
    op.create_index("supplier_orders_due", "supplier_orders", ["due_at"])


def downgrade() -> None:
    for table in (
        "supplier_orders",
        "compliance",
        "products",
        "leases",
        "run_pages",
        "run_lists",
        "refresh_runs",
        "rate_budgets",
    ):
        op.drop_table(table)

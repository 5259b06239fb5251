"""The catalog's tables: products, selections, per-account emission state, screening rules,
category mappings, import reports, Allegro lookups, coverage reports, stock reservations.

Revision ID: 0002
Revises: 0001
"""

import sqlalchemy as sa
from alembic import op

from shared.migrations import create_allegro_budget_table

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None

TS = sa.DateTime(timezone=True)

# The default screening rules as of this migration (frozen: later edits of the domain's
# DEFAULT_RULES do not rewrite history; a new migration seeds new defaults).
DEFAULT_RULES = [
    ("keyword", "broń palna", "Firearms are prohibited on Allegro"),
    ("keyword", "firearm*", "Firearms are prohibited on Allegro"),
    ("keyword", "amunicj*", "Ammunition is prohibited on Allegro"),
    ("keyword", "ammunition", "Ammunition is prohibited on Allegro"),
    ("keyword", "gaz pieprzowy", "Pepper spray is restricted on Allegro"),
    ("keyword", "pepper spray", "Pepper spray is restricted on Allegro"),
    ("keyword", "paralizator*", "Stun guns are restricted on Allegro"),
    ("keyword", "taser*", "Stun guns are restricted on Allegro"),
    ("keyword", "e-papieros*", "Tobacco and e-cigarettes are prohibited on Allegro"),
    ("keyword", "e-cigarette*", "Tobacco and e-cigarettes are prohibited on Allegro"),
    ("keyword", "papieros*", "Tobacco and e-cigarettes are prohibited on Allegro"),
    ("keyword", "tobacco", "Tobacco and e-cigarettes are prohibited on Allegro"),
    ("keyword", "liquid nikotyn*", "Nicotine liquids are prohibited on Allegro"),
    ("keyword", "alkohol*", "Alcoholic drinks are prohibited on Allegro"),
    ("keyword", "wódka", "Alcoholic drinks are prohibited on Allegro"),
    ("keyword", "vodka", "Alcoholic drinks are prohibited on Allegro"),
    ("keyword", "whisky", "Alcoholic drinks are prohibited on Allegro"),
    ("keyword", "fajerwerk*", "Pyrotechnics are prohibited on Allegro"),
    ("keyword", "firework*", "Pyrotechnics are prohibited on Allegro"),
    ("keyword", "petard*", "Pyrotechnics are prohibited on Allegro"),
    ("keyword", "na receptę", "Prescription medicines are prohibited on Allegro"),
    ("keyword", "prescription", "Prescription medicines are prohibited on Allegro"),
    ("keyword", "dopalacz*", "Psychoactive substances are prohibited on Allegro"),
    ("keyword", "cbd", "CBD products are restricted on Allegro"),
    ("keyword", "replika", "Counterfeits and replicas are prohibited on Allegro"),
    ("keyword", "replica", "Counterfeits and replicas are prohibited on Allegro"),
    ("keyword", "podróbka", "Counterfeits and replicas are prohibited on Allegro"),
    ("category", "Weapons", "Weapons are prohibited on Allegro"),
    ("category", "Adult", "Adult products need a separate Allegro agreement"),
    ("category", "Tobacco", "Tobacco and e-cigarettes are prohibited on Allegro"),
    ("category", "Pharmacy", "Medicines are prohibited on Allegro"),
]


def upgrade() -> None:
    op.create_table(
        "products",
        sa.Column("sku", sa.Text, primary_key=True),
        sa.Column("ean", sa.Text),
        sa.Column("title", sa.Text),
        sa.Column("description", sa.Text),
        sa.Column("images", sa.dialects.postgresql.JSONB, nullable=False),
        sa.Column("category_path", sa.Text),
        sa.Column("brand", sa.Text),
        sa.Column("weight_kg", sa.Numeric),
        sa.Column("attributes", sa.dialects.postgresql.JSONB, nullable=False),
        sa.Column("cost_amount", sa.Numeric),
        sa.Column("cost_currency", sa.Text),
        sa.Column("rrp_amount", sa.Numeric),
        sa.Column("rrp_currency", sa.Text),
        sa.Column("stock", sa.Integer),
        sa.Column("content_at", TS),
        sa.Column("price_at", TS),
        sa.Column("stock_at", TS),
        sa.Column("source", sa.Text, nullable=False),
        sa.Column("content_hash", sa.Text, nullable=False),
        sa.Column("received_at", TS, nullable=False, server_default=sa.func.now()),
    )
    op.create_index("products_category", "products", ["category_path"])
    op.create_index("products_ean", "products", ["ean"])
    op.execute("CREATE SEQUENCE catalog_revision_seq")

    op.create_table(
        "selections",
        sa.Column("account_id", sa.Text, primary_key=True),
        sa.Column("rules", sa.dialects.postgresql.JSONB, nullable=False),
        sa.Column("updated_at", TS, nullable=False),
        sa.Column("updated_by", sa.Text),
    )
    op.create_table(
        "account_items",
        sa.Column("account_id", sa.Text, primary_key=True),
        sa.Column("sku", sa.Text, primary_key=True),
        sa.Column("listed", sa.Boolean, nullable=False),
        sa.Column("item_hash", sa.Text),
        sa.Column("revision", sa.BigInteger, nullable=False),
        sa.Column("emitted_at", TS, nullable=False),
    )
    op.create_table(
        "screening_rules",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("kind", sa.Text, nullable=False),
        sa.Column("pattern", sa.Text, nullable=False),
        sa.Column("reason", sa.Text, nullable=False),
        sa.Column("created_at", TS, nullable=False, server_default=sa.func.now()),
        sa.CheckConstraint("kind IN ('category', 'brand', 'keyword')", name="rule_kind"),
        sa.UniqueConstraint("kind", "pattern", name="rule_unique"),
    )
    rules = sa.table(
        "screening_rules",
        sa.column("kind", sa.Text),
        sa.column("pattern", sa.Text),
        sa.column("reason", sa.Text),
    )
    op.bulk_insert(rules, [{"kind": k, "pattern": p, "reason": r} for k, p, r in DEFAULT_RULES])

    op.create_table(
        "category_mappings",
        sa.Column("supplier_category", sa.Text, primary_key=True),
        # '' = every marketplace; a marketplace id overrides it there.
        sa.Column("marketplace", sa.Text, primary_key=True, server_default=""),
        sa.Column("allegro_category_id", sa.Text, nullable=False),
        sa.Column("source", sa.Text, nullable=False),
        sa.Column("updated_at", TS, nullable=False, server_default=sa.func.now()),
    )
    op.create_table(
        "category_suggestions",
        sa.Column("supplier_category", sa.Text, primary_key=True),
        sa.Column("suggestions", sa.dialects.postgresql.JSONB, nullable=False),
        sa.Column("computed_at", TS, nullable=False),
    )
    op.create_table(
        "ean_lookups",
        sa.Column("ean", sa.Text, primary_key=True),
        sa.Column("matches", sa.Integer, nullable=False),
        sa.Column("product_ids", sa.dialects.postgresql.JSONB, nullable=False),
        sa.Column("category_id", sa.Text),
        sa.Column("checked_at", TS, nullable=False),
    )
    op.create_table(
        "imports",
        sa.Column("id", sa.Uuid, primary_key=True),
        sa.Column("format", sa.Text, nullable=False),
        sa.Column("status", sa.Text, nullable=False),
        sa.Column("started_at", TS, nullable=False),
        sa.Column("finished_at", TS),
        sa.Column("rows", sa.Integer, nullable=False, server_default="0"),
        sa.Column("valid", sa.Integer, nullable=False, server_default="0"),
        sa.Column("changed", sa.Integer, nullable=False, server_default="0"),
        sa.Column("invalid", sa.Integer, nullable=False, server_default="0"),
        sa.Column("emitted_items", sa.Integer, nullable=False, server_default="0"),
        sa.Column("created_by", sa.Text),
        sa.Column("error", sa.Text),
    )
    op.create_table(
        "import_errors",
        sa.Column("import_id", sa.Uuid, primary_key=True),
        sa.Column("seq", sa.Integer, primary_key=True),
        sa.Column("line", sa.Integer, nullable=False),
        sa.Column("sku", sa.Text),
        sa.Column("field", sa.Text, nullable=False),
        sa.Column("reason", sa.Text, nullable=False),
    )
    op.create_table(
        "coverage_reports",
        sa.Column("id", sa.Uuid, primary_key=True),
        sa.Column("account_id", sa.Text, nullable=False),
        sa.Column("status", sa.Text, nullable=False),
        sa.Column("selection", sa.dialects.postgresql.JSONB, nullable=False),
        sa.Column("total", sa.Integer, nullable=False),
        sa.Column("processed", sa.Integer, nullable=False),
        sa.Column("last_sku", sa.Text),
        sa.Column("counts", sa.dialects.postgresql.JSONB, nullable=False),
        sa.Column("by_category", sa.dialects.postgresql.JSONB, nullable=False),
        sa.Column("started_at", TS, nullable=False),
        sa.Column("updated_at", TS, nullable=False),
        sa.Column("finished_at", TS),
        sa.Column("error", sa.Text),
    )
    op.create_index("coverage_by_account", "coverage_reports", ["account_id", "started_at"])
    op.create_table(
        "reservations",
        sa.Column("order_id", sa.Text, primary_key=True),
        sa.Column("sku", sa.Text, primary_key=True),
        sa.Column("account_id", sa.Text, nullable=False),
        sa.Column("quantity", sa.Integer, nullable=False),
        sa.Column("reserved_at", TS, nullable=False),
        sa.Column("cancelled_at", TS),
    )
    op.create_index("reservations_sku", "reservations", ["sku"])
    create_allegro_budget_table()


def downgrade() -> None:
    for table in (
        "allegro_rate_budget",
        "reservations",
        "coverage_reports",
        "import_errors",
        "imports",
        "ean_lookups",
        "category_suggestions",
        "category_mappings",
        "screening_rules",
        "account_items",
        "selections",
        "products",
    ):
        op.drop_table(table)
    op.execute("DROP SEQUENCE catalog_revision_seq")

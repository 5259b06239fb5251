"""Account fee tables: drop the rows that are copies of the old supplier-path defaults.

The default commission table used to be keyed by supplier category paths ("Home & Garden",
"Electronics > Computers > Laptops", ...); it is now keyed by Allegro category ids. An account
table saved by reading the defaults and writing them back (to add one row) holds copies of the
old rows, and supplier-category rows win over Allegro groups: those copies would keep pricing by
the supplier's names. A row whose key and figures are exactly an old default is such a copy and
is dropped; any row an operator wrote or changed stays.

Revision ID: 0008
Revises: 0007
"""

import json
from decimal import Decimal
from typing import Any

import sqlalchemy as sa
from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None

FIGURES = ("rate", "threshold", "fixed_above", "rate_above", "cap", "minimum")
# key -> (rate, threshold, fixed_above, rate_above, cap, minimum) of the old seeded rows.
OLD_DEFAULTS: dict[str, tuple[str | None, ...]] = {
    "Home & Garden": ("0.10", None, "0", "0", None, "0.50"),
    "Sports & Outdoors": ("0.11", None, "0", "0", None, "0.50"),
    "Electronics": ("0.09", None, "0", "0", None, "0.50"),
    "Electronics > Mobile Phones": ("0.06", None, "0", "0", None, "1.00"),
    "Electronics > Mobile Phones > Smartphones": ("0.045", None, "0", "0", None, "1"),
    "Electronics > Computers": ("0.095", None, "0", "0", None, "1.00"),
    "Electronics > Computers > Laptops": ("0.03", "2000", "60", "0.015", None, "1.00"),
    "Electronics > Computers > Monitors": ("0.04", None, "0", "0", None, "1.00"),
    "Electronics > TV & Audio > Televisions": ("0.03", None, "0", "0", None, "1.00"),
    "Accessories": ("0.12", "50", "6", "0.08", None, "0.50"),
    "Fashion": ("0.13", "80", "10.40", "0.08", None, "0.50"),
    "Automotive": ("0.08", None, "0", "0", "100", "1.00"),
}


def _figures(values: tuple[Any, ...]) -> tuple[Decimal | None, ...]:
    return tuple(None if v is None else Decimal(str(v)) for v in values)


def _is_copy(row: dict[str, Any]) -> bool:
    old = OLD_DEFAULTS.get(str(row.get("key")))
    if old is None or row.get("points") or row.get("scope"):
        return False
    try:
        mine = _figures(
            tuple(row.get(name, "0" if i in (2, 3) else None) for i, name in enumerate(FIGURES))
        )
    except ArithmeticError:
        return False
    return mine == _figures(old)


def upgrade() -> None:
    bind = op.get_bind()
    rows = bind.execute(sa.text("SELECT account_id, document::text FROM fee_tables")).all()
    for account_id, text in rows:
        document = json.loads(text)
        rules = document.get("rules") or []
        kept = [r for r in rules if not (isinstance(r, dict) and _is_copy(r))]
        if len(kept) != len(rules):
            document["rules"] = kept
            bind.execute(
                sa.text("UPDATE fee_tables SET document = CAST(:d AS jsonb) WHERE account_id = :a"),
                {"a": account_id, "d": json.dumps(document)},
            )


def downgrade() -> None:
    pass  # the copies were the old defaults: nothing to restore

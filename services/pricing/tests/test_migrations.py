"""pricing's data migrations on a real PostgreSQL database, from the revision before them."""

from __future__ import annotations

import asyncio

import orjson
import sqlalchemy as sa
from alembic import command

from mci_testing.fixtures import MakeDatabase
from pricing.main import MIGRATIONS
from shared.db import alembic_config, create_engine

# What GET /fee-table answered before the default table was keyed by Allegro category: an
# operator read it and wrote it back with one row added and one default changed.
OLD_TABLE = {
    "currency": "PLN",
    "source": "table:default",
    "rules": [
        {
            "key": "default",
            "label": "Other",
            "rate": "0.17",
            "threshold": None,
            "fixed_above": "0",
            "rate_above": "0",
            "cap": None,
            "minimum": "0",
        },
        {
            "key": "Home & Garden",
            "label": "Home & Garden",
            "rate": "0.10",
            "threshold": None,
            "fixed_above": "0",
            "rate_above": "0",
            "cap": None,
            "minimum": "0.50",
        },
        {
            "key": "Electronics > Computers > Laptops",
            "label": "Laptops",
            "rate": "0.03",
            "threshold": "2000",
            "fixed_above": "60",
            "rate_above": "0.015",
            "cap": None,
            "minimum": "1.00",
        },
        {
            "key": "Automotive",
            "label": "mine now",
            "rate": "0.07",
            "threshold": None,
            "fixed_above": "0",
            "rate_above": "0",
            "cap": "100",
            "minimum": "1.00",
        },
        {
            "key": "Toys",
            "label": "an operator's row",
            "rate": "0.14",
            "threshold": None,
            "fixed_above": "0",
            "rate_above": "0",
            "cap": None,
            "minimum": "0",
        },
    ],
    "marketplaces": {},
}


async def test_copies_of_the_old_supplier_defaults_are_dropped_operator_rows_stay(
    make_database: MakeDatabase,
) -> None:
    url = await make_database("pricing_migration")
    config = alembic_config(MIGRATIONS, url)
    await asyncio.to_thread(command.upgrade, config, "0007")
    engine = create_engine(url)
    try:
        async with engine.begin() as db:
            await db.execute(
                sa.text(
                    "INSERT INTO fee_tables (account_id, document, updated_by)"
                    " VALUES ('a', CAST(:d AS jsonb), 'ops')"
                ),
                {"d": orjson.dumps(OLD_TABLE).decode()},
            )
        await asyncio.to_thread(command.upgrade, config, "head")
        async with engine.connect() as db:
            document = orjson.loads(
                await db.scalar(sa.text("SELECT document::text FROM fee_tables"))
            )
    finally:
        await engine.dispose()
    assert [r["key"] for r in document["rules"]] == ["default", "Automotive", "Toys"]

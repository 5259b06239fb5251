"""The claim on real PostgreSQL: two pollers never hold one account, and an account whose
Allegro budget is blocked (after a 429) is not claimed until the block ends."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest
import sqlalchemy as sa

from mci_testing.fixtures import MakeDatabase
from orders import handlers
from orders.domain import commands as c
from orders.main import MIGRATIONS
from shared.db import create_engine
from shared.events import AccountConnected
from shared.uow import UnitsOfWork


@pytest.fixture
async def units(make_database: MakeDatabase) -> AsyncIterator[UnitsOfWork]:
    engine = create_engine(await make_database("orders_claims", MIGRATIONS))
    yield UnitsOfWork(engine, "orders")
    await engine.dispose()


async def connect(units: UnitsOfWork, *accounts: str) -> None:
    for account in accounts:
        event = AccountConnected(
            account_id=account, alias=account, base_marketplace="allegro-pl", allegro_user_id="1"
        )
        await units.handle(handlers.account_connected, event)


async def claim(units: UnitsOfWork) -> str | None:
    claimed = await units.handle(handlers.claim_due_account, c.ClaimDueAccount(60))
    return None if claimed is None else claimed.account_id


async def test_concurrent_claims_take_different_accounts(units: UnitsOfWork) -> None:
    await connect(units, "a", "b")
    first, second, third = await asyncio.gather(claim(units), claim(units), claim(units))
    assert sorted(x for x in (first, second, third) if x) == ["a", "b"]
    assert None in (first, second, third)  # the leases hold: nothing left to claim
    assert await claim(units) is None


async def test_a_blocked_budget_defers_the_account(units: UnitsOfWork) -> None:
    await connect(units, "blocked", "free")
    async with units.engine.begin() as conn:
        await conn.execute(
            sa.text(
                "INSERT INTO allegro_rate_budget (key, tokens, updated_at, blocked_until)"
                " VALUES ('seller:blocked:order', 0, now(), now() + interval '1 hour')"
            )
        )
    assert await claim(units) == "free"
    assert await claim(units) is None
    async with units.engine.begin() as conn:
        await conn.execute(sa.text("UPDATE allegro_rate_budget SET blocked_until = now()"))
    assert await claim(units) == "blocked"


async def test_a_reconnect_makes_the_account_due_with_its_cursor(units: UnitsOfWork) -> None:
    await connect(units, "a")
    claimed = await units.handle(handlers.claim_due_account, c.ClaimDueAccount(60))
    assert claimed is not None and claimed.event_cursor is None
    await units.handle(handlers.store_order_events, c.StoreOrderEvents("a", None, "42", []))
    await units.handle(handlers.tokens_failed, c.TokensFailed("a", "no token"))
    await connect(units, "a")
    claimed = await units.handle(handlers.claim_due_account, c.ClaimDueAccount(60))
    assert claimed is not None and claimed.event_cursor == "42"

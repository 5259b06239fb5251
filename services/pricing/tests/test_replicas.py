"""Two replicas of pricing share their Allegro rate budgets (in PostgreSQL), and each closes its
Allegro client at stop."""

from __future__ import annotations

from contextlib import AsyncExitStack

import sqlalchemy as sa

from mci_testing.app import running_app
from mci_testing.fixtures import MakeDatabase
from pricing.deps import PricingDeps
from pricing.main import MIGRATIONS, build
from pricing.settings import Settings
from shared.accounts import StaticAccounts
from shared.allegro.limiter import Limit
from shared.allegro.tokens import StaticTokens
from shared.db import create_engine
from shared.service import create_app


async def test_two_replicas_draw_from_one_budget_and_close_their_clients_at_stop(
    make_database: MakeDatabase, amqp_url: str
) -> None:
    database_url = await make_database("pricing", MIGRATIONS)
    settings = Settings(database_url=database_url, amqp_url=amqp_url, run_migrations=False)
    apps = [
        create_app(build(settings, allegro_tokens=StaticTokens({}), accounts=StaticAccounts()))
        for _ in range(2)
    ]
    async with AsyncExitStack() as replicas:
        for app in apps:
            await replicas.enter_async_context(running_app(app))
        one, other = (app.state.runtime.dependencies for app in apps)
        assert isinstance(one, PricingDeps) and isinstance(other, PricingDeps)
        limit = Limit(per_minute=60, burst_seconds=3)  # a bucket of 3 calls

        # Replica one spends the whole bucket: replica two must wait, not get its own.
        for _ in range(3):
            assert await one.allegro.budgets.take("client:shared", limit) == 0
        assert await other.allegro.budgets.take("client:shared", limit) > 0
        # A 429 seen by replica two blocks the key for replica one as well.
        await other.allegro.budgets.block("seller:a:offers", 30)
        assert await one.allegro.budgets.take("seller:a:offers", limit) > 25

    engine = create_engine(database_url, application_name="test")
    async with engine.connect() as conn:
        keys = (await conn.execute(sa.text("SELECT key FROM allegro_rate_budget"))).scalars()
        assert sorted(keys) == ["client:shared", "seller:a:offers"]
    await engine.dispose()
    assert one.allegro.is_closed and other.allegro.is_closed

"""The shared shape of a service: domain errors to HTTP, pagination, units of work, wiring."""

from __future__ import annotations

from dataclasses import dataclass

import httpx
import pytest
import sqlalchemy as sa
from fastapi import Depends, FastAPI
from sqlalchemy.ext.asyncio import AsyncEngine

from mci_testing.ledger import produce
from shared import db
from shared.accounts import StaticAccounts, account_directory
from shared.db import create_engine
from shared.errors import Conflict, Invalid, NotFound, Unavailable
from shared.http import install_error_handlers
from shared.pagination import Page, PageQuery, PageRequest, page_of
from shared.service import ServiceDefinition, ServiceRuntime, dependencies_of
from shared.uow import UnitOfWork, UnitsOfWork


def app_raising(error: Exception) -> FastAPI:
    app = FastAPI()
    install_error_handlers(app)

    @app.get("/x")
    async def fail() -> None:
        raise error

    return app


async def get(app: FastAPI, path: str) -> httpx.Response:
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
        return await client.get(path)


@pytest.mark.parametrize(
    ("error", "status", "code"),
    [
        (NotFound("no rule r1"), 404, "not_found"),
        (Conflict("hold is confirmed"), 409, "conflict"),
        (
            Invalid("bad", code="invalid_prices", details=[{"field": "prices"}]),
            422,
            "invalid_prices",
        ),
        (Unavailable("auth is down", headers={"Retry-After": "5"}), 503, "unavailable"),
    ],
)
async def test_each_domain_error_has_its_status_in_the_one_error_shape(
    error: Exception, status: int, code: str
) -> None:
    response = await get(app_raising(error), "/x")

    assert response.status_code == status
    body = response.json()["error"]
    assert body["code"] == code
    assert body["message"] == str(error)
    assert isinstance(body["details"], list)
    if status == 503:
        assert response.headers["retry-after"] == "5"


async def test_a_list_pages_by_cursor_until_next_is_null() -> None:
    skus = [f"sku-{i:02}" for i in range(5)]
    app = FastAPI()
    install_error_handlers(app)

    @app.get("/skus")
    async def listing(page: PageQuery) -> Page[str]:
        rows = [s for s in skus if page.after is None or s > page.after][: page.fetch]
        return page_of(rows, page, lambda sku: sku)

    seen: list[str] = []
    after = ""
    while True:
        body = (await get(app, f"/skus?limit=2{after}")).json()
        seen += body["items"]
        if body["next"] is None:
            break
        after = f"&after={body['next']}"
    assert seen == skus
    assert (await get(app, "/skus?limit=0")).status_code == 422
    assert (await get(app, "/skus?limit=1001")).status_code == 422
    assert page_of([], PageRequest(limit=3), str) == Page[str](items=[], next=None)


async def count_entries(engine: AsyncEngine) -> int:
    async with engine.connect() as conn:
        return int(await conn.scalar(sa.text("SELECT count(*) FROM outbox")) or 0)


async def test_a_service_knows_accounts_from_its_caller_else_its_setting_else_asks_auth() -> None:
    given = StaticAccounts({"from-test"})
    assert account_directory(given, ["from-settings"]) is given
    listed = account_directory(None, ["shop-a", "shop-b"])
    assert listed is not None
    assert await listed.exists("shop-a") and await listed.exists("shop-b")
    assert not await listed.exists("shop-c")
    assert account_directory(None, None) is None  # create_app then asks auth


async def test_a_unit_of_work_commits_state_and_outbox_together_and_rolls_back_by_default(
    engine: AsyncEngine,
) -> None:
    units = UnitsOfWork(engine, "ledger")

    async def emit_three(_: None, uow: UnitOfWork) -> int:
        await produce(uow, range(3))
        return len(uow.emitted)

    async def emit_then_fail(_: None, uow: UnitOfWork) -> None:
        await produce(uow, range(3))
        raise Conflict("no")

    async def emit_while_reading(_: None, uow: UnitOfWork) -> None:
        await produce(uow, range(3))

    assert await units.handle(emit_three, None) == 3
    with pytest.raises(Conflict):
        await units.handle(emit_then_fail, None)
    await units.read(emit_while_reading, None)

    assert await count_entries(engine) == 3


@dataclass(frozen=True)
class Deps:
    name: str
    closed: list[str]

    async def aclose(self) -> None:
        self.closed.append(self.name)


async def test_routes_reach_the_dependencies_and_get_503_until_they_are_built() -> None:
    app = FastAPI()
    install_error_handlers(app)
    runtime = ServiceRuntime.__new__(ServiceRuntime)  # only the dependencies slot is used here
    runtime.dependencies = None
    app.state.runtime = runtime

    @app.get("/name")
    async def name(deps: Deps = Depends(dependencies_of(Deps))) -> str:
        return deps.name

    starting = await get(app, "/name")
    assert starting.status_code == 503
    assert starting.json()["error"]["code"] == "service_starting"

    runtime.dependencies = Deps("pricing", [])
    assert (await get(app, "/name")).json() == "pricing"
    assert ServiceDefinition.__dataclass_fields__["dependencies"].default is None


async def test_the_allegro_client_factory_shares_budgets_in_postgresql_and_closes_what_it_made(
    engine: AsyncEngine,
) -> None:
    from shared.allegro.factory import allegro_client
    from shared.allegro.limiter import PostgresBudgets
    from shared.allegro.tokens import AuthServiceTokens, StaticTokens
    from shared.settings import ServiceSettings

    class Settings(ServiceSettings):
        service_name = "ledger"

    settings = Settings(database_url="postgresql+asyncpg://unused/x", amqp_url="amqp://unused")
    made = allegro_client(settings, engine)
    given = StaticTokens({})
    handed = allegro_client(settings, engine, tokens=given)
    own = allegro_client(settings, engine, tokens_from_auth=False)

    assert isinstance(made.budgets, PostgresBudgets) and isinstance(own.budgets, PostgresBudgets)
    assert isinstance(made.tokens, AuthServiceTokens) and own.tokens is None
    for client in (made, handed, own):
        await client.aclose()
    assert made.tokens._http.is_closed  # the provider it made closes with it
    assert handed.tokens is given and made.is_closed


async def test_a_killed_backend_is_replaced_at_checkout_unless_its_connection_was_just_used(
    ledger_db: str, engine: AsyncEngine, monkeypatch: pytest.MonkeyPatch
) -> None:
    """An idle connection whose backend the server ended is pinged and replaced before use. One
    given back within `RECENTLY_USED_SECONDS` is not pinged: its statement fails, the failure
    invalidates the pool, and the next checkout gets a fresh backend."""
    one = create_engine(ledger_db, pool_size=1, application_name="test-ping")
    pid = sa.text("SELECT pg_backend_pid()")

    async def backend_killed() -> int:
        async with one.connect() as conn:
            killed = int(await conn.scalar(pid))
        async with engine.connect() as admin:
            # With a timeout, it returns once the backend is gone (or fails).
            ended = sa.text("SELECT pg_terminate_backend(:p, 10000)")
            assert await admin.scalar(ended, {"p": killed})
        return killed

    try:
        monkeypatch.setattr(db, "RECENTLY_USED_SECONDS", 0.0)
        killed = await backend_killed()
        async with one.connect() as conn:  # pinged: the dead backend is replaced
            assert await conn.scalar(pid) != killed
        monkeypatch.setattr(db, "RECENTLY_USED_SECONDS", 60.0)
        killed = await backend_killed()
        with pytest.raises(sa.exc.DBAPIError) as failed:
            async with one.connect() as conn:  # given back a moment ago: not pinged
                await conn.scalar(pid)
        assert failed.value.connection_invalidated
        async with one.connect() as conn:
            assert await conn.scalar(pid) != killed
    finally:
        await one.dispose()


async def test_each_run_of_a_statement_is_planned_for_its_parameters_as_its_table_grows(
    ledger_db: str,
) -> None:
    """A statement run many times on one connection keeps no generic plan: one made while its
    table was nearly empty would stay after the table grew. With PostgreSQL's default, the same
    statement gets a generic plan from its sixth run on (shown on a second statement)."""
    one = create_engine(ledger_db, pool_size=1, application_name="test-plans")
    lookup = sa.text("SELECT location FROM uploads WHERE location = :l")
    plans = sa.text(
        "SELECT generic_plans, custom_plans FROM pg_prepared_statements"
        " WHERE statement LIKE :s ORDER BY prepare_time DESC LIMIT 1"
    )
    try:
        async with one.connect() as conn:
            await conn.execute(sa.text("CREATE TEMP TABLE uploads (location text PRIMARY KEY)"))
            await conn.execute(sa.text("INSERT INTO uploads VALUES ('a'), ('b')"))
            for _ in range(8):
                await conn.execute(lookup, {"l": "a"})
            await conn.execute(
                sa.text("INSERT INTO uploads SELECT 'u' || g FROM generate_series(1, 20000) g")
            )
            await conn.execute(lookup, {"l": "u7"})
            generic, custom = (await conn.execute(plans, {"s": "SELECT location FROM%"})).one()
            assert (generic, custom) == (0, 9)

            await conn.execute(sa.text("SET plan_cache_mode = auto"))
            for _ in range(8):
                await conn.execute(
                    sa.text("SELECT count(*) FROM uploads WHERE location = :l"), {"l": "a"}
                )
            generic, custom = (await conn.execute(plans, {"s": "SELECT count(*) FROM%"})).one()
            assert generic > 0 and custom == 5
    finally:
        await one.dispose()

"""Fixtures of the catalog's tests: the service on a fresh database, the run's vhost and the
session's Allegro emulator, with an operator token and a seller account."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import httpx
import orjson
import pytest
import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncEngine

from catalog.main import build
from catalog.settings import Settings
from mci_testing.app import running_app
from mci_testing.bus import Bus, envelope_of
from mci_testing.emulator import EmulatorHandle
from mci_testing.fixtures import MakeAmqpUrl, MakeDatabase
from shared.accounts import StaticAccounts
from shared.allegro.tokens import StaticTokens
from shared.db import create_engine
from shared.security import issue_token
from shared.service import create_app


@dataclass
class Catalog:
    http: httpx.AsyncClient
    engine: AsyncEngine
    account: str
    settings: Settings

    async def import_bytes(
        self, fmt: str, body: bytes | Iterable[bytes], **params: Any
    ) -> httpx.Response:
        content = body if isinstance(body, bytes) else b"".join(body)
        return await self.http.post(
            "/imports", params={"format": fmt, **params}, content=content, timeout=120
        )

    async def save_selection(
        self, include: dict[str, Any], exclude: dict[str, Any] | None = None
    ) -> dict[str, Any]:
        response = await self.http.put(
            f"/accounts/{self.account}/selection",
            json={"include": include, "exclude": exclude or {}},
            timeout=120,
        )
        assert response.status_code == 200, response.text
        result: dict[str, Any] = response.json()
        return result

    async def pages(self, path: str, limit: int = 1000) -> list[dict[str, Any]]:
        """Every item of a paginated list, read page by page (`?after=<next>`)."""
        items: list[dict[str, Any]] = []
        params: dict[str, Any] = {"limit": limit}
        while True:
            response = await self.http.get(path, params=params)
            assert response.status_code == 200, response.text
            page = response.json()
            items += page["items"]
            if page["next"] is None:
                return items
            params["after"] = page["next"]

    async def events(self) -> list[dict[str, Any]]:
        """The CatalogUpdated events written to the outbox, oldest first."""
        async with self.engine.connect() as conn:
            rows = await conn.execute(
                sa.text(
                    "SELECT payload::text FROM outbox WHERE type = 'CatalogUpdated'"
                    " ORDER BY created_at, id"
                )
            )
            return [orjson.loads(r[0])["data"] for r in rows]

    async def items(self, account: str | None = None) -> list[dict[str, Any]]:
        account = account or self.account
        out = []
        for event in await self.events():
            if event["account_id"] == account:
                out.extend(event["items"])
        return out

    async def latest(self, account: str | None = None) -> dict[str, dict[str, Any]]:
        """The newest item per SKU, as a consumer applying revisions would hold them."""
        held: dict[str, dict[str, Any]] = {}
        for item in await self.items(account):
            if item["sku"] not in held or held[item["sku"]]["revision"] < item["revision"]:
                held[item["sku"]] = item
        return held

    async def scalar(self, sql: str, **params: Any) -> Any:
        async with self.engine.connect() as conn:
            return await conn.scalar(sa.text(sql), params)


@pytest.fixture(scope="session")
def seller(allegro_emulator: EmulatorHandle) -> dict[str, str]:
    me = allegro_emulator.new_seller()
    return {"login": me["login"], "token": allegro_emulator.token_for(me["login"])["access_token"]}


@pytest.fixture
def amqp_url(make_amqp_url: MakeAmqpUrl) -> str:
    """A vhost of each test's own: a message a test left in a queue (a duplicate, an event the
    test did not wait for) would otherwise reach the next test's service."""
    return make_amqp_url("catalog")


@pytest.fixture
async def catalog(
    make_database: MakeDatabase,
    amqp_url: str,
    allegro_emulator: EmulatorHandle,
    seller: dict[str, str],
) -> AsyncIterator[Catalog]:
    account = f"acc-{uuid.uuid4().hex[:8]}"
    url = await make_database("catalog")
    settings = Settings(
        database_url=url,
        amqp_url=amqp_url,
        allegro_api_url=allegro_emulator.url,
        allegro_auth_url=allegro_emulator.url,
        outbox_poll_interval_seconds=0.1,
    )
    # "other-shop": a second account some tests select for.
    accounts = StaticAccounts({account, "other-shop"})
    app = create_app(
        build(settings, tokens=StaticTokens({account: seller["token"]}), accounts=accounts)
    )
    engine = create_engine(url)
    async with running_app(app) as http:
        token = issue_token(settings.service_token_secret.get_secret_value(), "op", "operator")
        http.headers["Authorization"] = f"Bearer {token}"
        # Most tests are about other things than category mapping and GPSR data: their accounts
        # list unmapped products and products without GPSR data (test_listability.py and
        # test_gpsr.py put the requirements back).
        for shop in (account, "other-shop"):
            waiver = await http.put(
                f"/accounts/{shop}/listing", json={"not_blocking": ["no_category", "missing_gpsr"]}
            )
            assert waiver.status_code == 200, waiver.text
        yield Catalog(http, engine, account, settings)
    await engine.dispose()


def at(text: str) -> str:
    return datetime.fromisoformat(text).replace(tzinfo=UTC).isoformat()


async def publish(amqp_url: str, event: Any, message_id: uuid.UUID | None = None) -> uuid.UUID:
    """Publish an event as an upstream system (or another service) would, envelope and all."""
    envelope = envelope_of(event)
    if message_id is not None:
        envelope.id = message_id
    bus = await Bus.open(amqp_url)
    try:
        await bus.publish_envelope(envelope)
    finally:
        await bus.close()
    return envelope.id

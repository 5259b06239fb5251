from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest
from cryptography.fernet import Fernet
from pydantic import SecretStr
from sqlalchemy.ext.asyncio import AsyncEngine

from auth.main import MIGRATIONS, build
from auth.settings import Settings
from mci_testing.app import running_app
from mci_testing.emulator import EmulatorHandle
from mci_testing.fixtures import MakeDatabase
from shared.db import create_engine
from shared.security import issue_service_token
from shared.service import create_app

CALLBACK = "http://127.0.0.1:8001/accounts/oauth/callback"
ADMIN_KEY = "mcik_b00t5trap_" + "s" * 40


@dataclass
class AuthUnderTest:
    http: httpx.AsyncClient
    settings: Settings
    engine: AsyncEngine
    emulator: EmulatorHandle
    client_id: str
    last_callback: dict[str, str] | None = None

    def service_headers(self) -> dict[str, str]:
        secret = self.settings.service_token_secret.get_secret_value()
        return {"Authorization": "Bearer " + issue_service_token(secret, "offers")}

    async def new_account(self, alias: str | None = None, marketplace: str = "allegro-pl") -> str:
        response = await self.http.post(
            "/accounts",
            json={
                "alias": alias or f"shop-{uuid.uuid4().hex[:8]}",
                "base_marketplace": marketplace,
            },
        )
        assert response.status_code == 201, response.text
        return str(response.json()["id"])

    async def connect(self, account_id: str, login: str) -> dict[str, Any]:
        """The whole authorization-code flow, with the seller's approval done headlessly."""
        started = (
            await self.http.post(f"/accounts/{account_id}/connect/authorization-code")
        ).json()
        query = {k: v[0] for k, v in parse_qs(urlsplit(started["authorize_url"]).query).items()}
        approval = self.emulator.admin(
            "POST",
            "/oauth/authorize",
            {
                "clientId": self.client_id,
                "redirectUri": query["redirect_uri"],
                "login": login,
                "codeChallenge": query["code_challenge"],
                "codeChallengeMethod": query["code_challenge_method"],
                "state": query["state"],
            },
        )
        back = {k: v[0] for k, v in parse_qs(urlsplit(approval["redirectUrl"]).query).items()}
        self.last_callback = back
        response = await self.http.get("/accounts/oauth/callback", params=back)
        if response.status_code != 200:  # the connection failed: the account says why
            response = await self.http.get(f"/accounts/{account_id}")
        result: dict[str, Any] = response.json()
        return result

    async def token(self, account_id: str, **params: Any) -> httpx.Response:
        return await self.http.get(
            f"/internal/accounts/{account_id}/access-token",
            params=params,
            headers=self.service_headers(),
        )


def auth_settings(
    db: str,
    amqp: str,
    emulator: EmulatorHandle,
    client_id: str,
    secret: str,
    key: str,
    **overrides: Any,
) -> Settings:
    values: dict[str, Any] = {
        "database_url": db,
        "amqp_url": amqp,
        "allegro_api_url": emulator.url,
        "allegro_auth_url": emulator.url,
        "allegro_client_id": client_id,
        "allegro_client_secret": SecretStr(secret),
        "token_encryption_keys": SecretStr(key),
        "bootstrap_admin_key": SecretStr(ADMIN_KEY),
        "oauth_redirect_uri": CALLBACK,
        "poll_tick_seconds": 0.2,
    }
    return Settings(**(values | overrides))


@pytest.fixture
def oauth_client(allegro_emulator: EmulatorHandle) -> tuple[str, str]:
    client = allegro_emulator.admin(
        "POST",
        "/clients",
        {
            "clientId": f"mci-{uuid.uuid4().hex[:8]}",
            "name": "mci tests",
            "redirectUris": [CALLBACK],
        },
    )
    return client["client_id"], client["client_secret"]


@pytest.fixture
async def auth_db(make_database: MakeDatabase) -> str:
    return await make_database("auth", MIGRATIONS)


@pytest.fixture
def make_auth(
    auth_db: str, amqp_url: str, allegro_emulator: EmulatorHandle, oauth_client: tuple[str, str]
) -> Callable[[], Any]:
    """Instances of the auth service on one database (several = several replicas, or restarts).

    Keyword arguments override settings (e.g. `bootstrap_admin_key=None`, `environment=...`).
    """

    key = Fernet.generate_key().decode()  # one key: replicas must read each other's tokens

    def make(**overrides: Any) -> Any:
        settings = auth_settings(
            auth_db, amqp_url, allegro_emulator, *oauth_client, key, **overrides
        )
        return settings, create_app(build(settings))

    return make


@pytest.fixture
async def auth(
    make_auth: Callable[[], Any],
    auth_db: str,
    allegro_emulator: EmulatorHandle,
    oauth_client: tuple[str, str],
) -> AsyncIterator[AuthUnderTest]:
    settings, app = make_auth()
    engine = create_engine(auth_db)
    async with running_app(app) as http:
        http.headers["Authorization"] = f"Bearer {ADMIN_KEY}"
        yield AuthUnderTest(http, settings, engine, allegro_emulator, oauth_client[0])
    await engine.dispose()

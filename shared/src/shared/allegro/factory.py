"""The one way a service builds its Allegro client: rate budgets shared through PostgreSQL.

Budgets kept in memory would give every replica the whole budget (N replicas, N times the
rate Allegro allows): the client's buckets live in the service's `allegro_rate_budget` table.
The service's dependencies own the client and close it at stop.
"""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncEngine

from shared.allegro.client import AllegroClient, TokenProvider
from shared.allegro.limiter import PostgresBudgets
from shared.allegro.tokens import AuthServiceTokens
from shared.settings import ServiceSettings


def allegro_client(
    settings: ServiceSettings,
    engine: AsyncEngine,
    *,
    tokens: TokenProvider | None = None,
    tokens_from_auth: bool = True,
) -> AllegroClient:
    """`tokens`: where account tokens come from; by default the auth service is asked (auth
    itself, which owns the tokens, passes `tokens_from_auth=False`)."""
    owns_tokens = tokens is None and tokens_from_auth
    if owns_tokens:
        tokens = AuthServiceTokens(
            settings.auth_url,
            settings.service_token_secret.get_secret_value(),
            settings.service_name,
        )
    return AllegroClient(
        settings.allegro_settings(),
        tokens=tokens,
        budgets=PostgresBudgets(engine),
        owns_tokens=owns_tokens,
    )

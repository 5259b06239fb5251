"""Every service starts on its own database and the run's vhost, migrates, and answers probes."""

from __future__ import annotations

import importlib

import httpx
import pytest
import sqlalchemy as sa

from mci_testing.fixtures import MakeDatabase
from shared.db import create_engine
from shared.service import create_app

SERVICES = ["auth", "catalog", "pricing", "offers", "orders"]


@pytest.mark.parametrize("service", SERVICES)
async def test_the_service_starts_migrates_and_answers_its_probes(
    service: str, make_database: MakeDatabase, amqp_url: str
) -> None:
    main = importlib.import_module(f"{service}.main")
    settings_module = importlib.import_module(f"{service}.settings")
    database_url = await make_database(service)  # empty: the service migrates it at start
    settings = settings_module.Settings(database_url=database_url, amqp_url=amqp_url)
    assert settings.http_port == 8000 + SERVICES.index(service) + 1
    app = create_app(main.build(settings))

    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://svc") as http:
            assert (await http.get("/health/live")).json() == {"status": "ok"}
            ready = await http.get("/health/ready")
            assert ready.status_code == 200, ready.text
            assert ready.json()["checks"] == {"database": True, "broker": True, "consumers": True}
            metrics = await http.get("/metrics")
            assert "mci_outbox_pending_messages" in metrics.text
            assert (await http.get("/openapi.json")).status_code == 200
            assert (await http.get("/admin/dlq")).status_code == 401
            response = await http.get("/health/ready", headers={"X-Correlation-ID": "abc"})
            assert response.headers["x-correlation-id"] == "abc"

    engine = create_engine(database_url)
    async with engine.connect() as conn:
        tables = set(
            (
                await conn.execute(
                    sa.text("SELECT tablename FROM pg_tables WHERE schemaname = 'public'")
                )
            ).scalars()
        )
    await engine.dispose()
    assert {"outbox", "inbox", "alembic_version"} <= tables


def test_the_services_shares_of_the_client_id_fit_in_it_and_offers_has_the_most() -> None:
    """Allegro blocks the whole app past 9,000 calls a minute: the defaults together stay
    under it, and offers (nearly every call of a publication) has the largest share."""
    shares = {
        service: importlib.import_module(f"{service}.settings").Settings().allegro_client_share
        for service in SERVICES
    }
    assert sum(shares.values()) <= 1
    assert max(shares, key=lambda service: shares[service]) == "offers"

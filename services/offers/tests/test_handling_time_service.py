"""The offer's handling time on the emulator over HTTP: the supplier's handling days
(CatalogItem.handling_days) sent with the create as `delivery.handlingTime`, a change of them
sent once as a PATCH of the live offer, and the account's own handling time (its applied
shipping configuration) as the minimum. Two replicas on real PostgreSQL and RabbitMQ."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from typing import Any

import pytest

from mci_testing.emulator import EmulatorHandle, catalog_item
from mci_testing.fixtures import MakeDatabase
from mci_testing.infra import wait_until
from shared.events import CatalogUpdated, PriceComputed, PricedItem

from .test_service import (
    PRICES,
    Seller,
    Service,
    emulator,
    optional_offer_parameter,
    running_service,
    shipping_by_weight,
)

__all__ = ["emulator"]  # the module's emulator fixture, as test_service.py makes it

PATCH = ("PATCH", "/sale/product-offers/{offerId}", 200)
REFUSED = ("PATCH", "/sale/product-offers/{offerId}", 422)


@pytest.fixture(scope="module")
async def service(
    make_database: MakeDatabase, amqp_url: str, emulator: EmulatorHandle
) -> AsyncIterator[Service]:
    async with running_service(make_database, amqp_url, emulator) as found:
        yield found


async def send(
    service: Service,
    seller: Seller,
    row: dict[str, Any],
    sku: str,
    revision: int,
    handling_days: int | None,
) -> None:
    item = catalog_item(row, sku, revision, handling_days=handling_days)
    await service.publish(CatalogUpdated(account_id=seller.account, items=[item]))
    if revision == 1:
        priced = PricedItem(sku=sku, catalog_revision=1, prices=PRICES)
        await service.publish(PriceComputed(account_id=seller.account, items=[priced]))


def handling_time_on_allegro(service: Service, seller: Seller, sku: str) -> str | None:
    """The offer's handling time as the seller's own API reads it back."""
    [listed] = service.on_allegro(seller, sku)
    with seller.allegro(service.emulator) as api:
        offer = api.get(f"/sale/product-offers/{listed['id']}").json()
    found: str | None = offer["delivery"].get("handlingTime")
    return found


async def test_the_suppliers_handling_days_reach_the_offer_and_follow_their_change(
    service: Service,
) -> None:
    seller = await service.ready_seller()
    row, sku = service.row(), f"SKU-{uuid.uuid4().hex[:10]}"
    await send(service, seller, row, sku, 1, handling_days=2)
    offer = await service.wait_state(seller.account, sku, "active")
    assert handling_time_on_allegro(service, seller, sku) == "P2D"
    assert offer["sent"]["handling_time"] == "P2D"
    edits = service.count(*PATCH)
    # Slower warehouses now: 6 days, promised as the next value Allegro takes.
    await send(service, seller, row, sku, 2, handling_days=6)

    async def edited() -> bool:
        return handling_time_on_allegro(service, seller, sku) == "P7D"

    await wait_until(edited, within=30)
    assert service.count(*PATCH) == edits + 1
    settled = await service.wait_state(seller.account, sku, "active")

    async def recorded() -> bool:
        found = await service.offer(seller.account, sku)
        return bool(found["sent"]["handling_time"] == "P7D" and found["next_step"] is None)

    await wait_until(recorded, within=30)
    assert settled["offer_id"] == offer["offer_id"] and len(service.on_allegro(seller, sku)) == 1
    # The same days again send nothing.
    await send(service, seller, row, sku, 3, handling_days=6)
    await asyncio.sleep(1.0)
    assert service.count(*PATCH) == edits + 1


async def test_the_accounts_own_handling_time_is_the_minimum(service: Service) -> None:
    seller = await service.ready_seller()
    await shipping_by_weight(service, seller.account, ["5", "50"])
    document = (await service.http.get(f"/accounts/{seller.account}/shipping")).json()
    configuration = {**document["configuration"], "handling_time": "P3D"}
    saved = await service.http.put(f"/accounts/{seller.account}/shipping", json=configuration)
    assert saved.status_code == 200, saved.text
    applied = await service.http.post(f"/accounts/{seller.account}/shipping/apply")
    assert applied.status_code == 200, applied.text
    skus = {}
    for days in (1, 5, None):
        skus[days] = f"SKU-{uuid.uuid4().hex[:10]}"
        await send(service, seller, service.row(), skus[days], 1, handling_days=days)
    for days, wanted in ((1, "P3D"), (5, "P5D"), (None, "P3D")):
        await service.wait_state(seller.account, skus[days], "active")
        assert handling_time_on_allegro(service, seller, skus[days]) == wanted


async def test_a_refused_handling_time_leaves_the_live_offer_as_it_is(service: Service) -> None:
    """Allegro validates the whole offer on an edit: a parameter the category requires since
    the offer was published refuses the PATCH. The offer stays active, the value is held (not
    sent again) until the wanted handling time changes."""
    seller = await service.ready_seller()
    with seller.allegro(service.emulator) as api:
        row, parameter = next(
            (r, found)
            for r in service.rows
            if r["allegroProducts"] == 1
            and (found := optional_offer_parameter(api, r["allegro_category_id"])) is not None
        )
    service.rows.remove(row)
    sku = f"SKU-{uuid.uuid4().hex[:10]}"
    await send(service, seller, row, sku, 1, handling_days=1)
    await service.wait_state(seller.account, sku, "active")
    assert handling_time_on_allegro(service, seller, sku) == "PT24H"
    refused = service.count(*REFUSED)
    path = f"/categories/{row['allegro_category_id']}/parameters/{parameter['id']}"
    service.emulator.admin("PUT", path, {"required": True})
    try:
        await send(service, seller, row, sku, 2, handling_days=3)

        async def held() -> bool:
            found = await service.offer(seller.account, sku)
            return bool(found["sent"]["handling_time"] == "P3D" and found["next_step"] is None)

        await wait_until(held, within=30)
        assert service.count(*REFUSED) == refused + 1
        await send(service, seller, row, sku, 3, handling_days=3)
        await asyncio.sleep(1.0)
        assert service.count(*REFUSED) == refused + 1  # held: not sent again
    finally:
        service.emulator.admin("PUT", path, {"required": False})
    offer = await service.offer(seller.account, sku)
    assert offer["state"] == "active" and handling_time_on_allegro(service, seller, sku) == "PT24H"

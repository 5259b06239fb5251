"""Orders out and tracking back, against the BigBuy emulator over HTTP on its own clock: an
Allegro order is checked, refused when it would sell at a loss, created with its id as
`internalReference`, never sent twice (a crash between create and commit is settled by
reference), BigBuy's refusals become states the operator acts on, tracking goes upstream."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest

from bigbuy_connector import handlers, sender
from bigbuy_connector.deps import BigBuyDeps
from bigbuy_connector.domain import commands as c
from bigbuy_connector.domain import orders as o
from bigbuy_connector.repository import CatalogueRepository
from mci_testing.bigbuy import BigBuyEmulatorHandle, allegro_order, bigbuy_orders, sellable
from shared.errors import Conflict, Invalid
from shared.events import OrderCancelled, OrderReceived
from shared.uow import UnitOfWork

from .conftest import MakeDeps, outbox


async def receive(deps: BigBuyDeps, event: OrderReceived) -> str:
    await deps.units.handle(handlers.order_received, event)
    return event.order_id


async def state_of(deps: BigBuyDeps, order_id: str) -> dict[str, Any]:
    return await deps.units.read(handlers.get_order, c.GetOrder(order_id))


async def test_an_order_is_checked_then_created_with_the_allegro_id_as_reference(
    emulator: BigBuyEmulatorHandle, make_deps: MakeDeps
) -> None:
    deps = make_deps()
    item = sellable(emulator)
    order_id = await receive(deps, allegro_order(item["sku"], 2))
    assert await sender.send_step(deps)
    order = await state_of(deps, order_id)
    assert order["state"] == o.SENT
    (placed,) = bigbuy_orders(emulator, order_id)
    assert str(placed["id"]) == order["bigbuy_order_id"]
    assert [(p["reference"], p["quantity"]) for p in placed["products"]] == [(item["sku"], 2)]
    assert Decimal(order["cost_total"]) > 0
    assert not await sender.send_step(deps)  # nothing else due


async def test_an_order_sold_at_a_loss_is_held_until_the_operator_accepts_it(
    emulator: BigBuyEmulatorHandle, make_deps: MakeDeps
) -> None:
    deps = make_deps()
    item = sellable(emulator)
    order_id = await receive(deps, allegro_order(item["sku"], 1, total="5.00"))
    await sender.send_step(deps)
    order = await state_of(deps, order_id)
    assert order["state"] == o.LOSS
    assert Decimal(order["cost_total"]) > Decimal(order["sale_total"])
    assert bigbuy_orders(emulator, order_id) == []

    await deps.units.handle(handlers.resend, c.Resend(order_id, deps.clock.now(), accept_loss=True))
    await sender.send_step(deps)
    assert (await state_of(deps, order_id))["state"] == o.SENT
    assert len(bigbuy_orders(emulator, order_id)) == 1


async def test_a_crash_between_create_and_commit_sends_no_duplicate(
    emulator: BigBuyEmulatorHandle, make_deps: MakeDeps
) -> None:
    deps = make_deps(order_lease_seconds=120)
    item = sellable(emulator)
    order_id = await receive(deps, allegro_order(item["sku"]))
    claimed = await deps.units.handle(handlers.claim_order, c.ClaimOrder(deps.clock.now(), 120))
    assert claimed is not None
    # The send runs to BigBuy's 201; the process dies before the outcome is committed.
    outcome = await sender.send(deps, claimed)
    assert outcome is not None and outcome.state == o.SENT
    assert (await state_of(deps, order_id))["state"] == o.SENDING

    restarted = make_deps(order_lease_seconds=120)
    assert not await sender.send_step(restarted)  # the lease still holds it
    await restarted.clock.sleep(121)
    assert await sender.send_step(restarted)
    order = await state_of(restarted, order_id)
    assert order["state"] == o.SENT
    (placed,) = bigbuy_orders(emulator, order_id)  # one order at BigBuy, not two
    assert order["bigbuy_order_id"] == str(placed["id"])


async def test_out_of_stock_holds_the_order_and_corrects_the_stock_upstream_at_once(
    emulator: BigBuyEmulatorHandle, make_deps: MakeDeps, database: str
) -> None:
    deps = make_deps()
    item = sellable(emulator)
    await deps.units.handle(_known, item)
    order_id = await receive(deps, allegro_order(item["sku"], item["available"] + 5))
    await sender.send_step(deps)
    order = await state_of(deps, order_id)
    assert order["state"] == o.OUT_OF_STOCK
    assert order["error_code"] == "ER003"
    (event,) = await outbox(database, "supplier.products")
    (correction,) = event["products"]
    assert correction["sku"] == item["sku"]
    assert correction["stock"] == item["available"]  # read again from BigBuy
    assert bigbuy_orders(emulator, order_id) == []


async def _known(item: dict[str, Any], uow: UnitOfWork) -> None:
    """The product as a catalogue refresh would have stored it."""
    await uow.repository(CatalogueRepository).save_products(
        [
            {
                "sku": item["sku"],
                "product_id": item["id"],
                "variation_id": None,
                "active": True,
                "record": {"sku": item["sku"], "stock": 99},
            }
        ]
    )


async def test_orders_wait_for_the_wallet_and_go_out_when_it_is_topped_up(
    emulator: BigBuyEmulatorHandle, make_deps: MakeDeps
) -> None:
    deps = make_deps()
    item = sellable(emulator)
    emulator.admin("PUT", "/wallet", {"balance": "1.00"})
    first = await receive(deps, allegro_order(item["sku"]))
    second = await receive(deps, allegro_order(item["sku"]))
    await sender.send_step(deps)
    await sender.send_step(deps)
    for order_id in (first, second):
        order = await state_of(deps, order_id)
        assert order["state"] == o.WAITING_WALLET
        assert order["error_code"] == "ER005"
    summary = await deps.units.read(handlers.wallet_summary, c.WalletSummary(Decimal("1.00")))
    assert summary["waiting_orders"] == 2
    assert Decimal(summary["shortfall"]) > 0

    loop = sender.LoopState()
    assert not await sender.wallet_step(deps, loop)  # still too low: nothing released
    cost = Decimal((await state_of(deps, first))["cost_total"])
    emulator.admin("PUT", "/wallet", {"balance": str(cost + Decimal("1.00"))})
    await deps.clock.sleep(deps.settings.wallet_poll_interval_seconds)
    assert await sender.wallet_step(deps, loop)  # the oldest one fits, the second does not
    assert (await state_of(deps, first))["state"] == o.NEW
    assert (await state_of(deps, second))["state"] == o.WAITING_WALLET
    await sender.send_step(deps)
    assert (await state_of(deps, first))["state"] == o.SENT


async def test_a_bad_postcode_waits_for_the_operator_to_fix_the_address_and_resend(
    emulator: BigBuyEmulatorHandle, make_deps: MakeDeps
) -> None:
    deps = make_deps()
    item = sellable(emulator)
    order_id = await receive(deps, allegro_order(item["sku"], zipCode="3O-OO1"))
    await sender.send_step(deps)
    order = await state_of(deps, order_id)
    assert (order["state"], order["error_code"]) == (o.BAD_ADDRESS, "ER004")

    with pytest.raises(Invalid) as refused:  # machine-readable, before BigBuy is asked
        await deps.units.handle(
            handlers.resend, c.Resend(order_id, deps.clock.now(), {"address": ""})
        )
    assert refused.value.code == "invalid_address"
    with pytest.raises(Invalid) as refused:  # checked as BigBuy checks it: PL is NN-NNN
        await deps.units.handle(
            handlers.resend, c.Resend(order_id, deps.clock.now(), {"postcode": "30001"})
        )
    assert refused.value.details == [
        {"field": "shippingAddress.postcode", "problem": "not a postcode of PL (like 00-001)"}
    ]
    assert (await state_of(deps, order_id))["state"] == o.BAD_ADDRESS
    await deps.units.handle(
        handlers.resend, c.Resend(order_id, deps.clock.now(), {"postcode": "30-001"})
    )
    assert (await state_of(deps, order_id))["shipping_address"]["postcode"] == "30-001"
    await sender.send_step(deps)
    assert (await state_of(deps, order_id))["state"] == o.SENT
    (placed,) = bigbuy_orders(emulator, order_id)
    assert placed["shippingAddress"]["postcode"] == "30-001"


async def test_a_resent_order_whose_create_was_tried_is_looked_up_first_never_sent_twice(
    emulator: BigBuyEmulatorHandle, make_deps: MakeDeps
) -> None:
    deps = make_deps()
    item = sellable(emulator)
    emulator.admin("POST", "/errors", {"path": "order/create", "code": "ER013", "count": 1})
    order_id = await receive(deps, allegro_order(item["sku"]))
    await sender.send_step(deps)
    refused = await state_of(deps, order_id)
    assert (refused["state"], refused["attempts"]) == (o.FAILED, 1)
    # BigBuy took that create after all (the refusal and the order crossed): it has the
    # reference when the operator resends.
    stored = await deps.units.read(handlers.get_order, c.GetOrder(order_id))
    body = {
        "order": {
            "internalReference": order_id,
            "language": "pl",
            "paymentMethod": "moneybox",
            "carriers": [{"name": "gls"}],
            "shippingAddress": stored["shipping_address"],
            "products": [{"reference": item["sku"], "quantity": 1}],
        }
    }
    await deps.client.post("order/create.json", body, max_wait=30)
    (placed,) = bigbuy_orders(emulator, order_id)
    creates = emulator.counters()["requests"]["order/create"]

    await deps.units.handle(handlers.resend, c.Resend(order_id, deps.clock.now()))
    await sender.send_step(deps)
    sent = await state_of(deps, order_id)
    assert (sent["state"], sent["bigbuy_order_id"]) == (o.SENT, str(placed["id"]))
    assert emulator.counters()["requests"]["order/create"] == creates  # not asked again
    assert len(bigbuy_orders(emulator, order_id)) == 1


async def test_an_address_bigbuy_would_refuse_is_held_without_asking_it(
    emulator: BigBuyEmulatorHandle, make_deps: MakeDeps
) -> None:
    deps = make_deps()
    item = sellable(emulator)
    order_id = await receive(deps, allegro_order(item["sku"], street="ul. Długa " * 10))
    await sender.send_step(deps)
    order = await state_of(deps, order_id)
    assert order["state"] == o.BAD_ADDRESS
    assert {"field": "shippingAddress.address", "problem": "over 70 characters"} in order["error"][
        "details"
    ]
    assert emulator.counters()["requests"].get("order/check") is None


async def test_no_carrier_available_is_a_state_of_its_own_and_can_be_retried(
    emulator: BigBuyEmulatorHandle, make_deps: MakeDeps
) -> None:
    deps = make_deps()
    item = sellable(emulator)
    emulator.admin("POST", "/errors", {"path": "order/check", "code": "ER010", "count": 1})
    order_id = await receive(deps, allegro_order(item["sku"]))
    await sender.send_step(deps)
    assert (await state_of(deps, order_id))["state"] == o.CARRIER_UNAVAILABLE
    await deps.units.handle(handlers.resend, c.Resend(order_id, deps.clock.now()))
    await sender.send_step(deps)
    assert (await state_of(deps, order_id))["state"] == o.SENT
    with pytest.raises(Conflict):  # a sent order is never resent
        await deps.units.handle(handlers.resend, c.Resend(order_id, deps.clock.now()))


async def test_soft_errors_and_timeouts_leave_the_order_to_be_looked_up_not_resent(
    emulator: BigBuyEmulatorHandle, make_deps: MakeDeps
) -> None:
    deps = make_deps(order_retry_seconds=30)
    item = sellable(emulator)
    emulator.admin(
        "POST",
        "/errors",
        {"path": "order/create", "status": 200, "body": {"code": 409, "message": "Something"}},
    )
    order_id = await receive(deps, allegro_order(item["sku"]))
    await sender.send_step(deps)
    order = await state_of(deps, order_id)
    assert (order["state"], order["error_code"]) == (o.SENDING, "soft")
    await deps.clock.sleep(31)
    await sender.send_step(deps)  # looked up by reference (absent), then created once
    assert (await state_of(deps, order_id))["state"] == o.SENT
    assert len(bigbuy_orders(emulator, order_id)) == 1


async def test_tracking_goes_upstream_once_the_order_ships(
    emulator: BigBuyEmulatorHandle, make_deps: MakeDeps, database: str
) -> None:
    deps = make_deps()
    item = sellable(emulator)
    order_id = await receive(deps, allegro_order(item["sku"]))
    await sender.send_step(deps)
    loop = sender.LoopState()
    assert not await sender.tracking_step(deps, loop, force=True)  # not shipped yet
    await deps.clock.sleep(86_400 + 60)
    assert await sender.tracking_step(deps, loop, force=True)
    order = await state_of(deps, order_id)
    assert order["state"] == o.SHIPPED
    (shipment,) = await outbox(database, "supplier.shipment")
    assert shipment["order_id"] == order_id
    assert shipment["account_id"] == "acct-1"
    assert shipment["tracking_number"] == order["tracking_number"]
    assert shipment["carrier_id"] != ""
    assert shipment["carrier_name"] == order["carrier"]
    assert not await sender.tracking_step(deps, loop, force=True)  # sent once


async def test_cancelled_before_sending_is_never_sent_and_after_says_so(
    emulator: BigBuyEmulatorHandle, make_deps: MakeDeps
) -> None:
    deps = make_deps()
    item = sellable(emulator)
    early = await receive(deps, allegro_order(item["sku"]))
    await deps.units.handle(
        handlers.order_cancelled, OrderCancelled(account_id="acct-1", order_id=early, reason="x")
    )
    assert not await sender.send_step(deps)
    assert (await state_of(deps, early))["state"] == o.CANCELLED
    assert bigbuy_orders(emulator, early) == []

    late = await receive(deps, allegro_order(item["sku"]))
    await sender.send_step(deps)
    await deps.units.handle(
        handlers.order_cancelled, OrderCancelled(account_id="acct-1", order_id=late, reason="x")
    )
    order = await state_of(deps, late)
    assert (order["state"], order["error_code"]) == (o.CANCEL_MANUAL, "no_cancel_endpoint")
    # The operator cancels it in BigBuy's panel; the status read settles it.
    emulator.admin("PUT", f"/orders/{order['bigbuy_order_id']}/status", {"status": "Cancelled"})
    await sender.tracking_step(deps, sender.LoopState(), force=True)
    order = await state_of(deps, late)
    assert (order["state"], order["bigbuy_status"]) == (o.CANCELLED, "Cancelled")

"""The console's publication pages, a product's offer and the supplier orders in a real browser
against the running stack (offers publishing on the Allegro emulator, the BigBuy connector on
the BigBuy emulator). What the catalogue and pricing would send, and what orders would hand to
fulfilment, arrives as their events on the services' queues; everything else goes through
the pages."""

from __future__ import annotations

import uuid
from decimal import Decimal
from typing import Any

import httpx
from playwright.async_api import Page, expect

from mci_testing.bigbuy import allegro_order, sellable
from mci_testing.bus import Bus
from mci_testing.emulator import SAFETY_INFORMATION, catalog_item, responsible_producer
from mci_testing.infra import wait_until
from shared.events import (
    CatalogUpdated,
    Event,
    Money,
    PriceComputed,
    PricedItem,
)

from .conftest import Stack, choose_shop, log_in, screenshot

PRODUCER = responsible_producer("Fabryka Konsoli", "Fabryka Konsoli sp. z o.o.")
SAFETY = SAFETY_INFORMATION
PRICES = {
    "allegro-pl": Money(amount=Decimal("49.90"), currency="PLN"),
    "allegro-cz": Money(amount=Decimal("290"), currency="CZK"),
    "allegro-sk": Money(amount=Decimal("11.90"), currency="EUR"),
}


async def publish(stack: Stack, event: Event, queue: str | None = None) -> None:
    """The event as its producer emits it; to one queue only when `queue` is given (the
    catalogue's items go to offers alone, so that pricing does not price them too)."""
    bus = await Bus.open(stack.amqp_url)
    try:
        if queue is None:
            await bus.publish(event, source="console-tests")
        else:
            await bus.publish_to_queue(event, queue, source="console-tests")
    finally:
        await bus.close()


def unknown_ean() -> str:
    """An EAN-13 with its check digit that Allegro's catalogue does not hold."""
    first12 = f"591{int(uuid.uuid4().hex[:9], 16) % 10**9:09d}"
    weighted = sum(int(d) * (3 if i % 2 else 1) for i, d in enumerate(first12))
    return first12 + str(-weighted % 10)


async def to_publication(stack: Stack, account: str, rows: list[dict[str, Any]]) -> list[str]:
    """The catalogue's items and pricing's prices for the rows, as offers receives them."""
    items = [catalog_item(row, f"CP-{uuid.uuid4().hex[:8]}") for row in rows]
    await publish(stack, CatalogUpdated(account_id=account, items=items), "offers.catalog-updates")
    priced = [PricedItem(sku=i.sku, catalog_revision=1, prices=PRICES) for i in items]
    await publish(stack, PriceComputed(account_id=account, items=priced), "offers.prices")
    return [i.sku for i in items]


async def test_a_publication_is_paused_tried_dry_then_watched_to_done_and_a_reason_read(
    page: Page, stack: Stack
) -> None:
    shop = await stack.connected_shop("publishing")
    account = shop["id"]
    async with stack.http("offers", "operator") as offers:
        # The shop made ready as an operator would have, with the supplier's producer data.
        ready = await offers.post(
            f"/accounts/{account}/readiness",
            json={
                "create_missing": True,
                "responsible_producer": PRODUCER,
                "safety_information": SAFETY,
            },
        )
        assert ready.status_code == 200 and ready.json()["readiness"] == "ready", ready.text

        await log_in(page, stack, "operator")
        await choose_shop(page, shop["alias"])
        await page.get_by_role("link", name="Publication").click()
        await expect(page.locator("[data-readiness]")).to_have_text("Ready to publish.")
        await page.get_by_role("button", name="Pause publication").click()
        await expect(page.locator("#readiness-result")).to_have_text(
            f"Publication of {shop['alias']} paused: writes under way finish, nothing more is sent."
        )
        await expect(page.locator("[data-paused]")).to_contain_text("Publication is paused")

        sample = stack.emulator.admin("GET", "/catalogue/sample?n=50")["rows"]
        found = [r for r in sample if r["allegroProducts"] == 1][:4]
        missing = {**found[0], "ean": unknown_ean()}
        skus = await to_publication(stack, account, [*found, missing])
        absent = skus[-1]

        async def all_checking() -> bool:
            listed = (await offers.get(f"/accounts/{account}/offers", params={"limit": 100})).json()
            return [o["state"] for o in listed["items"]] == ["checking"] * 5

        await wait_until(all_checking, within=60, interval=0.3)
        # Followed live: the page reads the progress again by itself.
        summary = page.locator("#progress-summary")
        await expect(summary).to_have_text("0 of 5 offers settled; 5 still to publish (paused).")

        await page.get_by_label("also look each EAN up in Allegro's catalogue").check()
        await page.get_by_role("button", name="Dry run").click()
        await expect(page.locator("#publication-result")).to_have_text(
            "Dry run of 5 offers: would create 4, update 0, end 0, reactivate 0;"
            " 1 would fail a check."
        )
        await expect(
            page.locator("#dry-run").get_by_role("row").filter(has_text=absent)
        ).to_contain_text("product_missing")
        assert (await offers.get(f"/accounts/{account}/offers/{absent}")).json()["offer_id"] is None

        await page.get_by_role("button", name="Resume publication").click()
        await expect(page.locator("#readiness-result")).to_have_text(
            f"Publication of {shop['alias']} resumed."
        )
        await expect(summary).to_have_attribute("data-done", "true")
        await expect(summary).to_have_text("Done: all 5 offers are settled (4 active).")
        await expect(page.locator("#progress progress")).to_have_attribute("value", "5")
        await expect(page.locator("#progress")).to_contain_text("allegro-pl")
        # The offers by state are drawn again at the end: every SKU, the absent one not listable.
        offers_list = page.locator("#offers-list")
        await expect(offers_list.get_by_role("row")).to_have_count(6)
        await expect(offers_list.get_by_role("row").filter(has_text=absent)).to_contain_text(
            "not listable"
        )
        group = page.locator("#offer-problems [data-reason=product_missing]")
        await expect(group.locator("h3")).to_have_text(
            "Allegro's product catalogue has no product with this EAN - 1 offer"
        )
        await expect(group).to_contain_text("How to fix: Allegro has no catalogue product")
        await expect(group).to_contain_text("ProductNotFoundException")
        await screenshot(page, "publication")

        # The not-listable product opened: its reason in words, Allegro's error, its history.
        await group.get_by_role("link", name=absent).click()
        await expect(page.locator("#offer-state")).to_have_text("State: not listable.")
        await expect(page.locator("#offer-reason")).to_contain_text(
            "Why: Allegro's product catalogue has no product with this EAN"
        )
        await expect(page.locator("#allegro-errors")).to_contain_text("ProductNotFoundException")
        history = page.locator("#offer table").nth(1)
        await expect(history.get_by_role("row").filter(has_text="not listable")).to_have_count(1)
        await screenshot(page, "product-offer")
        await page.get_by_role("button", name="Retry this offer").click()
        await expect(page.locator("#offer-result")).to_contain_text(
            f"Retried: {absent} is checked again"
        )

        async def retried() -> bool:
            offer = (await offers.get(f"/accounts/{account}/offers/{absent}")).json()
            causes = [t["cause"] for t in offer["history"]]
            return offer["state"] == "not_listable" and any("retried by" in c for c in causes)

        await wait_until(retried, within=60, interval=0.3)
        # An active one has nothing to retry, and the page says why.
        await page.goto(f"{stack.console}/#/product?sku={skus[0]}")
        await expect(page.locator("#offer-state")).to_have_text("State: active on Allegro.")
        await page.get_by_role("button", name="Retry this offer").click()
        await expect(page.locator("#offer-result")).to_have_text(
            "Nothing retried: only failed or not-listable offers are retried,"
            " and this one is active on Allegro."
        )
        await page.get_by_role("button", name="Dry run").click()
        await expect(page.locator("#offer-result")).to_have_text(
            f"Dry run: publishing now would do nothing with {skus[0]}."
        )


async def test_a_shop_not_ready_names_what_is_missing_and_a_viewer_cannot_act(
    page: Page, stack: Stack
) -> None:
    shop = await stack.connected_shop("unready")
    account = shop["id"]
    async with stack.http("offers", "viewer") as offers:

        async def checked() -> bool:
            found: dict[str, Any] = (await offers.get(f"/accounts/{account}/readiness")).json()
            return bool(found["readiness"] == "not_ready")

        await wait_until(checked, within=60, interval=0.3)

    await log_in(page, stack, "viewer")
    # The Shops page says it in short, and leads to the shop's Publication page.
    listed = page.get_by_role("row").filter(has_text=shop["alias"])
    await expect(listed.locator("[data-readiness]")).to_have_text(
        "Not ready: responsible producer, product safety information missing"
    )
    # The marketplaces its offers are sold on, as offers has them (CZ and SK from a PL shop).
    await expect(listed.locator("[data-marketplaces]")).to_have_text(
        "allegro-pl (base), allegro-cz, allegro-sk"
    )
    await listed.get_by_role("link", name="Publication").click()
    await expect(page.locator("#shop")).to_have_value(shop["id"])
    verdict = page.locator("#readiness [data-readiness]")
    await expect(verdict).to_have_text(
        "Not ready to publish: responsible producer (gpsr), product safety information (gpsr)"
        " missing. Nothing is sent until it is."
    )
    await expect(page.get_by_role("button", name="Pause publication")).to_have_count(0)
    await expect(page.get_by_role("button", name="Dry run")).to_have_count(0)
    await expect(page.locator("#producer-form")).to_have_count(0)

    await page.get_by_role("button", name="Log out").click()
    await log_in(page, stack, "operator")
    await choose_shop(page, shop["alias"])
    await page.get_by_role("link", name="Publication").click()
    row = (
        page.locator("#readiness").get_by_role("row").filter(has_text="Product safety information")
    )
    await expect(row).to_contain_text("missing")
    await expect(row).to_contain_text("safety_information")
    await page.get_by_label("Product safety information (kept when left empty)").fill(SAFETY)
    await page.get_by_role("button", name="Check readiness on Allegro now").click()
    await expect(page.locator("#readiness-result")).to_have_text(
        "Checked on Allegro: still not ready (the missing items are listed)."
    )
    await expect(verdict).to_have_text(
        "Not ready to publish: responsible producer (gpsr) missing. Nothing is sent until it is."
    )
    await expect(row).to_contain_text("ok")
    await screenshot(page, "publication-readiness")

    # The producer's data given in the page: offers creates it on Allegro, the shop is ready.
    producer = PRODUCER["producerData"]
    for label, value in (
        ("Name on Allegro (at most 50 characters)", PRODUCER["name"]),
        ("Trade name", producer["tradeName"]),
        ("Country (ISO code, e.g. PL)", "pl"),
        ("Street and number", producer["address"]["street"]),
        ("Postal code", producer["address"]["postalCode"]),
        ("City", producer["address"]["city"]),
        ("Contact e-mail", producer["contact"]["email"]),
    ):
        await page.get_by_label(label).fill(value)
    await page.get_by_role("button", name="Create the responsible producer on Allegro").click()
    await expect(page.locator("#readiness-result")).to_have_text(
        "The responsible producer is on Allegro: ready to publish."
    )
    await expect(verdict).to_have_text("Ready to publish.")
    made = page.locator("#readiness").get_by_role("row").filter(has_text="Responsible producer")
    await expect(made).to_contain_text("ok (created now)")
    await expect(made).to_contain_text(PRODUCER["name"])


async def test_drift_a_seller_made_on_allegro_is_shown_and_a_reconcile_finds_the_rest(
    page: Page, stack: Stack
) -> None:
    shop = await stack.connected_shop("drifting")
    account = shop["id"]
    async with stack.http("offers", "operator") as offers:
        ready = await offers.post(
            f"/accounts/{account}/readiness",
            json={
                "create_missing": True,
                "responsible_producer": PRODUCER,
                "safety_information": SAFETY,
            },
        )
        assert ready.status_code == 200 and ready.json()["readiness"] == "ready", ready.text
        sample = stack.emulator.admin("GET", "/catalogue/sample?n=50")["rows"]
        row = next(r for r in sample if r["allegroProducts"] == 1)
        (sku,) = await to_publication(stack, account, [row])

        async def settled() -> bool:
            # Active and read back: while a step of the worker holds the offer, drift only
            # reports it (nothing repaired), and the page would say so.
            found = (await offers.get(f"/accounts/{account}/offers/{sku}")).json()
            return bool(found.get("state") == "active" and found.get("next_step") is None)

        await wait_until(settled, within=60, interval=0.3)
        offer_id = (await offers.get(f"/accounts/{account}/offers/{sku}")).json()["offer_id"]

        # The seller changes the price on allegro.pl; offers reads it in Allegro's offer events.
        stack.emulator.admin(
            "POST",
            f"/offers/{offer_id}/seller-edit",
            {"price": {"amount": "59.90", "currency": "PLN"}},
        )

        async def drifted() -> bool:
            found = (await offers.get(f"/accounts/{account}/drift")).json()
            return [d["kind"] for d in found["items"]] == ["price"]

        await wait_until(drifted, within=60, interval=0.3)

    await log_in(page, stack, "operator")
    await choose_shop(page, shop["alias"])
    await page.get_by_role("link", name="Publication").click()
    total = page.locator("#drift-total")
    await expect(total).to_have_text("1 difference found: 1 price changed on Allegro.")
    found = page.locator("#drift-list").get_by_role("row").filter(has_text=sku)
    await expect(found).to_contain_text("price changed on Allegro")
    await expect(found).to_contain_text("49.90 PLN")  # ours
    await expect(found).to_contain_text("59.90 PLN")  # Allegro's
    await expect(found).to_contain_text("our value is sent again")
    await expect(found).to_contain_text("event OFFER_PRICE_CHANGED")
    await expect(page.locator("#drift-reconciled")).to_have_text("Never reconciled in full.")
    await expect(page.locator("#drift-events")).to_contain_text("Allegro's offer events read")

    # An offer the seller made outside the platform: only a full reconcile sees it.
    foreign = stack.emulator.active_offer(shop["login"], sku=f"HANDMADE-{uuid.uuid4().hex[:6]}")
    await page.get_by_role("button", name="Reconcile now").click()
    await expect(page.locator("#drift-result")).to_have_text(
        "Reconciled 2 offers on Allegro against 1 of ours: 1 difference"
        " (1 on Allegro, unknown to us); repairs: none; 1 reported only."
    )
    await expect(total).to_have_text(
        "2 differences found: 1 price changed on Allegro, 1 on Allegro, unknown to us."
    )
    unknown = page.locator("#drift-list").get_by_role("row").filter(has_text=foreign)
    await expect(unknown).to_contain_text(f"offer {foreign} (ACTIVE)")
    await expect(unknown).to_contain_text("reported only (nothing repaired)")
    await expect(page.locator("#drift-reconciled")).to_contain_text(
        "2 offers on Allegro against 1 of ours, 1 difference."
    )
    await page.locator("#drift-kind").select_option(label="stock changed on Allegro")
    await expect(page.locator("#drift-list")).to_have_text(
        "No difference of kind stock changed on Allegro found."
    )
    await page.locator("#drift-kind").select_option(label="every kind")
    await expect(page.locator("#drift-list").get_by_role("row")).to_have_count(3)
    await screenshot(page, "publication-drift")

    # A viewer sees the drift, and is not offered the reconcile (offers refuses it anyway).
    await page.get_by_role("button", name="Log out").click()
    await log_in(page, stack, "viewer")
    await choose_shop(page, shop["alias"])
    await page.get_by_role("link", name="Publication").click()
    await expect(total).to_contain_text("2 differences found")
    await expect(page.get_by_role("button", name="Reconcile now")).to_have_count(0)
    await expect(page.locator("#drift")).to_contain_text(
        "An operator can reconcile the shop's offers with Allegro now."
    )
    await expect(page.locator("#drift")).not_to_contain_text("null")
    await expect(page.locator("#readiness")).not_to_contain_text("null")
    async with stack.http("offers", "viewer") as offers:
        refused = await offers.post(f"/accounts/{account}/reconcile")
        assert refused.status_code == 403


async def test_a_supplier_order_waiting_on_the_wallet_is_shown_and_sent_again(
    page: Page, stack: Stack
) -> None:
    stack.bigbuy.admin("PUT", "/wallet", {"balance": "1.00"})
    order = allegro_order(sellable(stack.bigbuy)["sku"], account_id="console-shop")
    await publish(stack, order)
    async with httpx.AsyncClient(
        base_url=stack.url("bigbuy"),
        headers={"Authorization": f"Bearer {stack.keys['viewer']}"},
        timeout=60,
    ) as bigbuy:

        async def state() -> str:
            found = await bigbuy.get(f"/supplier-orders/{order.order_id}")
            return found.json()["state"] if found.status_code == 200 else found.text[:200]

        seen: list[str] = []

        async def waiting() -> bool:
            seen.append(await state())
            return seen[-1] == "waiting_wallet"

        try:
            await wait_until(waiting, within=60, interval=0.3)
        except AssertionError:
            raise AssertionError(f"the order never waited for the wallet: {seen[-3:]}") from None
        held = (await bigbuy.get(f"/supplier-orders/{order.order_id}")).json()
        cost = Decimal(held["cost_total"])
        await log_in(page, stack, "operator")
        await page.get_by_role("link", name="Orders").click()
        wallet = page.locator("#wallet-summary")
        await expect(wallet).to_contain_text("Wallet balance: 1.00 EUR.")
        await expect(wallet).to_contain_text("1 order waits for it")
        await expect(wallet).to_contain_text("top it up by at least")
        row = (
            page.locator("#supplier-orders-list").get_by_role("row").filter(has_text=order.order_id)
        )
        await expect(row).to_contain_text("waiting for the wallet")
        await expect(row).to_contain_text(f"{cost} EUR")
        # BigBuy's refusal in its words, with its code.
        await expect(row).to_contain_text(f"{held['error']['message']} (ER005)")
        await screenshot(page, "supplier-orders")

        # Topped up at BigBuy; the operator sends it now instead of waiting for the next poll.
        stack.bigbuy.admin("PUT", "/wallet", {"balance": str(cost + 100)})
        await row.get_by_role("button", name="Send again").click()
        await expect(page.locator("#supplier-result")).to_contain_text(
            f"Order {order.order_id} is sent again"
        )

        async def sent() -> bool:
            return await state() == "sent"

        await wait_until(sent, within=60, interval=0.3)


async def test_a_supplier_order_refused_for_its_postcode_is_corrected_and_sent(
    page: Page, stack: Stack
) -> None:
    stack.bigbuy.admin("PUT", "/wallet", {"balance": "100000.00"})
    order = allegro_order(
        sellable(stack.bigbuy)["sku"], account_id="console-shop", zipCode="3O-OO1"
    )
    await publish(stack, order)
    async with httpx.AsyncClient(
        base_url=stack.url("bigbuy"),
        headers={"Authorization": f"Bearer {stack.keys['viewer']}"},
        timeout=60,
    ) as bigbuy:

        async def state() -> str:
            found = await bigbuy.get(f"/supplier-orders/{order.order_id}")
            return found.json()["state"] if found.status_code == 200 else found.text[:200]

        async def refused() -> bool:
            return await state() == "bad_address"

        await wait_until(refused, within=60, interval=0.3)

        # A viewer sees why, and is offered nothing to do.
        await log_in(page, stack, "viewer")
        await page.get_by_role("link", name="Orders").click()
        await page.locator("#supplier-state").select_option(label="address refused")
        row = (
            page.locator("#supplier-orders-list").get_by_role("row").filter(has_text=order.order_id)
        )
        await row.get_by_role("button", name="Open").click()
        detail = page.locator("#supplier-order")
        await expect(page.locator("#supplier-order-state")).to_have_text("address refused")
        await expect(detail).to_contain_text(
            "Incorrect postcode format. A postcode there looks like 00-001. (ER004)"
        )
        await expect(page.locator("#supplier-order-address")).to_contain_text("3O-OO1 Kraków")
        await expect(detail).to_contain_text("An operator can correct the address")
        await expect(detail.get_by_role("button")).to_have_count(0)
        await page.get_by_role("button", name="Log out").click()

        await log_in(page, stack, "operator")
        await page.get_by_role("link", name="Orders").click()
        await page.locator("#supplier-state").select_option(label="address refused")
        await row.get_by_role("button", name="Open").click()
        await expect(page.locator("#supplier-order-state")).to_have_text("address refused")
        # Not a Polish postcode: the connector refuses it as BigBuy would, nothing is sent.
        await page.get_by_label("Postcode").fill("30001")
        await page.get_by_role("button", name="Correct the address and send again").click()
        result = page.locator("#supplier-order-result")
        await expect(result).to_have_text(
            "bigbuy refused: BigBuy would refuse this address (shippingAddress.postcode:"
            " not a postcode of PL (like 00-001)) [422 invalid_address]"
        )
        assert await state() == "bad_address"
        await screenshot(page, "supplier-order-address")
        await page.get_by_label("Postcode").fill("30-001")
        await page.get_by_role("button", name="Correct the address and send again").click()
        await expect(result).to_have_text(
            f"Order {order.order_id} is sent again to Anna Nowak, ul. Przykładowa 5/2,"
            " 30-001 Kraków, PL, +48500100200, buyer@example.pl (now new)."
        )
        await expect(page.locator("#supplier-order-address")).to_contain_text("30-001 Kraków")

        async def sent() -> bool:
            return await state() == "sent"

        await wait_until(sent, within=60, interval=0.3)
        placed = [
            o
            for o in stack.bigbuy.admin("GET", "/orders")
            if o["internalReference"] == order.order_id
        ]
        assert [o["shippingAddress"]["postcode"] for o in placed] == ["30-001"]
        await page.locator("#supplier-state").select_option(label="at BigBuy")
        await row.get_by_role("button", name="Open").click()
        await expect(page.locator("#supplier-order-state")).to_have_text("at BigBuy")

"""The console in a real browser (Debian's chromium, headless, through Playwright) against the
real services and the Allegro emulator over HTTP. Each test logs in with a real API key of a
role and acts only through the pages; what it sets up beforehand (a shop, a catalogue for
pricing, an order placed by the emulator's buyer, a dead letter) goes through the services'
APIs or the emulator's admin API, as an operator's earlier work or Allegro would."""

from __future__ import annotations

import uuid
from pathlib import Path
from typing import Any

import aio_pika
import httpx
import orjson
from playwright.async_api import FilePayload, Locator, Page, expect

from mci_testing.bus import Bus
from mci_testing.infra import wait_until
from shared.events import AccountDisconnected, Envelope, SupplierShipmentSent
from shared.messaging.consumer import (
    ERROR_HEADER,
    FAILURES_HEADER,
    REASON_HEADER,
    ROUTING_KEY_HEADER,
)

from .conftest import Stack, choose_shop, log_in, screenshot


def catalogue(tag: str) -> tuple[bytes, dict[str, str]]:
    """Three rows: one listable once its category is mapped, one without an EAN, one broken
    (no SKU). Returns the file and the names the tests look for."""
    names = {
        "category": f"Console > Tools {tag}",
        "good": f"CT-GOOD-{tag}",
        "no_ean": f"CT-NOEAN-{tag}",
    }

    def row(sku: str, ean: str | None) -> dict[str, Any]:
        return {
            "sku": sku,
            "ean": ean,
            "title": f"Cordless drill {sku}",
            "images": ["https://img.example.com/drill.jpg"],
            "category_path": names["category"],
            "brand": "Makita",
            "weight_kg": "1.5",
            "cost": {"amount": "40.00", "currency": "EUR"},
            "rrp": {"amount": "99.00", "currency": "EUR"},
            "stock": 12,
            # The responsible producer's data Allegro requires (GPSR).
            "attributes": {
                "gpsr_name": "Makita Corporation",
                "gpsr_address": "3-11-8 Sumiyoshi-cho, Anjo, Aichi 446-8502, Japan",
                "gpsr_contact": "product.safety@makita.example",
            },
        }

    first12 = f"590{int(uuid.uuid4().hex[:9], 16) % 10**9:09d}"
    weighted = sum(int(d) * (3 if i % 2 else 1) for i, d in enumerate(first12))
    ean = names["ean"] = first12 + str(-weighted % 10)  # EAN-13 with its check digit
    body = b"".join(
        orjson.dumps(r) + b"\n"
        for r in (
            row(names["good"], ean),
            row(names["no_ean"], None),
            {"title": "a row without a SKU", "cost": {"amount": "1", "currency": "EUR"}},
        )
    )
    return body, names


async def test_a_wrong_key_is_refused_in_words(page: Page, stack: Stack) -> None:
    await page.goto(stack.console)
    await page.get_by_label("API key").fill("mcik_unknown_notakey")
    await page.get_by_role("button", name="Log in").click()
    await expect(page.get_by_role("alert")).to_contain_text("Your API key was refused")
    await expect(page.locator("#top")).to_be_hidden()


async def test_a_viewer_sees_but_is_not_offered_actions(page: Page, stack: Stack) -> None:
    shop = await stack.new_shop("viewed")
    await log_in(page, stack, "viewer")
    await expect(page.get_by_role("heading", name="Shops")).to_be_visible()
    row = page.get_by_role("row").filter(has_text=shop["alias"])
    await expect(row.locator("[data-status]")).to_have_text("Not connected yet")
    await expect(page.get_by_role("button", name="Add shop")).to_have_count(0)
    await expect(page.get_by_role("button", name="Connect at Allegro")).to_have_count(0)
    await expect(page.get_by_role("link", name="Dead letters")).to_have_count(0)
    # A page above the role is not offered even by its address ...
    await page.goto(f"{stack.console}/#/dead-letters")
    await expect(page.get_by_role("heading", name="Shops")).to_be_visible()
    # ... and the service refuses the action itself through the console's proxy.
    refused = await page.evaluate(
        """async () => {
            const r = await fetch('/api/orders/admin/dlq/orders.accounts/replay', {
                method: 'POST',
                headers: {Authorization: 'Bearer ' + sessionStorage.getItem('mci.apiKey')},
            });
            return [r.status, (await r.json()).error.code];
        }"""
    )
    assert refused == [403, "forbidden"]


async def test_a_shop_is_added_and_connected_through_oauth_at_the_emulator(
    page: Page, stack: Stack
) -> None:
    login = stack.emulator.new_seller()["login"]
    alias = f"browser-shop-{uuid.uuid4().hex[:6]}"
    await log_in(page, stack, "operator")
    await page.get_by_label("Name").fill(alias)
    await page.get_by_role("button", name="Add shop").click()
    await expect(page.get_by_role("status")).to_contain_text(f"Shop {alias} added")
    row = page.get_by_role("row").filter(has_text=alias)
    await expect(row).to_contain_text("Not connected yet")
    await row.get_by_role("button", name="Connect at Allegro").click()
    await page.get_by_role("link", name="Log in at Allegro").click()
    # Allegro's (the emulator's) consent page: the seller picks the account and allows.
    await page.locator("select[name=login]").select_option(login)
    await page.get_by_role("button", name="Pozwól").click()
    await expect(page.get_by_role("status")).to_contain_text(
        f"Shop {alias} is connected as Allegro seller {login}."
    )
    assert "code=" not in page.url
    await page.get_by_role("link", name="Back to the shops").click()
    row = page.get_by_role("row").filter(has_text=alias)
    await expect(row.locator("[data-status]")).to_have_text("Connected")
    await expect(row).to_contain_text(login)
    await expect(row).to_contain_text("45000")  # catalog's default product cap
    # An operator acts on shops, but deleting one and the dead letters are an admin's.
    await expect(row.get_by_role("button", name="Reconnect at Allegro")).to_be_visible()
    await expect(page.get_by_role("button", name="Delete")).to_have_count(0)
    await expect(page.get_by_role("link", name="Dead letters")).to_have_count(0)
    await screenshot(page, "shops")


async def test_a_shop_whose_token_allegro_refuses_is_shown_failing(
    page: Page, stack: Stack
) -> None:
    shop = await stack.connected_shop("revoked")
    async with stack.http("orders", "viewer") as orders:

        async def polled() -> bool:
            rows = (await orders.get("/import/accounts", params={"limit": 1000})).json()["items"]
            return any(r["account_id"] == shop["id"] and r["last_polled_at"] for r in rows)

        await wait_until(polled, within=60, interval=0.3)
        # The seller withdraws the app's access at Allegro.
        stack.emulator.admin("POST", "/oauth/revoke", {"login": shop["login"]})

        async def failing() -> bool:
            rows = (await orders.get("/import/accounts", params={"limit": 1000})).json()["items"]
            return any(r["account_id"] == shop["id"] and r["status"] != "connected" for r in rows)

        await wait_until(failing, within=60, interval=0.3)
    await log_in(page, stack, "viewer")
    row = page.get_by_role("row").filter(has_text=shop["alias"])
    await expect(row.locator("[data-status]")).to_contain_text("Token failing: ")
    await expect(row.locator("[data-status]")).to_have_class("status-problem")
    # The Orders page shows the failing import; a viewer cannot retry it, an operator can.
    await page.goto(f"{stack.console}/#/orders")
    failing_import = page.locator("#order-import").get_by_role("row").filter(has_text=shop["alias"])
    await expect(failing_import).to_contain_text("failed")
    await expect(failing_import.get_by_role("button", name="Retry the import")).to_have_count(0)
    await page.get_by_role("button", name="Log out").click()
    await log_in(page, stack, "operator")
    await page.goto(f"{stack.console}/#/orders")
    failing_import = page.locator("#order-import").get_by_role("row").filter(has_text=shop["alias"])
    await failing_import.get_by_role("button", name="Retry the import").click()
    await expect(page.locator("#order-import").get_by_role("status")).to_contain_text(
        f"The import of {shop['alias']} is polled again now"
    )


async def test_a_shop_is_connected_with_a_code_the_seller_types_at_allegro(
    page: Page, stack: Stack
) -> None:
    """The device flow: the page shows the code and Allegro's link, then watches the shop."""
    shop = await stack.new_shop("device")
    login = stack.emulator.new_seller()["login"]
    await log_in(page, stack, "operator")
    row = page.get_by_role("row").filter(has_text=shop["alias"])
    await row.get_by_role("button", name="Connect with a code").click()
    panel = page.locator("#connect-panel")
    code = await panel.locator("strong").inner_text()
    async with page.context.expect_page() as opened:
        await panel.get_by_role("link").click()
    allegro = await opened.value
    # The seller, at Allegro's (the emulator's) page, with the code already filled in.
    await expect(allegro.locator("input[name=code]")).to_have_value(code)
    await allegro.locator("select[name=login]").select_option(login)
    await allegro.get_by_role("button", name="Pozwól").click()
    # Allegro's tab is left to the browser's end: closing it mid-navigation once hung the test
    # (page.close has no timeout) under a benchmark's load.
    # auth asks Allegro every `interval` seconds (5, plus 5 at each slow_down Allegro answers,
    # more likely on a loaded machine): within the common bound (WAIT_MS).
    await expect(page.locator(".result").first).to_have_text(
        f"{shop['alias']} is connected as Allegro seller {login}."
    )


async def test_catalogue_import_errors_selection_and_a_not_listable_reason(
    page: Page, stack: Stack, tmp_path: Path
) -> None:
    shop = await stack.new_shop("catalogue")
    body, names = catalogue(uuid.uuid4().hex[:8])
    await log_in(page, stack, "operator")
    await choose_shop(page, shop["alias"])
    await page.goto(f"{stack.console}/#/catalogue")
    upload: FilePayload = {
        "name": "drills.jsonl",
        "mimeType": "application/octet-stream",
        "buffer": body,
    }
    await page.locator("#import-file").set_input_files(files=[upload])
    await page.get_by_label("Format").select_option("jsonl")
    await page.get_by_role("button", name="Import", exact=True).click()
    imports = page.locator("#imports")
    await expect(imports.locator(".result")).to_contain_text(
        "Imported drills.jsonl: 2 valid rows, 1 rejected"
    )
    rejected = page.locator("#import-errors")
    await expect(rejected.get_by_role("row").nth(1)).to_contain_text("3")  # the file's line
    async with page.expect_download() as download_info:
        await imports.get_by_role("button", name="Download errors (CSV)").first.click()
    download = await download_info.value
    saved = tmp_path / download.suggested_filename
    await download.save_as(saved)
    text = saved.read_bytes().decode()
    assert text == "line,sku,field,code,reason\r\n3,,sku,required,required\r\n"

    # Map the supplier category, then preview and save a selection of it.
    mapping = page.locator("#mapping")
    await expect(mapping).to_contain_text(names["category"])
    await page.get_by_label("Supplier category").fill(names["category"])
    await page.get_by_label("Allegro category id").fill("257931")
    await mapping.get_by_role("button", name="Map").click()
    await expect(mapping.locator(".result")).to_contain_text("Mapped")
    await page.get_by_label("include categories").fill(names["category"])
    selection = page.locator("#selection")
    await selection.get_by_role("button", name="Preview").click()
    await expect(selection.locator(".result")).to_have_text(
        "Preview: 1 of 2 selected products can be listed, within the cap (45000)."
    )
    await expect(page.locator("#selection-preview")).to_contain_text("no ean")
    await selection.get_by_role("button", name="Save selection").click()
    await expect(selection.locator(".result")).to_contain_text("Selection saved: 1 products")

    # The not-listable product, grouped under its reason in words, with the fix.
    await page.reload()
    group = page.locator("#not-listable [data-reason=no_ean]")
    await expect(group.get_by_role("heading")).to_have_text(
        "no EAN: no Allegro catalogue product to attach the offer to - 1 product"
    )
    await expect(group).to_contain_text("How to fix: Add the EAN")
    await expect(page.locator("#not-listable [data-reason]")).to_have_count(1)
    await screenshot(page, "catalogue")
    await group.get_by_role("link", name=names["no_ean"]).click()
    product = page.locator("#product")
    await expect(product.get_by_role("row", name="EAN none", exact=True)).to_be_visible()
    await expect(page.locator("#listability li")).to_have_text(
        [
            "no EAN: no Allegro catalogue product to attach the offer to. How to fix: Add the EAN"
            " in the supplier's data; without one Allegro has no catalogue product to attach the"
            " offer to."
        ]
    )
    await expect(product).to_contain_text(f"No price computed for {names['no_ean']}")
    await page.get_by_label("Offer title").fill("  Makita   cordless drill 18 V ")
    await page.get_by_role("button", name="Set title").click()
    await expect(page.locator("#title-result")).to_contain_text(
        'Title set to "Makita cordless drill 18 V";'
    )
    async with stack.http("catalog", "viewer") as catalog:
        stored = (await catalog.get(f"/products/{names['no_ean']}")).json()
    assert stored["operator_title"] == "Makita cordless drill 18 V"
    await screenshot(page, "product")

    # Found again by its EAN or words of its title (one match: opened), and by a word both
    # products' titles hold (two: listed to choose from).
    await page.get_by_role("link", name="Product", exact=True).click()
    search = page.get_by_label("SKU, EAN or title")
    await search.fill(names["ean"])
    await page.get_by_role("button", name="Find", exact=True).click()
    await expect(page.get_by_role("status")).to_have_text(f"Found {names['good']} (by its EAN).")
    await expect(page.locator("#product h2").first).to_have_text(f"Cordless drill {names['good']}")
    await search.fill("makita CORDLESS drill 18")
    await page.get_by_role("button", name="Find", exact=True).click()
    await expect(page.get_by_role("status")).to_have_text(
        f"Found {names['no_ean']} (by its title)."
    )
    await expect(page.locator("#product h2").first).to_have_text("Makita cordless drill 18 V")
    tag = names["good"].removeprefix("CT-GOOD-")
    await search.fill(tag)
    await page.get_by_role("button", name="Find", exact=True).click()
    await expect(page.get_by_role("status")).to_have_text(f"2 products match {tag}: open one.")
    matches = page.locator("#product-matches")
    await expect(matches.get_by_role("row").filter(has_text=names["ean"])).to_contain_text(
        names["good"]
    )
    await matches.get_by_role("button", name=f"Open {names['no_ean']}").click()
    await expect(page.locator("#product h2").first).to_have_text("Makita cordless drill 18 V")

    # The shop lists products without an EAN too, under a cap of one: the preview says so.
    await page.get_by_role("link", name="Catalogue").click()
    await page.get_by_label("Product cap").fill("1")
    await page.get_by_label("no ean").check()
    listing = page.locator("#listing")
    await listing.get_by_role("button", name="Save listing settings").click()
    await expect(listing.locator(".result")).to_contain_text(
        "Listing settings saved: cap 1, kept by margin, listed despite no ean;"
    )
    selection = page.locator("#selection")
    await selection.get_by_role("button", name="Preview").click()
    await expect(selection.locator(".result")).to_have_text(
        "Preview: 2 of 2 selected products can be listed; the cap (1) leaves 1 of them out."
    )


async def test_a_coverage_report_is_followed_to_its_end(page: Page, stack: Stack) -> None:
    """catalog asks Allegro (the emulator) about each EAN as the shop; the page follows the
    report's progress until it is done and says the counts in words."""
    shop = await stack.connected_shop("coverage")
    body, names = catalogue(uuid.uuid4().hex[:8])
    async with stack.http("catalog") as catalog:
        imported = await catalog.post("/imports", params={"format": "jsonl"}, content=body)
        assert imported.status_code == 200, imported.text
        saved = await catalog.put(
            f"/accounts/{shop['id']}/selection",
            json={"include": {"skus": [names["good"], names["no_ean"]]}},
        )
        assert saved.is_success, saved.text
    await log_in(page, stack, "operator")
    await choose_shop(page, shop["alias"])
    await page.goto(f"{stack.console}/#/catalogue")
    coverage = page.locator("#coverage")
    await expect(coverage).to_contain_text("No coverage report yet.")
    await coverage.get_by_role("button", name="Check coverage now").click()
    await expect(coverage.locator(".result")).to_contain_text(": done.")
    # The report walks the whole catalogue (other tests' products too): the bar is full.
    bar = coverage.get_by_label("coverage progress")
    total = await bar.get_attribute("max")
    assert total is not None and int(total) >= 2
    await expect(bar).to_have_attribute("value", total)
    rows = await coverage.locator("tbody tr").all()
    counts = {}
    for row in rows:
        label, value = await row.locator("td").all_inner_texts()
        counts[label] = value
    # Neither EAN is in Allegro's catalogue: one is made up, the other product has none.
    assert counts["selected"] == "2"
    assert counts["not in Allegro's catalogue"] == "2"
    assert counts["without an EAN"] == "1"
    assert counts["found in Allegro's catalogue (one product)"] == "0"


async def test_a_price_is_explained_and_a_rule_change_simulated(page: Page, stack: Stack) -> None:
    shop = await stack.new_shop("pricing")
    account = shop["id"]
    body, names = catalogue(uuid.uuid4().hex[:8])
    async with stack.http("catalog") as catalog, stack.http("pricing") as pricing:
        imported = await catalog.post("/imports", params={"format": "jsonl"}, content=body)
        assert imported.status_code == 200, imported.text
        rates = [
            {"base": "EUR", "quote": q, "rate": r, "source": "test", "as_of": "2026-11-30"}
            for q, r in (("PLN", "4.30"), ("CZK", "25.2"), ("HUF", "391.4"))
        ]
        assert (
            await pricing.put(f"/accounts/{account}/fx-rates", json={"rates": rates})
        ).is_success
        mapped = await catalog.put(
            "/category-mappings",
            json={"supplier_category": names["category"], "allegro_category_id": "257931"},
        )
        assert mapped.is_success, mapped.text
        saved = await catalog.put(
            f"/accounts/{account}/selection", json={"include": {"skus": [names["good"]]}}
        )
        assert saved.is_success, saved.text

        async def priced() -> bool:
            found = await pricing.get(f"/accounts/{account}/prices/{names['good']}/allegro-pl")
            return found.status_code == 200 and found.json()["amount"] is not None

        await wait_until(priced, within=60, interval=0.5)
        expected = (
            await pricing.get(f"/accounts/{account}/prices/{names['good']}/allegro-pl")
        ).json()

    await log_in(page, stack, "operator")
    await choose_shop(page, shop["alias"])
    await page.goto(f"{stack.console}/#/pricing")
    await page.get_by_label("SKU").fill(names["good"])
    await page.get_by_role("button", name="Show prices").click()
    prices = page.locator("#prices")
    await expect(prices.get_by_role("row").filter(has_text="allegro-pl")).to_contain_text(
        f"{expected['amount']} PLN"
    )
    await prices.get_by_role("button", name="Explain allegro-pl").click()
    chain = page.locator("#price-chain")
    await expect(chain.get_by_role("heading")).to_have_text(
        f"{names['good']} on allegro-pl: {expected['amount']} PLN"
    )
    steps = [step["step"] for step in expected["chain"]]
    await expect(chain.locator("tbody tr td:first-child")).to_have_text(steps)
    assert "cost" in steps and "fx" in steps

    rules = page.get_by_label("Rule set (JSON)")
    await rules.fill(
        '{"strategy": "margin", "rules": [{"scope": "brand", "value": "Makita",'
        ' "percentage": "80"}]}'
    )
    await page.get_by_role("button", name="Simulate").click()
    section = page.locator("#rules-section")
    await expect(section.locator(".result")).to_have_text(
        "Simulated on 1 products: 4 of 4 prices would change;"
        " the circuit breaker would let it through. Nothing was saved."
    )
    await expect(page.locator("#simulation")).to_be_visible()
    await rules.fill(
        '{"strategy": "margin", "rules": [{"scope": "brand", "value": "Makita",'
        ' "percentage": "-5"}]}'
    )
    await page.get_by_role("button", name="Save rules").click()
    await expect(section.get_by_role("alert")).to_have_text(
        "pricing refused: rules.0.percentage: a percentage must be >= 0 [422 negative_percentage]"
    )
    # Nothing was saved: the price and its rule version are those of before.
    async with stack.http("pricing") as pricing:
        after = await pricing.get(f"/accounts/{account}/prices/{names['good']}/allegro-pl")
    assert after.json()["amount"] == expected["amount"]

    # A change the circuit breaker holds (every price moves), then confirmed in its list.
    await rules.fill(
        '{"strategy": "margin", "rules": [{"scope": "brand", "value": "Makita",'
        ' "percentage": "80"}], "circuit_breaker": {"max_share": "0", "max_change_pct": "1",'
        ' "min_items": 1}}'
    )
    await page.get_by_role("button", name="Save rules").click()
    await expect(section.locator(".result")).to_contain_text("held by the circuit breaker")
    holds = page.locator("#holds")
    held = holds.get_by_role("row").filter(has_text="prices would move")
    await expect(held).to_contain_text("4 of 4 prices would move by more than the limit")
    await screenshot(page, "pricing")
    await held.get_by_role("button", name="Confirm").click()
    await expect(holds.locator(".result")).to_contain_text("confirmed: the change is applied")
    await expect(holds).to_contain_text("Nothing held.")
    async with stack.http("pricing") as pricing:
        changed = await pricing.get(f"/accounts/{account}/prices/{names['good']}/allegro-pl")
    assert changed.json()["amount"] != expected["amount"]


async def test_an_order_placed_at_allegro_is_listed_and_opened(page: Page, stack: Stack) -> None:
    shop = await stack.connected_shop("orders")
    offer = stack.active_offer(shop["login"])
    form = stack.emulator.admin("POST", "/orders", {"offerId": offer})
    async with stack.http("orders", "viewer") as orders:

        async def imported() -> bool:
            found = await orders.get(f"/orders/{form['id']}")
            return found.status_code == 200 and found.json()["received_at"] is not None

        await wait_until(imported, within=60, interval=0.5)
    # Handed to fulfilment: the BigBuy connector receives it (and BigBuy refuses its SKU).
    async with httpx.AsyncClient(
        base_url=stack.url("bigbuy"),
        headers={"Authorization": f"Bearer {stack.keys['viewer']}"},
        timeout=60,
    ) as bigbuy:

        async def settled() -> bool:
            found = await bigbuy.get(f"/supplier-orders/{form['id']}")
            return found.status_code == 200 and found.json()["state"] not in ("new", "sending")

        await wait_until(settled, within=60, interval=0.5)
        supplier = (await bigbuy.get(f"/supplier-orders/{form['id']}")).json()

    await log_in(page, stack, "viewer")
    await page.goto(f"{stack.console}/#/orders")
    await page.get_by_label("Orders of shop").select_option(label=shop["alias"])
    await page.get_by_role("button", name="List orders").click()
    row = page.get_by_role("row").filter(has_text=form["id"])
    await expect(row).to_contain_text("READY_FOR_PROCESSING")
    await expect(row).to_contain_text(shop["alias"])
    await row.get_by_role("button", name="Open").click()
    detail = page.locator("#order")
    await expect(detail.get_by_role("heading", name=f"Order {form['id']}")).to_be_visible()
    buyer = form["buyer"]["login"]
    await expect(detail.get_by_role("row").filter(has_text="Buyer")).to_contain_text(buyer)
    line = form["lineItems"][0]
    await expect(detail.get_by_role("row").filter(has_text=line["offer"]["name"])).to_contain_text(
        f"{line['price']['amount']} {line['price']['currency']}"
    )
    await expect(
        detail.get_by_role("row").filter(has_text="Handed to fulfilment")
    ).not_to_contain_text("not yet")
    await expect(page.locator("#order-import")).to_contain_text(shop["alias"])
    at_supplier = page.locator("#supplier-order")
    await expect(at_supplier.get_by_role("row").filter(has_text="Why")).to_contain_text(
        f"({supplier['error_code']})"
    )
    await expect(at_supplier).to_contain_text(supplier["error"]["message"])
    await screenshot(page, "orders")
    # Found by its id too; an unknown id is said in words.
    await page.get_by_label("Checkout form id").fill("no-such-order")
    await page.get_by_role("button", name="Find order").click()
    await expect(page.get_by_role("alert")).to_contain_text("orders refused")


async def test_an_order_is_followed_to_its_tracking_on_allegro_and_a_failed_write_back_retried(
    page: Page, stack: Stack
) -> None:
    """Allegro -> the supplier -> tracking back on one order: the supplier's shipment (as the
    BigBuy connector sends it upstream) is refused by Allegro (a waybill in too many orders),
    shown failed with Allegro's words, retried by an operator and written to Allegro."""
    shop = await stack.connected_shop("trail")
    sku = f"CT-TRAIL-{uuid.uuid4().hex[:8]}"
    offer = stack.emulator.active_offer(shop["login"], sku=sku, stock=50)
    form = stack.emulator.admin("POST", "/orders", {"offerId": offer})
    waybill = f"DPD{uuid.uuid4().hex[:10].upper()}"
    async with stack.http("orders", "viewer") as orders:

        async def imported() -> bool:
            found = await orders.get(f"/orders/{form['id']}")
            return found.status_code == 200 and found.json()["received_at"] is not None

        await wait_until(imported, within=60, interval=0.5)

        async def write_back(state: str) -> bool:
            found = await orders.get("/write-backs", params={"checkout_form_id": form["id"]})
            return [w["state"] for w in found.json()["items"]] == [state]

        # Allegro takes a waybill on a limited number of orders: none now, so it refuses it.
        limit = stack.emulator.admin("GET", "/config")["waybill_max_orders"]
        stack.emulator.admin("PUT", "/config", {"waybill_max_orders": 0})
        try:
            bus = await Bus.open(stack.amqp_url)
            try:
                shipped = SupplierShipmentSent(
                    account_id=shop["id"],
                    order_id=form["id"],
                    carrier_id="DPD",
                    tracking_number=waybill,
                )
                await bus.publish(shipped, source="bigbuy")
            finally:
                await bus.close()
            await wait_until(lambda: write_back("failed"), within=60, interval=0.5)
        finally:
            stack.emulator.admin("PUT", "/config", {"waybill_max_orders": limit})

    # A viewer finds it across shops by its buyer and SKU, reads the whole trail and why it
    # stopped, and is offered no retry.
    await log_in(page, stack, "viewer")
    await page.goto(f"{stack.console}/#/orders")
    await page.get_by_label("Orders of shop").select_option(label="every shop")
    await page.get_by_label("Buyer login").fill(form["buyer"]["login"])
    await page.get_by_label("SKU", exact=True).fill(sku)
    await page.get_by_role("button", name="List orders").click()
    await expect(page.locator("#orders-list").get_by_role("row")).to_have_count(2)  # + header
    listed = page.locator("#orders-list").get_by_role("row").filter(has_text=form["id"])
    await expect(listed).to_contain_text(shop["alias"])
    await expect(listed).to_contain_text(form["buyer"]["login"])
    await listed.get_by_role("button", name="Open").click()
    trail = page.locator("#order-trail")
    await expect(trail).to_contain_text("Read from Allegro: READY_FOR_PROCESSING")
    await expect(trail).to_contain_text(
        "Paid on Allegro: imported and handed to fulfilment (the supplier)"
    )
    await expect(trail).to_contain_text(f"Shipped by the supplier: DPD {waybill}")
    refused = trail.get_by_role("row").filter(has_text=f"tracking: DPD {waybill}")
    await expect(refused.locator("[data-write-back]")).to_have_text("failed")
    await expect(refused).to_contain_text("This waybill is used in too many orders")
    await expect(trail).to_contain_text("Writing to Allegro failed")
    failed = page.locator("#failed-write-backs").get_by_role("row").filter(has_text=form["id"])
    await expect(failed).to_contain_text(shop["alias"])
    await expect(page.get_by_role("button", name="Retry the write-back")).to_have_count(0)
    await expect(failed.get_by_role("button", name="Retry")).to_have_count(0)

    # An operator retries it: orders writes the tracking to Allegro and says so.
    await page.get_by_role("button", name="Log out").click()
    await log_in(page, stack, "operator")
    await page.goto(f"{stack.console}/#/orders")
    await page.get_by_label("Checkout form id").fill(form["id"])
    await page.get_by_role("button", name="Find order").click()
    await page.locator("#order-trail").get_by_role("button", name="Retry the write-back").click()
    await expect(page.locator("#write-back-result")).to_contain_text(
        f"The write-back of order {form['id']} (tracking: DPD {waybill}) is tried again"
    )
    await expect(page.locator("#order-trail")).to_contain_text("Writing to Allegro retried")
    async with stack.http("orders", "viewer") as orders:
        await wait_until(lambda: write_back("done"), within=60, interval=0.5)
    await page.get_by_role("button", name="Find order").click()
    trail = page.locator("#order-trail")
    done = trail.get_by_role("row").filter(has_text=f"tracking: DPD {waybill}")
    await expect(done.locator("[data-write-back]")).to_have_text("written to Allegro")
    await expect(trail).to_contain_text("Tracking on Allegro: shipment added")
    await expect(trail).to_contain_text("Fulfilment status SENT set on Allegro")
    await expect(
        page.locator("#failed-write-backs").get_by_role("row").filter(has_text=form["id"])
    ).to_have_count(0)
    await screenshot(page, "order-trail")
    # On Allegro (the emulator): the buyer's form carries the waybill.
    on_allegro = stack.emulator.admin("GET", f"/state?login={shop['login']}")
    assert waybill in orjson.dumps(on_allegro).decode()


async def dead_letter(amqp_url: str, account: str) -> str:
    """A message the orders consumer gave up on, as it leaves it in the DLQ; its id."""
    event = AccountDisconnected(account_id=account, alias=account, base_marketplace="allegro-pl")
    envelope = Envelope(
        type=event.event_type,
        source="auth",
        correlation_id=str(uuid.uuid4()),
        data=event.model_dump(mode="json"),
    )
    connection = await aio_pika.connect(amqp_url)
    async with connection:
        channel = await connection.channel(publisher_confirms=True)
        await channel.default_exchange.publish(
            aio_pika.Message(
                envelope.model_dump_json().encode(),
                message_id=str(envelope.id),
                type=envelope.type,
                delivery_mode=aio_pika.DeliveryMode.PERSISTENT,
                headers={
                    REASON_HEADER: "handler_failed",
                    FAILURES_HEADER: 5,
                    ERROR_HEADER: "RuntimeError('the database said no')",
                    ROUTING_KEY_HEADER: event.routing_key,
                },
            ),
            routing_key="orders.accounts.dlq",
        )
    return str(envelope.id)


async def test_a_dead_letter_is_inspected_and_replayed_another_purged(
    page: Page, stack: Stack
) -> None:
    replayed, purged = f"dlq-{uuid.uuid4().hex[:8]}", f"dlq-{uuid.uuid4().hex[:8]}"
    replayed_id = await dead_letter(stack.amqp_url, replayed)
    purged_id = await dead_letter(stack.amqp_url, purged)

    # On the console whose offers is down: the page names it and shows the others.
    await log_in(page, stack, "admin", stack.degraded_console)
    await page.get_by_role("link", name="Dead letters").click()

    def depth() -> Locator:
        orders = page.locator("section[data-service=orders]")
        return orders.get_by_role("row").filter(has_text="orders.accounts").locator("td").nth(1)

    await expect(depth()).to_have_text("2")
    await expect(page.locator("section[data-service=offers]")).to_contain_text(
        "The offers service cannot be reached."
    )
    show = page.get_by_role("button", name="Show orders.accounts")
    await show.click()
    letters = page.locator("#dead-letters")
    letter = letters.get_by_role("row").filter(has_text=replayed_id)
    await expect(letter).to_contain_text("handler_failed")
    await expect(letter).to_contain_text("the database said no")
    await letter.get_by_role("button", name="Inspect").click()
    await expect(page.locator("#dead-letter-body")).to_contain_text(replayed)
    await screenshot(page, "dead-letters")
    await letter.get_by_role("button", name="Replay").click()
    await expect(page.locator("#dead-letter-result")).to_have_text(
        "Replayed 1 message from orders orders.accounts."
    )
    await expect(depth()).to_have_text("1")

    page.once("dialog", lambda dialog: dialog.accept())  # "Drop this message ... for good?"
    await show.click()
    await (
        letters.get_by_role("row")
        .filter(has_text=purged_id)
        .get_by_role("button", name="Purge")
        .click()
    )
    await expect(page.locator("#dead-letter-result")).to_have_text(
        "Purged 1 message from orders orders.accounts."
    )
    await expect(depth()).to_have_text("0")
    # The replayed message was handled: orders now knows that account, disconnected; the
    # purged one is gone for good.
    async with stack.http("orders", "viewer") as http:

        async def handled() -> bool:
            rows = (await http.get("/import/accounts", params={"limit": 1000})).json()["items"]
            return any(r["account_id"] == replayed and r["status"] == "disconnected" for r in rows)

        await wait_until(handled, within=30, interval=0.3)
        rows = (await http.get("/import/accounts", params={"limit": 1000})).json()["items"]
        assert purged not in {r["account_id"] for r in rows}


async def test_an_admin_makes_a_key_that_then_logs_in_with_its_role(
    page: Page, stack: Stack
) -> None:
    name = f"night shift {uuid.uuid4().hex[:6]}"
    await log_in(page, stack, "admin")
    await page.get_by_role("link", name="API keys").click()
    await page.get_by_label("Name").fill(name)
    await page.get_by_label("Role").select_option("viewer")
    await page.get_by_role("button", name="Create key").click()
    await expect(page.get_by_role("status")).to_have_text(f"Key {name} (viewer) created.")
    key = await page.locator("#new-key code").inner_text()
    assert key.startswith("mcik_")
    await page.get_by_role("button", name="Log out").click()
    await page.get_by_label("API key").fill(key)
    await page.get_by_role("button", name="Log in").click()
    await expect(page.get_by_text("role: viewer")).to_be_visible()
    await expect(page.get_by_role("link", name="API keys")).to_have_count(0)


async def test_the_proxy_answers_for_the_running_services(stack: Stack) -> None:
    async with httpx.AsyncClient(base_url=stack.console, timeout=30) as http:
        depths = await http.get(
            "/api/orders/admin/dlq", headers={"Authorization": f"Bearer {stack.keys['admin']}"}
        )
        assert depths.status_code == 200
        assert "orders.accounts" in depths.json()
        anonymous = await http.get("/api/auth/accounts")
        assert anonymous.status_code == 401
        assert anonymous.json()["error"]["code"] == "unauthenticated"

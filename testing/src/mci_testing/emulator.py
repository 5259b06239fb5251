"""The Allegro emulator served over real HTTP for the platform's tests (one per test session).

Tests isolate themselves by creating their own sellers (unique logins) through the admin API.
"""

from __future__ import annotations

import threading
import time
import uuid
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

import httpx
import pytest
import uvicorn

from mci_testing.infra import free_port
from shared.events import CatalogItem

DEMO_CLIENT_ID = "demo-client"
DEMO_CLIENT_SECRET = "demo-secret"
MEDIA_TYPE = "application/vnd.allegro.public.v1+json"
# The responsible producer (GPSR) that test sellers register and test offers name.
SAFETY_INFORMATION = "Chronić przed dziećmi. Instrukcja w języku polskim w opakowaniu."


def responsible_producer(
    name: str = "Fabryka Testowa", trade_name: str = "Fabryka Testowa sp. z o.o."
) -> dict[str, Any]:
    """A GPSR responsible producer as Allegro takes it (`/sale/responsible-producers`), and as
    an operator gives offers' readiness check to create."""
    return {
        "name": name,
        "producerData": {
            "tradeName": trade_name,
            "address": {
                "countryCode": "PL",
                "street": "ul. Fabryczna 1",
                "postalCode": "60-001",
                "city": "Poznań",
            },
            "contact": {"email": "gpsr@fabryka.example"},
        },
    }


def catalog_item(
    row: Mapping[str, Any], sku: str, revision: int = 1, stock: int = 5, **fields: Any
) -> CatalogItem:
    """The catalogue item catalog would send for a row of the emulator's supplier catalogue
    (a `/__admin/catalogue/sample` row, or `allegro_emulator.seed.supplier_product`): its EAN,
    name, images, category, brand and weight. `fields` add to it or replace (`listed=False`,
    `handling_days`, `attributes`, ...)."""
    content: dict[str, Any] = {
        "listed": True,
        "ean": row["ean"],
        "title": row["name"],
        "images": row["images"],
        "allegro_category_id": row["allegro_category_id"],
        "brand": row["brand"],
        "weight_kg": Decimal(str(row["weight_kg"])),
    }
    return CatalogItem(sku=sku, revision=revision, stock=stock, **{**content, **fields})


RESPONSIBLE_PRODUCER: dict[str, Any] = {
    "name": "Producent testowy",
    "producerData": {
        "tradeName": "Fabryka Testowa sp. z o.o.",
        "address": {
            "countryCode": "PL",
            "street": "ul. Fabryczna 1",
            "postalCode": "60-001",
            "city": "Poznań",
        },
        "contact": {"email": "gpsr@fabryka.example", "phoneNumber": "+48 600 000 000"},
    },
}


@dataclass
class EmulatorHandle:
    url: str
    server: uvicorn.Server

    def admin(self, method: str, path: str, json: Any = None) -> Any:
        response = httpx.request(method, f"{self.url}/__admin{path}", json=json, timeout=30)
        response.raise_for_status()
        return response.json()

    def new_seller(self, **fields: Any) -> dict[str, Any]:
        login = fields.pop("login", None) or f"seller-{uuid.uuid4().hex[:10]}"
        result: dict[str, Any] = self.admin("POST", "/sellers", {"login": login, **fields})
        return result

    def token_for(self, login: str) -> dict[str, Any]:
        result: dict[str, Any] = self.admin("POST", "/tokens", {"login": login})
        return result

    def active_offer(
        self, login: str, *, sku: str | None = None, stock: int = 5, price: str = "49.90"
    ) -> str:
        """An ACTIVE offer of a new seller `login`, linked to a catalogue product only one EAN
        matches (what a buyer can buy), its responsible producer registered first. Made through
        Allegro's API, as a seller would, not by the platform."""
        token = self.token_for(login)["access_token"]
        headers = {
            "Authorization": f"Bearer {token}",
            "Accept": MEDIA_TYPE,
            "Content-Type": MEDIA_TYPE,
        }
        rows = self.admin("GET", "/catalogue/sample?n=50")["rows"]
        ean = next(r["ean"] for r in rows if r["allegroProducts"] == 1)
        with httpx.Client(base_url=self.url, headers=headers, timeout=30) as api:
            api.post("/sale/responsible-producers", json=RESPONSIBLE_PRODUCER).raise_for_status()
            made = api.post(
                "/sale/product-offers",
                json={
                    "productSet": [
                        {
                            "product": {"id": ean, "idType": "GTIN"},
                            "responsibleProducer": {
                                "type": "NAME",
                                "name": RESPONSIBLE_PRODUCER["name"],
                            },
                            "safetyInformation": {"type": "TEXT", "description": "Chronić."},
                        }
                    ],
                    "parameters": [{"id": "11323", "valuesIds": ["11323_1"]}],
                    "sellingMode": {"price": {"amount": price, "currency": "PLN"}},
                    "stock": {"available": stock, "unit": "UNIT"},
                    "publication": {"status": "ACTIVE"},
                    "external": {"id": sku or f"SKU-{uuid.uuid4().hex[:8]}"},
                },
            )
            made.raise_for_status()
            offer_id = str(made.json()["id"])
            deadline = time.monotonic() + 30
            # A 202 is still being processed: wait until Allegro shows it ACTIVE.
            while (
                api.get(f"/sale/product-offers/{offer_id}")
                .json()
                .get("publication", {})
                .get("status")
                != "ACTIVE"
            ):
                if time.monotonic() > deadline:
                    raise AssertionError(f"offer {offer_id} never became active")
                time.sleep(0.1)
        return offer_id

    def paid_order(self, offer_id: str) -> dict[str, Any]:
        """A buyer buys the offer and pays: the checkout form."""
        form: dict[str, Any] = self.admin("POST", "/orders", {"offerId": offer_id})
        return form


def start_emulator(**overrides: Any) -> EmulatorHandle:
    from allegro_emulator.app import create_app
    from allegro_emulator.config import EmulatorConfig

    port = free_port()
    config = EmulatorConfig.from_env({}, host="127.0.0.1", port=port, **overrides)
    server = uvicorn.Server(
        uvicorn.Config(create_app(config), host="127.0.0.1", port=port, log_level="warning")
    )
    threading.Thread(target=server.run, daemon=True, name="allegro-emulator").start()
    deadline = time.monotonic() + 30
    while not server.started:
        if time.monotonic() > deadline:
            raise RuntimeError("the Allegro emulator did not start")
        time.sleep(0.05)
    return EmulatorHandle(f"http://127.0.0.1:{port}", server)


@pytest.fixture(scope="session")
def allegro_emulator() -> Iterator[EmulatorHandle]:
    handle = start_emulator(catalogue_size=20_000)
    yield handle
    handle.server.should_exit = True

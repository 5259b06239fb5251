"""Shared steps for the scenario tests."""

from __future__ import annotations

import time
import uuid
from typing import Any

from allegro_emulator.seed import allegro_presence, ean_for_row

from .conftest import Api, Server


def ean_with(server: Server, presence: int, skip: int = 0) -> str:
    """An EAN of the seeded catalogue with `presence` Allegro products (0, 1 or 2)."""
    spec = server.emu.catalogue
    found = [row for row in range(5000) if allegro_presence(spec, row) == presence]
    return ean_for_row(spec, found[skip])


_counter = iter(range(1, 10**9))

# The responsible producer every `api` seller gets (conftest) and the GPSR data offers carry.
PRODUCER = {
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
SAFETY: dict[str, Any] = {
    "responsibleProducer": {"type": "NAME", "name": PRODUCER["name"]},
    "safetyInformation": {"type": "TEXT", "description": "Chronić przed dziećmi."},
}


def offer_body(
    server: Server, *, status: str = "ACTIVE", stock: int = 10, price: str = "99.99", **extra: Any
) -> dict[str, Any]:
    body: dict[str, Any] = {
        "productSet": [
            {
                "product": {"id": ean_with(server, 1, next(_counter)), "idType": "GTIN"},
                **SAFETY,
            }
        ],
        "parameters": [{"id": "11323", "valuesIds": ["11323_1"]}],
        "sellingMode": {"price": {"amount": price, "currency": "PLN"}},
        "stock": {"available": stock, "unit": "UNIT"},
        "publication": {"status": status},
        "external": {"id": f"SKU-{uuid.uuid4().hex[:8]}"},
    }
    body.update(extra)
    return body


def create_offer(api: Api, server: Server, **kw: Any) -> dict[str, Any]:
    """Create an offer; when Allegro answers 202, follow the operation to the offer (303)."""
    return settled(api, api.post("/sale/product-offers", offer_body(server, **kw)))


def settled(api: Api, response: Any) -> dict[str, Any]:
    """The offer a 201 carries, or the one a 202's operation leads to (202 ... then 303)."""
    if response.status_code == 202:
        operation = response.headers["location"].replace(api.base_url, "")
        deadline = time.monotonic() + 10
        while (polled := api.get(operation)).status_code == 202:
            assert time.monotonic() < deadline, polled.text
            time.sleep(0.05)
        assert polled.status_code == 303
        response = api.get(polled.headers["location"].replace(api.base_url, ""))
        assert response.status_code == 200, response.text
    else:
        assert response.status_code == 201, response.text
    offer: dict[str, Any] = response.json()
    return offer


def wait_command(api: Api, path: str, command_id: str, total: int) -> dict[str, Any]:
    deadline = time.monotonic() + 5
    while True:
        report: dict[str, Any] = api.get(f"{path}/{command_id}").json()
        counts = report["taskCount"]
        if counts["total"] == total and counts["success"] + counts["failed"] == total:
            return report
        assert time.monotonic() < deadline, report
        time.sleep(0.05)


def offer_ids(*ids: str) -> list[dict[str, Any]]:
    return [{"type": "CONTAINS_OFFERS", "offers": [{"id": i} for i in ids]}]

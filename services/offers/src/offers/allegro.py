"""The Allegro calls of the offers service, through the platform's one Allegro client.

Paths, fields and statuses are those of Allegro's spec (sandbox/allegro/spec): after-sales
conditions, shipping rates, responsible producers, category parameters, `GET /sale/offers` by
`external.id`, `POST /sale/product-offers` (201, or 202 with `Location` and `Retry-after`),
its operation (202 until done, then 303 to the offer), `PATCH /sale/product-offers/{id}`,
`POST /sale/images` (on Allegro's upload host).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

import httpx

from shared.allegro import AllegroClient

DEFAULT_NAME = "default"
# Seconds to wait before polling an operation when Allegro gives no Retry-after.
DEFAULT_RETRY_AFTER = 5.0
# `GET /sale/offers` takes up to 100 `external.id` values.
EXTERNAL_IDS_PER_CALL = 100


@dataclass(frozen=True)
class Answer:
    """A product-offer write's answer: the offer now, or an operation still running."""

    status: int
    offer: dict[str, Any]
    operation_url: str | None = None
    retry_after: float = 0.0


def _retry_after(response: httpx.Response) -> float:
    raw = response.headers.get("retry-after")
    try:
        return max(0.0, float(raw)) if raw is not None else DEFAULT_RETRY_AFTER
    except ValueError:
        return DEFAULT_RETRY_AFTER


def _answer(response: httpx.Response) -> Answer:
    body = response.json() if response.content else {}
    if response.status_code == 202:
        return Answer(202, body, response.headers.get("location"), _retry_after(response))
    return Answer(response.status_code, body)


def default_of(items: list[dict[str, Any]], name: str = DEFAULT_NAME) -> dict[str, Any] | None:
    """The setting named `name` (any case), or the only one there is: Allegro's default rule."""
    named = [i for i in items if str(i.get("name", "")).lower() == name.lower()]
    if named:
        return named[0]
    return items[0] if len(items) == 1 and name == DEFAULT_NAME else None


async def return_policies(client: AllegroClient, account_id: str) -> list[dict[str, Any]]:
    body = await client.get(
        "/after-sales-service-conditions/return-policies", account_id=account_id
    )
    return list(body.get("returnPolicies") or [])


async def implied_warranties(client: AllegroClient, account_id: str) -> list[dict[str, Any]]:
    body = await client.get(
        "/after-sales-service-conditions/implied-warranties", account_id=account_id
    )
    return list(body.get("impliedWarranties") or [])


async def shipping_rates(client: AllegroClient, account_id: str) -> list[dict[str, Any]]:
    body = await client.get("/sale/shipping-rates", account_id=account_id)
    return list(body.get("shippingRates") or [])


async def responsible_producers(client: AllegroClient, account_id: str) -> list[dict[str, Any]]:
    body = await client.get("/sale/responsible-producers", account_id=account_id)
    return list(body.get("responsibleProducers") or [])


async def create_responsible_producer(
    client: AllegroClient, account_id: str, producer: dict[str, Any]
) -> dict[str, Any]:
    response = await client.post("/sale/responsible-producers", producer, account_id=account_id)
    found: dict[str, Any] = response.json()
    return found


async def category_parameters(
    client: AllegroClient, account_id: str, category_id: str
) -> list[dict[str, Any]]:
    body = await client.get(f"/sale/categories/{category_id}/parameters", account_id=account_id)
    return list(body.get("parameters") or [])


async def products_by_gtin(
    client: AllegroClient, account_id: str, gtin: str
) -> list[dict[str, Any]]:
    """Allegro's catalogue products carrying the EAN (none: 200 with an empty list)."""
    body = await client.get(
        "/sale/products", account_id=account_id, params={"phrase": gtin, "mode": "GTIN"}
    )
    return list(body.get("products") or [])


async def offers_by_external_ids(
    client: AllegroClient, account_id: str, skus: list[str]
) -> list[dict[str, Any]]:
    """The account's offers whose `external.id` is one of the SKUs (any publication status;
    at most `EXTERNAL_IDS_PER_CALL` SKUs a call)."""
    body = await client.get(
        "/sale/offers", account_id=account_id, params={"external.id": skus, "limit": 1000}
    )
    return list(body.get("offers") or [])


@dataclass(frozen=True)
class Upload:
    """An image Allegro now hosts: its location, and when Allegro removes it unless an offer
    uses it (None: Allegro gave no expiry)."""

    location: str
    expires_at: datetime | None


async def upload_image(
    client: AllegroClient, account_id: str, url: str, send_by: float | None = None
) -> Upload:
    """`POST /sale/images` with the supplier's URL (Allegro fetches it). Sent again after a
    5xx or a timeout: a second upload costs only a copy that expires unused."""
    response = await client.post(
        "/sale/images", {"url": url}, account_id=account_id, send_by=send_by, idempotent=True
    )
    body = response.json()
    expires = body.get("expiresAt")
    return Upload(
        str(body["location"]),
        datetime.fromisoformat(str(expires).replace("Z", "+00:00")) if expires else None,
    )


async def product_offer(client: AllegroClient, account_id: str, offer_id: str) -> dict[str, Any]:
    found: dict[str, Any] = await client.get(
        f"/sale/product-offers/{offer_id}", account_id=account_id
    )
    return found


async def create_product_offer(
    client: AllegroClient, account_id: str, body: dict[str, Any], send_by: float | None = None
) -> Answer:
    """`send_by`: the last moment the create may leave (see `publisher.create_send_by`)."""
    return _answer(
        await client.post("/sale/product-offers", body, account_id=account_id, send_by=send_by)
    )


async def edit_product_offer(
    client: AllegroClient, account_id: str, offer_id: str, body: dict[str, Any]
) -> Answer:
    return _answer(
        await client.patch(f"/sale/product-offers/{offer_id}", body, account_id=account_id)
    )


def _path(client: AllegroClient, url: str) -> str:
    """A Location as a path under the client's API URL (the client adds it back)."""
    base = client.settings.api_url.rstrip("/")
    if url.startswith(base):
        return url[len(base) :]
    parsed = httpx.URL(url)
    return parsed.raw_path.decode() if parsed.is_absolute_url else url


async def operation(client: AllegroClient, account_id: str, url: str) -> Answer:
    """An operation's state: 202 while it runs; once done the client follows the 303 and this
    is the offer (200)."""
    response = await client.request("GET", _path(client, url), account_id=account_id)
    return _answer(response)


# Allegro's batch command endpoints by the sync's kind of change (domain/sync.py).
COMMAND_PATHS = {
    "price": "/sale/offer-price-change-commands",
    "quantity": "/sale/offer-quantity-change-commands",
    "publication": "/sale/offer-publication-commands",
}


async def put_command(
    client: AllegroClient, account_id: str, kind: str, command_id: str, body: dict[str, Any]
) -> None:
    """`PUT .../{commandId}` (201); a command id Allegro already has is a 409. It spends one
    offer change of the seller's budget per offer named."""
    offers = sum(len(c.get("offers") or []) for c in body.get("offerCriteria") or [])
    await client.put(
        f"{COMMAND_PATHS[kind]}/{command_id}", body, account_id=account_id, cost=float(offers)
    )


async def command_report(
    client: AllegroClient, account_id: str, kind: str, command_id: str
) -> dict[str, Any]:
    """The command's summary: `completedAt` (null while its tasks run) and `taskCount`."""
    found: dict[str, Any] = await client.get(
        f"{COMMAND_PATHS[kind]}/{command_id}", account_id=account_id
    )
    return found


async def command_tasks(
    client: AllegroClient, account_id: str, kind: str, command_id: str
) -> list[dict[str, Any]]:
    """Every task of a command (one per offer; a command has at most 1,000)."""
    body = await client.get(
        f"{COMMAND_PATHS[kind]}/{command_id}/tasks",
        account_id=account_id,
        params={"limit": 1000, "offset": 0},
    )
    return list(body.get("tasks") or [])


# `GET /sale/offer-events` and `GET /sale/offers` answer at most this many a call.
PAGE_SIZE = 1000


async def offer_events(
    client: AllegroClient, account_id: str, after: str | None, limit: int = PAGE_SIZE
) -> list[dict[str, Any]]:
    """The account's offer events after the event id `after` (None: from the oldest Allegro
    keeps, 24 hours); an unknown or expired id is Allegro's 400."""
    params: dict[str, Any] = {"limit": limit}
    if after is not None:
        params["from"] = after
    body = await client.get("/sale/offer-events", account_id=account_id, params=params)
    return list(body.get("offerEvents") or [])


async def offers_page(
    client: AllegroClient, account_id: str, offset: int, limit: int = PAGE_SIZE
) -> tuple[list[dict[str, Any]], int]:
    """One page of all the account's offers (any publication status), and how many there are."""
    body = await client.get(
        "/sale/offers", account_id=account_id, params={"offset": offset, "limit": limit}
    )
    offers = list(body.get("offers") or [])
    return offers, int(body.get("totalCount") or 0)

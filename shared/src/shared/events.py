"""The platform's events: the envelope and one versioned pydantic model per event.

An event class describes the `data` of its envelope. `type`, `version` and the routing key are
class-level facts, so the AsyncAPI document and the topology can be derived from this module.
A change that breaks consumers gets a new class with `version = 2`, published beside version 1
until every consumer moved.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any, ClassVar, Literal, TypeVar

from pydantic import BaseModel, ConfigDict, Field

MarketplaceId = Literal["allegro-pl", "allegro-cz", "allegro-sk", "allegro-hu"]
EVENTS_EXCHANGE = "mci.events"
DEAD_LETTER_NOTE = (
    "Each consuming queue is a quorum queue with a delivery limit; a message its consumer "
    "keeps failing on goes to `<queue>.dlq` for an operator to inspect, replay or purge."
)
UPSTREAM_EXCHANGE = "mci.upstream"


class Envelope(BaseModel):
    """What travels on the wire (JSON body); AMQP `message_id` is `id`, `type` is `type`."""

    model_config = ConfigDict(extra="forbid")

    id: uuid.UUID = Field(default_factory=uuid.uuid4)
    type: str
    version: int = 1
    occurred_at: datetime = Field(default_factory=lambda: datetime.now(UTC))
    source: str
    correlation_id: str
    causation_id: str | None = None
    data: dict[str, Any]


class Event(BaseModel):
    """Base of every event's data."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    event_type: ClassVar[str]
    version: ClassVar[int] = 1
    routing_key: ClassVar[str]
    exchange: ClassVar[str] = EVENTS_EXCHANGE
    summary: ClassVar[str] = ""
    producer: ClassVar[str] = ""
    consumers: ClassVar[tuple[str, ...]] = ()
    # True: a platform service consumes it, so a publish no queue takes is a failure, retried
    # until its consumer's queue exists (it may simply not be declared yet). False: only for
    # subscribers outside the platform; published without `mandatory`, so an event nobody
    # has bound a queue for is dropped by the broker instead of waiting in the outbox forever.
    requires_consumer: ClassVar[bool] = True


E = TypeVar("E", bound=Event)


def parse_data(envelope: Envelope, event_class: type[E]) -> E:
    return event_class.model_validate(envelope.data)


class Money(BaseModel):
    model_config = ConfigDict(frozen=True)

    amount: Decimal = Field(description="Decimal amount, serialised as a string")
    currency: str = Field(min_length=3, max_length=3, description="ISO 4217 code")


# --- catalog ---------------------------------------------------------------------------------


class DescriptionItem(BaseModel):
    model_config = ConfigDict(frozen=True)

    type: Literal["TEXT", "IMAGE"]
    content: str | None = Field(
        default=None, description="TEXT: HTML of Allegro's tags only (h1, h2, p, ul, ol, li, b)"
    )
    url: str | None = Field(default=None, description="IMAGE: the supplier's image URL")


class DescriptionSection(BaseModel):
    model_config = ConfigDict(frozen=True)

    items: list[DescriptionItem]


class CatalogItem(BaseModel):
    model_config = ConfigDict(frozen=True)

    sku: str
    revision: int = Field(description="Per-product revision; apply only if newer than held")
    listed: bool = Field(description="false: the product left the selection, withdraw it")
    ean: str | None = None
    title: str | None = None
    description: str | None = Field(
        default=None,
        description="Sanitised HTML: Allegro's tags only, the description's images as <img src>",
    )
    description_sections: list[DescriptionSection] = Field(
        default_factory=list,
        description="The description in Allegro's format (description.sections)",
    )
    images: list[str] = Field(default_factory=list)
    supplier_category: str | None = None
    allegro_category_id: str | None = None
    allegro_category_ids: dict[MarketplaceId, str] = Field(
        default_factory=dict,
        description="Per-marketplace overrides of allegro_category_id (the marketplaces share"
        " Allegro's category tree, so this is rarely set)",
    )
    brand: str | None = None
    weight_kg: Decimal | None = None
    cost: Money | None = None
    rrp: Money | None = None
    stock: int | None = None
    attributes: dict[str, str] = Field(default_factory=dict)
    parent_sku: str | None = Field(
        default=None,
        description="For a variation: the parent SKU its siblings share (one Allegro variant"
        " set); each variation is an item of its own, with its own SKU and EAN",
    )
    variation: dict[str, str] = Field(
        default_factory=dict,
        description="For a variation: its attribute values, group name to value (for Allegro's"
        " parameters of the variant set)",
    )
    handling_days: int | None = Field(
        default=None,
        ge=0,
        description="Working days the supplier needs to ship the stock offered (the supplier"
        " record's `attributes.handling_days`); offers turn it into the offer's"
        " delivery.handlingTime, never shorter than the account's own. Optional and added"
        " within version 1: a consumer that does not know it ignores it",
    )


class CatalogUpdated(Event):
    event_type = "CatalogUpdated"
    producer = "catalog"
    consumers = ("pricing", "offers")
    routing_key = "catalog.updated"
    summary = "Products of an account's selection changed, entered it or left it (listed=false)."

    account_id: str
    items: list[CatalogItem]


# --- pricing ---------------------------------------------------------------------------------


class PricedItem(BaseModel):
    model_config = ConfigDict(frozen=True)

    sku: str
    catalog_revision: int
    prices: dict[MarketplaceId, Money] = Field(default_factory=dict)
    unpriced: dict[MarketplaceId, str] = Field(
        default_factory=dict, description="Marketplaces without a price, with the reason"
    )
    rule_id: str | None = None
    breakdown: dict[str, Any] = Field(default_factory=dict)


class PriceComputed(Event):
    event_type = "PriceComputed"
    producer = "pricing"
    consumers = ("offers",)
    routing_key = "price.computed"
    summary = "Selling prices per marketplace changed for some products of an account."

    account_id: str
    items: list[PricedItem]


# --- offers ----------------------------------------------------------------------------------


class FailureReason(BaseModel):
    model_config = ConfigDict(frozen=True)

    code: str
    message: str
    allegro_errors: list[dict[str, Any]] = Field(default_factory=list)


class OfferPublished(Event):
    event_type = "OfferPublished"
    producer = "offers"
    consumers = ("orders", "external")
    routing_key = "offer.published"
    summary = "An offer is live (or changed) on Allegro, with its state per marketplace."

    account_id: str
    sku: str
    offer_id: str
    marketplaces: dict[str, str]
    price: Money | None = None
    stock: int
    status: str


class OfferFailed(Event):
    event_type = "OfferFailed"
    producer = "offers"
    consumers = ("external", "dashboards")
    requires_consumer = False
    routing_key = "offer.failed"
    summary = "A product could not be listed or updated; the reason says why."

    account_id: str
    sku: str
    offer_id: str | None = None
    reason: FailureReason
    state: Literal["not_listable", "failed", "inactive"] = Field(
        default="failed",
        description="not_listable: the product or its data keep it off Allegro until they"
        " change or it is retried; failed: Allegro refused or did not answer; inactive: the"
        " offer exists but Allegro turned it into a draft (late validation)",
    )


class OfferEnded(Event):
    event_type = "OfferEnded"
    producer = "offers"
    consumers = ("external", "dashboards")
    requires_consumer = False
    routing_key = "offer.ended"
    summary = "An offer was ended (stock 0, withdrawn from the selection, or by Allegro)."

    account_id: str
    sku: str
    offer_id: str | None = None
    reason: FailureReason


# --- orders ----------------------------------------------------------------------------------


class OrderLine(BaseModel):
    model_config = ConfigDict(frozen=True)

    sku: str | None = Field(description="Our SKU: the offer's external id (None if it has none)")
    offer_id: str
    quantity: int
    unit_price: Money
    line_item_id: str | None = Field(default=None, description="Allegro line item id")


_ORDER_RECEIVED_EXAMPLE: dict[str, Any] = {
    "account_id": "acct-1",
    "order_id": "29d1c4b2-7c1f-4b57-9b8e-1f0a5a0c3d11",
    "marketplace_id": "allegro-pl",
    "buyer": {
        "id": "90000001",
        "login": "kupujacy1",
        "email": "buyer1@allegromail.pl",
        "firstName": "Jan",
        "lastName": "Kowalski",
        "phoneNumber": "+48600100200",
        "address": {
            "street": "Ogrodowa 1",
            "city": "Warszawa",
            "postCode": "00-001",
            "countryCode": "PL",
        },
    },
    "delivery": {
        "address": {
            "firstName": "Jan",
            "lastName": "Kowalski",
            "street": "Ogrodowa 1",
            "city": "Warszawa",
            "zipCode": "00-001",
            "countryCode": "PL",
            "phoneNumber": "+48600100200",
        },
        "method": {"id": "7203cb90-864c-4cab-b0a6-6a9b5d9f1d9b", "name": "Allegro Kurier DPD"},
        "pickup_point": None,
        "cost": {"amount": "0.00", "currency": "PLN"},
        "smart": False,
    },
    "lines": [
        {
            "sku": "SKU-1001",
            "offer_id": "17700000001",
            "quantity": 2,
            "unit_price": {"amount": "49.90", "currency": "PLN"},
            "line_item_id": "5a1e2b9c-0d7e-4f3a-8c6b-2e9d1f4a7b30",
        }
    ],
    "total": {"amount": "99.80", "currency": "PLN"},
    "paid_at": "2026-12-01T10:15:00Z",
    "revision": "a1b2c3d4",
    "invoice": None,
}


class OrderReceived(Event):
    event_type = "OrderReceived"
    producer = "orders"
    consumers = ("fulfilment (external)", "catalog", "bigbuy")
    routing_key = "order.received"
    summary = "A paid order (Allegro checkout form) is ready for fulfilment."
    model_config = ConfigDict(json_schema_extra={"examples": [_ORDER_RECEIVED_EXAMPLE]})

    account_id: str
    order_id: str = Field(description="Allegro checkout form id")
    marketplace_id: str
    buyer: dict[str, Any] = Field(
        description="id, login, email, firstName, lastName, phoneNumber, address (Allegro's)"
    )
    delivery: dict[str, Any] = Field(
        description="address, method {id, name}, pickup_point (null unless a pickup point),"
        " cost, smart"
    )
    lines: list[OrderLine]
    total: Money = Field(description="summary.totalToPay")
    paid_at: datetime | None = None
    revision: str = Field(description="The checkout form revision this was built from")
    invoice: dict[str, Any] | None = Field(
        default=None, description="Allegro's invoice data, only when the buyer asked for one"
    )


class OrderCancelled(Event):
    event_type = "OrderCancelled"
    producer = "orders"
    consumers = ("fulfilment (external)", "catalog", "bigbuy")
    routing_key = "order.cancelled"
    summary = "An order was cancelled on Allegro before it was fulfilled."

    account_id: str
    order_id: str
    reason: str


# --- accounts --------------------------------------------------------------------------------


class AccountConnected(Event):
    event_type = "AccountConnected"
    producer = "auth"
    consumers = ("offers", "orders")
    routing_key = "account.connected"
    summary = "An Allegro seller account is connected and has valid tokens."

    account_id: str
    alias: str
    base_marketplace: str
    allegro_user_id: str


class AccountDisconnected(Event):
    event_type = "AccountDisconnected"
    producer = "auth"
    consumers = ("offers", "orders")
    routing_key = "account.disconnected"
    summary = "An account's credentials were reset or removed; stop calling Allegro for it."

    account_id: str
    alias: str
    base_marketplace: str
    allegro_user_id: str | None = None


class AccountRefreshFailed(Event):
    event_type = "AccountRefreshFailed"
    producer = "auth"
    consumers = ("offers", "orders", "dashboards")
    routing_key = "account.refresh-failed"
    summary = "Allegro refused the refresh token; the account needs an operator to reconnect."

    account_id: str
    alias: str
    reason: str


# --- upstream: what external systems publish into the platform --------------------------------


class SupplierProduct(BaseModel):
    """A full or partial product record; absent fields are left as they are (partial update).

    A null field counts as absent (it never clears a stored value). The catalog applies the
    record's content, price and stock fields each only if `updated_at` is newer than the time
    it last changed that group, so records may arrive twice and out of order.
    """

    model_config = ConfigDict(frozen=True)

    sku: str
    updated_at: datetime = Field(description="Supplier's update time; older never overwrites")
    ean: str | None = None
    title: str | None = None
    description: str | None = None
    images: list[str] | None = None
    category_path: str | None = None
    brand: str | None = None
    weight_kg: Decimal | None = None
    cost: Money | None = None
    rrp: Money | None = None
    stock: int | None = None
    attributes: dict[str, str] | None = Field(
        default=None,
        description="Name to value; `handling_days` (whole days before the supplier ships the"
        " stock it reports) becomes CatalogItem.handling_days",
    )
    parent_sku: str | None = Field(
        default=None,
        description="For a variation: its parent's SKU (a product with variations, not sold by"
        " itself); the parent's content is shared by its variations",
    )
    variation: dict[str, str] | None = Field(
        default=None,
        description="For a variation: the attribute values that tell it from its siblings,"
        ' group name to value ({"Size": "M"})',
    )


class SupplierProductsChanged(Event):
    event_type = "SupplierProductsChanged"
    producer = "upstream catalogue system (external)"
    consumers = ("catalog",)
    routing_key = "supplier.products"
    exchange = UPSTREAM_EXCHANGE
    summary = "The upstream catalogue system sends a batch of full or partial product records."

    products: list[SupplierProduct]


class SupplierShipmentSent(Event):
    event_type = "SupplierShipmentSent"
    producer = "fulfilment system (external)"
    consumers = ("orders",)
    routing_key = "supplier.shipment"
    exchange = UPSTREAM_EXCHANGE
    summary = "The fulfilment system shipped (part of) an order: carrier and tracking number."

    account_id: str
    order_id: str = Field(description="Allegro checkout form id (OrderReceived.order_id)")
    carrier_id: str = Field(
        description="The carrier as the fulfilment system names it (DPD, InPost, Poczta Polska,"
        " ...) or Allegro's carrier id; an unknown one goes to Allegro as OTHER with this name"
    )
    tracking_number: str = Field(description="The waybill: 1 to 64 characters")
    lines: list[dict[str, Any]] = Field(
        default_factory=list,
        description="The shipped line items as {line_item_id} (OrderLine.line_item_id);"
        " empty: the whole order",
    )
    carrier_name: str | None = Field(
        default=None,
        description="The carrier's own name (Allegro needs it when carrier_id is OTHER)",
    )


class SupplierFulfillmentChanged(Event):
    event_type = "SupplierFulfillmentChanged"
    producer = "fulfilment system (external)"
    consumers = ("orders",)
    routing_key = "supplier.fulfillment"
    exchange = UPSTREAM_EXCHANGE
    summary = "The fulfilment system moved an order on: its fulfillment status for Allegro."

    account_id: str
    order_id: str = Field(description="Allegro checkout form id (OrderReceived.order_id)")
    status: str = Field(
        description="NEW, PROCESSING, READY_FOR_SHIPMENT, READY_FOR_PICKUP, SENT, PICKED_UP,"
        " CANCELLED or SUSPENDED (Allegro's settable fulfillment statuses)"
    )


class SupplierReferenceListsChanged(Event):
    event_type = "SupplierReferenceListsChanged"
    producer = "bigbuy"
    consumers = ("catalog",)
    routing_key = "supplier.reference-lists"
    exchange = UPSTREAM_EXCHANGE
    summary = (
        "The supplier's taxonomies and manufacturers lists changed (whole lists, in the shape"
        " catalog's PUT /reference/taxonomies and /reference/manufacturers take)."
    )

    language: str = Field(description="ISO 639-1 code of the taxonomy names")
    taxonomies: list[dict[str, Any]] = Field(
        description="{id, name, parentTaxonomy (0 at a root)}, the whole list"
    )
    manufacturers: list[dict[str, Any]] = Field(description="{id, name}, the whole list")


ALL_EVENTS: tuple[type[Event], ...] = (
    CatalogUpdated,
    PriceComputed,
    OfferPublished,
    OfferFailed,
    OfferEnded,
    OrderReceived,
    OrderCancelled,
    AccountConnected,
    AccountDisconnected,
    AccountRefreshFailed,
    SupplierProductsChanged,
    SupplierShipmentSent,
    SupplierFulfillmentChanged,
    SupplierReferenceListsChanged,
)
EVENTS_BY_TYPE: dict[str, type[Event]] = {cls.event_type: cls for cls in ALL_EVENTS}
# Routing keys the relay publishes without `mandatory` (see `Event.requires_consumer`).
OPTIONAL_ROUTING_KEYS: frozenset[str] = frozenset(
    cls.routing_key for cls in ALL_EVENTS if not cls.requires_consumer
)

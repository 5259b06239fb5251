from __future__ import annotations

from typing import ClassVar

from pydantic import Field
from pydantic_settings import SettingsConfigDict

from shared.settings import ServiceSettings


class Settings(ServiceSettings):
    """The orders service's settings; environment variables prefixed `ORDERS_`."""

    service_name: ClassVar[str] = "orders"
    default_http_port: ClassVar[int] = 8005

    model_config = SettingsConfigDict(env_prefix="ORDERS_", extra="ignore", env_ignore_empty=True)

    # Its share of the Client ID (order events, checkout forms, tracking write-backs); the five
    # services' sum 0.9.
    allegro_client_share: float = 0.1

    # How often each connected account's order events are read, counted from the start of the
    # last read, when that read was not a full page (a full page is followed at once).
    order_poll_interval_seconds: float = 5.0
    # Accounts one replica imports at once (each loop claims its own account).
    order_poll_concurrency: int = 4
    # Events per `GET /order/events` (Allegro: 1..1000). The most: a page names up to ~330
    # checkout forms (3 events per order), read through the list 100 a call; bench/orders.py
    # at 120 orders/s kept up with pages of 1000 and fell behind with pages of 100 or 300.
    order_events_page_size: int = 1000
    # A page naming at least this many checkout forms reads them through the list (100 a call)
    # instead of one GET each.
    order_forms_listed_from: int = 5
    # The list is read from the page's first event less this margin (a form's last change may
    # precede its event); forms it misses are read one by one.
    order_forms_list_margin_seconds: float = 1.0
    # How long a replica holds an account it claimed before another may take it over (a crashed
    # replica's claim expires); the cursor is advanced only from the position it was read at.
    order_poll_lease_seconds: float = 120.0
    # After Allegro refused for lack of budget (429) or was unavailable: wait this long, doubled
    # per consecutive failure, up to the maximum.
    order_poll_backoff_seconds: float = 10.0
    # The longest wait between two polls of a failing account.
    order_poll_backoff_max_seconds: float = 300.0
    # Carrier names the fulfilment system uses -> Allegro carrier ids (GET /order/carriers),
    # JSON, case-insensitive keys, added to the built-in ones (DPD, InPost, Poczta Polska, ...);
    # a carrier not mapped is sent as OTHER with its own name.
    carrier_ids: dict[str, str] = Field(default_factory=dict)
    # Shipments and fulfillment statuses one replica writes back to Allegro at once.
    write_back_concurrency: int = 2
    # How long a replica holds a write-back it claimed before another may take it over.
    write_back_lease_seconds: float = 60.0
    # After Allegro refused a write-back for lack of budget (429), was unavailable or the token
    # failed: wait this long, doubled per attempt, up to the maximum.
    write_back_backoff_seconds: float = 5.0
    # The longest wait between two attempts of a write-back.
    write_back_backoff_max_seconds: float = 300.0
    # Attempts of a write-back failing for such passing reasons before it is failed and waits
    # for an operator's retry (Allegro's 400, 404, 409, 422 fail it at once).
    write_back_max_attempts: int = 10
    # Re-reads of a checkout form after Allegro answered 409 (stale revision) to a fulfillment
    # status change, before the write-back is failed.
    fulfillment_revision_retries: int = 3

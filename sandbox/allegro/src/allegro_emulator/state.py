"""The emulator's whole world, in memory.

Resources are kept as the JSON dicts Allegro would return, so handlers mostly read and write
those dicts directly. Work that Allegro does asynchronously (offer operations, command tasks,
marketplace qualification, late validation) is queued on a small scheduler with a due time; a
ticker in the app's lifespan runs it, and reads that depend on it run it first.
"""

from __future__ import annotations

import heapq
import itertools
import pickle
import random
import time
from collections.abc import Callable
from dataclasses import MISSING, dataclass, field, fields
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from allegro_emulator.config import EmulatorConfig
from allegro_emulator.rate_limits import RateLimiter
from allegro_emulator.seed import CatalogueSpec

Json = dict[str, Any]


_iso_cache: list[Any] = [-1, ""]


def iso(ts: float) -> str:
    """Allegro's timestamp format: UTC with milliseconds and a `Z`."""
    # Formatting a datetime is costly on the hot path: reuse the prefix within one second.
    second = int(ts)
    if second != _iso_cache[0]:
        _iso_cache[0], _iso_cache[1] = (
            second,
            datetime.fromtimestamp(second, UTC).strftime("%Y-%m-%dT%H:%M:%S."),
        )
    return f"{_iso_cache[1]}{int(ts * 1000) % 1000:03d}Z"


def parse_iso(text: str) -> float:
    return datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp()


@dataclass
class Client:
    client_id: str
    client_secret: str
    name: str
    redirect_uris: list[str]


@dataclass
class Token:
    client_id: str
    user_id: str | None  # None for client-credentials tokens
    scope: str
    expires_at: float


@dataclass
class Operation:
    id: str
    offer_id: str
    started_at: float
    due_at: float


@dataclass
class Offer:
    data: Json  # SaleProductOfferResponseV1
    seller_id: str
    product_id: str | None
    sold: dict[str, int] = field(default_factory=dict)  # per marketplace
    operation: Operation | None = None
    busy: dict[str, str] = field(default_factory=dict)  # command kind -> command id in progress


@dataclass
class Command:
    kind: str  # price | quantity | modification | publication
    id: str
    body: Json
    created_at: float
    tasks: list[Json]
    completed_at: float | None = None


@dataclass
class Seller:
    id: str
    login: str
    email: str
    first_name: str
    last_name: str
    company_name: str
    base_marketplace: str = "allegro-pl"
    shipping_rates: dict[str, Json] = field(default_factory=dict)
    delivery_settings: dict[str, Json] = field(default_factory=dict)  # per marketplace
    return_policies: dict[str, Json] = field(default_factory=dict)
    implied_warranties: dict[str, Json] = field(default_factory=dict)
    warranties: dict[str, Json] = field(default_factory=dict)
    responsible_producers: dict[str, Json] = field(default_factory=dict)  # GPSR
    responsible_persons: dict[str, Json] = field(default_factory=dict)
    offers: dict[str, Offer] = field(default_factory=dict)
    offers_by_external: dict[str, set[str]] = field(default_factory=dict)
    operations: dict[str, Operation] = field(default_factory=dict)
    commands: dict[tuple[str, str], Command] = field(default_factory=dict)
    offer_events: list[Json] = field(default_factory=list)
    order_events: list[Json] = field(default_factory=list)
    checkout_forms: dict[str, Json] = field(default_factory=dict)
    shipments: dict[str, list[Json]] = field(default_factory=dict)
    image_uploads: int = 0  # POST /sale/images answered 201

    def me(self) -> Json:
        return {
            "id": self.id,
            "login": self.login,
            "firstName": self.first_name,
            "lastName": self.last_name,
            "email": self.email,
            "baseMarketplace": {"id": self.base_marketplace},
            "company": {"name": self.company_name, "taxId": None},
            "features": [],
        }


@dataclass
class DeviceCode:
    device_code: str
    user_code: str
    client_id: str
    expires_at: float
    interval: int
    status: str = "pending"  # pending | approved | denied | used
    user_id: str | None = None
    last_poll: float = 0.0


@dataclass
class AuthCode:
    code: str
    client_id: str
    user_id: str
    redirect_uri: str
    code_challenge: str | None
    code_challenge_method: str | None
    scope: str
    expires_at: float


@dataclass
class World:
    """Everything a snapshot saves."""

    clients: dict[str, Client] = field(default_factory=dict)
    sellers: dict[str, Seller] = field(default_factory=dict)
    access_tokens: dict[str, Token] = field(default_factory=dict)
    refresh_tokens: dict[str, Token] = field(default_factory=dict)
    used_refresh_tokens: set[str] = field(default_factory=set)
    device_codes: dict[str, DeviceCode] = field(default_factory=dict)
    auth_codes: dict[str, AuthCode] = field(default_factory=dict)
    extra_products: dict[str, Json] = field(default_factory=dict)  # created from full definitions
    extra_products_by_gtin: dict[str, list[str]] = field(default_factory=dict)
    waybills: dict[str, set[str]] = field(default_factory=dict)  # waybill -> checkout form ids
    next_offer_id: int = 17_700_000_000
    next_event_id: int = 0
    # Category parameter requirements changed since the seed: category -> parameter -> required.
    parameter_required: dict[str, dict[str, bool]] = field(default_factory=dict)
    # Parameters scheduled to become required: category -> parameter id ->
    # {"scheduledAt", "scheduledFor"} (ISO times; required from scheduledFor on).
    planned_requirements: dict[str, dict[str, Json]] = field(default_factory=dict)
    # Hosted images (`POST /sale/images`): location -> seller, source URL, upload and expiry
    # times (expiry None once an offer uses it).
    images: dict[str, Json] = field(default_factory=dict)
    image_uploads: int = 0
    # Source URLs whose upload is refused as an image Allegro cannot fetch: url -> the HTTP
    # status the supplier's server is said to answer (admin API).
    refused_image_urls: dict[str, int] = field(default_factory=dict)


@dataclass
class Faults:
    """Injected by admin call; applied to REST and OAuth requests, never to admin ones."""

    latency_ms: float = 0.0
    error_share: float = 0.0  # share of requests answered with `error_status`
    error_status: int = 503
    timeout_share: float = 0.0  # share of requests that hang for `timeout_seconds`
    timeout_seconds: float = 30.0
    forced_429: int = 0  # the next N requests get a 429
    path_prefix: str = ""  # only requests under this path ("" = all)

    @property
    def active(self) -> bool:
        return bool(self.latency_ms or self.error_share or self.timeout_share or self.forced_429)


class Emulator:
    """State plus the services every handler needs: clock, scheduler, randomness, config."""

    def __init__(self, config: EmulatorConfig) -> None:
        self.config = config
        self.world = World()
        self.clock_offset = 0.0
        self.random = random.Random(config.random_seed)
        self._queue: list[tuple[float, int, Callable[[], None]]] = []
        self._seq = itertools.count()
        self.limiter = RateLimiter(config)
        self.faults = Faults()
        # (method, route template, status) -> count
        self.counters: dict[tuple[str, str, int], int] = {}
        self.buyer: Any = None  # orders.BuyerSchedule, set by admin
        self.fee_table: Any = None  # pricing fee table override, set by admin

    # --- clock and scheduler ---
    def now(self) -> float:
        return time.time() + self.clock_offset

    def schedule(self, delay: float, job: Callable[[], None]) -> None:
        heapq.heappush(self._queue, (self.now() + max(0.0, delay), next(self._seq), job))

    def run_due(self) -> None:
        queue = self._queue
        if not queue:
            return
        now = self.now()
        while queue and queue[0][0] <= now:
            _, _, job = heapq.heappop(queue)
            job()

    def pending_jobs(self) -> int:
        return len(self._queue)

    def prune(self) -> None:
        """Forget what Allegro forgets: events past their retention, old command reports."""
        now = self.now()
        config = self.config
        offer_horizon = iso(now - config.offer_event_retention_hours * 3600)
        order_horizon = int((now - config.order_event_retention_days * 86400) * 1_000_000)
        command_horizon = now - config.command_retention_days * 86400
        world = self.world
        for store in (world.access_tokens, world.refresh_tokens):
            for value in [v for v, t in store.items() if t.expires_at < now]:
                del store[value]
        for code in [c for c, d in world.device_codes.items() if d.expires_at < now - 3600]:
            del world.device_codes[code]
        for code in [c for c, a in world.auth_codes.items() if a.expires_at < now]:
            del world.auth_codes[code]
        for seller in self.world.sellers.values():
            events = seller.offer_events
            keep_from = max(0, len(events) - config.max_offer_events)
            while keep_from < len(events) and events[keep_from]["occurredAt"] < offer_horizon:
                keep_from += 1
            if keep_from:
                del events[:keep_from]
            orders = seller.order_events
            drop = 0
            while drop < len(orders) and int(orders[drop]["id"]) < order_horizon:
                drop += 1
            if drop:
                del orders[:drop]
            stale = [
                k
                for k, c in seller.commands.items()
                if c.completed_at is not None and c.completed_at < command_horizon
            ]
            for key in stale:
                del seller.commands[key]

    # --- catalogue ---
    @property
    def catalogue(self) -> CatalogueSpec:
        c = self.config
        return CatalogueSpec(c.catalogue_seed, c.catalogue_size, c.missing_share, c.ambiguous_share)

    # --- ids ---
    def new_offer_id(self) -> str:
        self.world.next_offer_id += 1
        return str(self.world.next_offer_id)

    def new_event_number(self) -> int:
        # Order-event ids look like microsecond timestamps on Allegro; keep them increasing.
        candidate = int(self.now() * 1_000_000)
        self.world.next_event_id = max(candidate, self.world.next_event_id + 1)
        return self.world.next_event_id

    def seller_by_login(self, login: str) -> Seller | None:
        return next((s for s in self.world.sellers.values() if s.login == login), None)

    # --- snapshot ---
    def save_snapshot(self, path: str | None = None) -> str:
        target = Path(path or self.config.snapshot_path)
        target.parent.mkdir(parents=True, exist_ok=True)
        # Pending scheduled work is not saved: a snapshot is taken at rest.
        target.write_bytes(pickle.dumps(self.world))
        return str(target)

    def load_snapshot(self, path: str | None = None) -> bool:
        source = Path(path or self.config.snapshot_path)
        if not source.is_file():
            return False
        # The snapshot is our own file, written by save_snapshot above.
        self.world = pickle.loads(source.read_bytes())
        # A snapshot from before a field was added lacks it: give it its default.
        for obj in (self.world, *self.world.sellers.values()):
            _fill_defaults(obj)
        self._settle_after_load()
        return True

    def _settle_after_load(self) -> None:
        """Scheduled work is not in a snapshot: finish what was in flight when it was taken."""
        for seller in self.world.sellers.values():
            for offer in seller.offers.values():
                offer.operation = None
                offer.busy.clear()
                if offer.data["publication"]["status"] == "ACTIVATING":
                    offer.data["publication"]["status"] = "ACTIVE"
            for command in seller.commands.values():
                if command.completed_at is None:
                    command.completed_at = self.now()
                    for task in command.tasks:
                        if task["status"] == "NEW":
                            task["status"] = "FAIL"
                            task["message"] = "The emulator restarted before the task ran"


def _fill_defaults(obj: Any) -> None:
    for f in fields(obj):
        if f.name not in vars(obj):
            value = f.default_factory() if f.default_factory is not MISSING else f.default
            setattr(obj, f.name, value)

"""Shipping price lists, pure: weight bands, destination sets, names, the 250-list arithmetic and
the free-delivery rule. No I/O: Allegro's delivery methods and the account's existing lists are
handed in by the use cases (offers/shipping.py).

Allegro has no weight inside one shipping rates set (one rate per delivery method), so charging
by weight takes a family of sets: one per weight band and destination set. A destination set
decides where an offer is shown (a set with a CZ delivery method qualifies the offer on
allegro-cz), and sets can never be deleted (at most 250 per account), so the family is small,
fixed by configuration, created once and then only updated in place.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation
from typing import Any

import orjson

from shared.errors import InvalidFields, Problem

# Allegro's limit of shipping rates sets per account (they cannot be deleted).
ALLEGRO_LIST_LIMIT = 250
NAME_PREFIX = "mci"
# `delivery.handlingTime` of an offer: the values the spec's DeliveryBasic allows.
HANDLING_TIMES: tuple[str, ...] = (
    "PT0S",
    "PT24H",
    "P2D",
    "P3D",
    "P4D",
    "P5D",
    "P7D",
    "P10D",
    "P14D",
    "P21D",
    "P30D",
    "P60D",
)
# Destination sets offered: Poland alone, or the four countries Allegro sells in. Only these
# two, so the family is bands x 2 at most.
DESTINATION_SETS: dict[str, tuple[str, ...]] = {
    "PL": ("PL",),
    "PL-CZ-SK-HU": ("PL", "CZ", "SK", "HU"),
}
# Marketplace -> (country, currency): docs/allegro.md section 7.
MARKETPLACES: dict[str, tuple[str, str]] = {
    "allegro-pl": ("PL", "PLN"),
    "allegro-cz": ("CZ", "CZK"),
    "allegro-sk": ("SK", "EUR"),
    "allegro-hu": ("HU", "HUF"),
}
COUNTRY_MARKETPLACE = {country: mp for mp, (country, _) in MARKETPLACES.items()}
GRAM = Decimal("0.001")
CENT = Decimal("0.01")
MAX_BAND_KG = Decimal("1000")


class InvalidShipping(InvalidFields):
    """Every problem of a shipping configuration (`shared.errors.InvalidFields`)."""


@dataclass(frozen=True)
class Money:
    amount: Decimal
    currency: str

    def as_dict(self) -> dict[str, str]:
        return {"amount": f"{self.amount:.2f}", "currency": self.currency}


@dataclass(frozen=True)
class DeliveryMethod:
    """One of Allegro's `GET /sale/delivery-methods`, as far as a price list needs it."""

    id: str
    name: str
    destination_country: str
    currency: str  # shippingRatesConstraints.firstItemRate.currency
    allowed: bool = True
    payment_policy: str = "IN_ADVANCE"
    weight_supported: bool = False
    weight_min: Decimal | None = None
    weight_max: Decimal | None = None
    rate_min: Decimal | None = None
    rate_max: Decimal | None = None
    max_quantity: int = 999_999

    @classmethod
    def from_allegro(cls, item: Mapping[str, Any]) -> DeliveryMethod:
        rules = item.get("shippingRatesConstraints") or {}
        weight = rules.get("maxPackageWeight") or {}
        rate = rules.get("firstItemRate") or {}
        quantity = rules.get("maxQuantityPerPackage") or {}
        return cls(
            id=str(item["id"]),
            name=str(item.get("name") or ""),
            destination_country=str(item.get("destinationCountry") or ""),
            currency=str(rate.get("currency") or ""),
            allowed=bool(rules.get("allowed", True)),
            payment_policy=str(item.get("paymentPolicy") or "IN_ADVANCE"),
            weight_supported=bool(weight.get("supported")),
            weight_min=_decimal_or_none(weight.get("min")),
            weight_max=_decimal_or_none(weight.get("max")),
            rate_min=_decimal_or_none(rate.get("min")),
            rate_max=_decimal_or_none(rate.get("max")),
            max_quantity=int(quantity.get("max") or 999_999),
        )

    @property
    def marketplace(self) -> str | None:
        return COUNTRY_MARKETPLACE.get(self.destination_country)


def _decimal_or_none(raw: Any) -> Decimal | None:
    if raw in (None, ""):
        return None
    try:
        return Decimal(str(raw))
    except InvalidOperation:
        return None


@dataclass(frozen=True)
class WeightBand:
    """Items up to `max_kg` (above the previous band's max); a first-item price per method."""

    max_kg: Decimal
    prices: Mapping[str, Money]
    max_quantity_per_package: int = 1


@dataclass(frozen=True)
class ShippingConfiguration:
    delivery_methods: tuple[str, ...]
    bands: tuple[WeightBand, ...]
    handling_time: str
    destination_sets: tuple[str, ...]
    free_delivery: Mapping[str, Money] = field(default_factory=dict)

    def band_bounds(self) -> list[tuple[Decimal, Decimal]]:
        """(above, up to) of every band, in order: the first starts at 0."""
        lows = [Decimal(0), *(b.max_kg for b in self.bands[:-1])]
        return [(low, band.max_kg) for low, band in zip(lows, self.bands, strict=True)]

    def as_document(self) -> dict[str, Any]:
        """The JSON form, as stored and as answered (the same shape a PUT takes)."""
        return {
            "delivery_methods": list(self.delivery_methods),
            "bands": [
                {
                    "max_kg": kg(b.max_kg),
                    "prices": {m: p.as_dict() for m, p in b.prices.items()},
                    "max_quantity_per_package": b.max_quantity_per_package,
                }
                for b in self.bands
            ],
            "handling_time": self.handling_time,
            "destination_sets": list(self.destination_sets),
            "free_delivery": {mp: m.as_dict() for mp, m in self.free_delivery.items()},
        }

    @classmethod
    def from_document(cls, doc: Mapping[str, Any]) -> ShippingConfiguration:
        """A stored document (validated when it was saved)."""
        return cls(
            delivery_methods=tuple(doc["delivery_methods"]),
            bands=tuple(
                WeightBand(
                    max_kg=Decimal(b["max_kg"]),
                    prices={
                        m: Money(Decimal(p["amount"]), p["currency"])
                        for m, p in b["prices"].items()
                    },
                    max_quantity_per_package=int(b.get("max_quantity_per_package", 1)),
                )
                for b in doc["bands"]
            ),
            handling_time=doc["handling_time"],
            destination_sets=tuple(doc["destination_sets"]),
            free_delivery={
                mp: Money(Decimal(m["amount"]), m["currency"])
                for mp, m in (doc.get("free_delivery") or {}).items()
            },
        )


def kg(value: Decimal) -> str:
    """A weight as written in names and documents: no trailing zeros (1, 0.5, 31.5)."""
    text = format(value.quantize(GRAM).normalize(), "f")
    return text


# --- names -----------------------------------------------------------------------------------


def list_name(low: Decimal, high: Decimal, destination_set: str) -> str:
    """`mci 0-1 kg PL`, `mci 1-2.5 kg PL CZ SK HU`: letters, digits, `-`, `.` and spaces only,
    at most 64 characters (the spec's rule for a set's name). Predictable from the band and the
    destination set, so a list whose id we lost is found again by its name."""
    countries = " ".join(DESTINATION_SETS[destination_set])
    return f"{NAME_PREFIX} {kg(low)}-{kg(high)} kg {countries}"


# --- validation ------------------------------------------------------------------------------


@dataclass(frozen=True)
class ListSlot:
    """One list of the family: the band's position and the destination set. A slot keeps its
    Allegro list when the band's bounds or prices change (the list is updated in place)."""

    band: int
    destination_set: str


def slots(config: ShippingConfiguration) -> list[ListSlot]:
    return [ListSlot(i, s) for s in config.destination_sets for i in range(len(config.bands))]


@dataclass(frozen=True)
class ExistingList:
    """A list on the account at Allegro (`GET /sale/shipping-rates`)."""

    id: str
    name: str


@dataclass(frozen=True)
class ListCount:
    """The 250-list arithmetic of one configuration on one account."""

    bands: int
    destination_sets: int
    needed: int  # bands x destination sets
    new: int  # of them, lists that do not exist yet (neither recorded nor found by name)
    existing: int  # every list on the account now, ours included
    limit: int

    @property
    def total(self) -> int:
        return self.existing + self.new

    def as_dict(self) -> dict[str, int]:
        return {
            "bands": self.bands,
            "destination_sets": self.destination_sets,
            "needed": self.needed,
            "new": self.new,
            "existing": self.existing,
            "total_after": self.total,
            "limit": self.limit,
        }

    def problem(self) -> Problem | None:
        if self.total <= self.limit:
            return None
        return Problem(
            "bands",
            "shipping_rates_limit",
            f"{self.bands} bands x {self.destination_sets} destination sets = {self.needed} "
            f"price lists, {self.new} of them new; the account has {self.existing} lists on "
            f"Allegro: {self.existing} + {self.new} = {self.total} > {self.limit}, Allegro's "
            "limit (lists cannot be deleted): use fewer bands or destination sets",
        )


def count_lists(
    config: ShippingConfiguration,
    recorded: Mapping[ListSlot, str],
    on_allegro: Sequence[ExistingList],
    limit: int = ALLEGRO_LIST_LIMIT,
) -> ListCount:
    """How many lists the account would have once `config` is applied: a slot whose list is
    recorded (and still on Allegro) or found by its name costs nothing new."""
    ids = {e.id for e in on_allegro}
    names = {e.name for e in on_allegro}
    bounds = config.band_bounds()
    new = 0
    for slot in slots(config):
        if recorded.get(slot) in ids:
            continue
        low, high = bounds[slot.band]
        if list_name(low, high, slot.destination_set) in names:
            continue
        new += 1
    needed = len(config.bands) * len(config.destination_sets)
    return ListCount(
        len(config.bands), len(config.destination_sets), needed, new, len(on_allegro), limit
    )


def validate(
    config: ShippingConfiguration,
    methods: Mapping[str, DeliveryMethod],
) -> list[Problem]:
    """Every problem of `config` against Allegro's delivery methods (the limit apart)."""
    problems: list[Problem] = []

    def fail(where: str, code: str, reason: str) -> None:
        problems.append(Problem(where, code, reason))

    if not config.delivery_methods:
        fail("delivery_methods", "no_delivery_methods", "enable at least one delivery method")
    if len(set(config.delivery_methods)) != len(config.delivery_methods):
        fail("delivery_methods", "duplicate_delivery_method", "a method is listed twice")
    enabled: dict[str, DeliveryMethod] = {}
    for i, method_id in enumerate(config.delivery_methods):
        method = methods.get(method_id)
        if method is None:
            fail(
                f"delivery_methods[{i}]",
                "unknown_delivery_method",
                f"Allegro has no delivery method {method_id!r} "
                "(GET .../shipping/delivery-methods lists them)",
            )
        elif not method.allowed:
            fail(
                f"delivery_methods[{i}]",
                "delivery_method_not_allowed",
                f"Allegro does not allow {method.name!r} in shipping rates",
            )
        elif method.marketplace is None:
            fail(
                f"delivery_methods[{i}]",
                "unsupported_destination",
                f"{method.name!r} delivers to {method.destination_country}, "
                "outside allegro-pl/cz/sk/hu",
            )
        else:
            enabled[method_id] = method
    problems += _check_bands(config, enabled)
    if config.handling_time not in HANDLING_TIMES:
        fail(
            "handling_time",
            "invalid_handling_time",
            f"handling time is one of {', '.join(HANDLING_TIMES)}",
        )
    problems += _check_destinations(config, enabled)
    problems += _check_free_delivery(config)
    return problems


def _check_bands(
    config: ShippingConfiguration, enabled: Mapping[str, DeliveryMethod]
) -> list[Problem]:
    problems: list[Problem] = []
    if not config.bands:
        problems.append(Problem("bands", "no_bands", "define at least one weight band"))
    previous: Decimal | None = None
    for i, band in enumerate(config.bands):
        where = f"bands[{i}]"
        if (
            band.max_kg <= 0
            or band.max_kg > MAX_BAND_KG
            or band.max_kg != band.max_kg.quantize(GRAM)
        ):
            problems.append(
                Problem(
                    f"{where}.max_kg",
                    "invalid_weight",
                    f"a band's max weight is > 0 and <= {MAX_BAND_KG} kg, in grams at most",
                )
            )
        if previous is not None and band.max_kg == previous:
            problems.append(
                Problem(f"{where}.max_kg", "duplicate_band", f"two bands end at {kg(previous)} kg")
            )
        elif previous is not None and band.max_kg < previous:
            problems.append(
                Problem(
                    f"{where}.max_kg",
                    "unsorted_bands",
                    f"bands go up by max weight: {kg(band.max_kg)} kg after {kg(previous)} kg",
                )
            )
        previous = band.max_kg if previous is None else max(previous, band.max_kg)
        if band.max_quantity_per_package < 1:
            problems.append(
                Problem(
                    f"{where}.max_quantity_per_package",
                    "invalid_quantity",
                    "at least 1 item per package",
                )
            )
        for method_id in band.prices:
            if method_id not in config.delivery_methods:
                problems.append(
                    Problem(
                        f"{where}.prices.{method_id}",
                        "delivery_method_not_enabled",
                        "a price for a delivery method that is not enabled",
                    )
                )
        for method_id, method in enabled.items():
            price = band.prices.get(method_id)
            at = f"{where}.prices.{method_id}"
            if price is None:
                problems.append(
                    Problem(at, "missing_price", f"no first-item price for {method.name!r}")
                )
                continue
            if price.currency != method.currency:
                problems.append(
                    Problem(
                        f"{at}.currency",
                        "wrong_currency",
                        f"{method.name!r} ({method.destination_country}) is priced in "
                        f"{method.currency}, not {price.currency}",
                    )
                )
            if price.amount != price.amount.quantize(CENT) or price.amount < 0:
                problems.append(
                    Problem(f"{at}.amount", "invalid_price", "a price is >= 0 with 2 decimals")
                )
            elif (method.rate_min is not None and price.amount < method.rate_min) or (
                method.rate_max is not None and price.amount > method.rate_max
            ):
                problems.append(
                    Problem(
                        f"{at}.amount",
                        "price_out_of_range",
                        f"Allegro allows {method.rate_min}..{method.rate_max} {method.currency} "
                        f"for {method.name!r}",
                    )
                )
    return problems


def _check_destinations(
    config: ShippingConfiguration, enabled: Mapping[str, DeliveryMethod]
) -> list[Problem]:
    problems: list[Problem] = []
    if not config.destination_sets:
        problems.append(
            Problem("destination_sets", "no_destination_set", "enable PL or PL-CZ-SK-HU")
        )
    if len(set(config.destination_sets)) != len(config.destination_sets):
        problems.append(
            Problem("destination_sets", "duplicate_destination_set", "a set is listed twice")
        )
    countries = {m.destination_country for m in enabled.values()}
    for i, name in enumerate(config.destination_sets):
        if name not in DESTINATION_SETS:
            problems.append(
                Problem(
                    f"destination_sets[{i}]",
                    "unknown_destination_set",
                    f"a destination set is one of {', '.join(DESTINATION_SETS)}",
                )
            )
            continue
        for country in DESTINATION_SETS[name]:
            if enabled and country not in countries:
                problems.append(
                    Problem(
                        f"destination_sets[{i}]",
                        "no_method_for_destination",
                        f"{name} needs an enabled delivery method to {country}",
                    )
                )
    return problems


def _check_free_delivery(config: ShippingConfiguration) -> list[Problem]:
    problems: list[Problem] = []
    for marketplace, threshold in config.free_delivery.items():
        where = f"free_delivery.{marketplace}"
        if marketplace not in MARKETPLACES:
            problems.append(
                Problem(
                    where,
                    "unknown_marketplace",
                    f"a marketplace is one of {', '.join(MARKETPLACES)}",
                )
            )
            continue
        currency = MARKETPLACES[marketplace][1]
        if threshold.currency != currency:
            problems.append(
                Problem(
                    f"{where}.currency",
                    "wrong_currency",
                    f"{marketplace} is in {currency}, not {threshold.currency}",
                )
            )
        if threshold.amount < 0 or threshold.amount != threshold.amount.quantize(CENT):
            problems.append(
                Problem(f"{where}.amount", "invalid_price", "an amount is >= 0 with 2 decimals")
            )
    problem = free_delivery_rule(config)
    if problem is not None:
        problems.append(problem)
    return problems


def free_delivery_rule(config: ShippingConfiguration) -> Problem | None:
    """The seed's PL+CZ rule, enforced as a refusal: free delivery is set per marketplace, but
    one shared list serves the buyers of all four, so free delivery configured for one would
    reach the buyers of the others (the CZ buyer gets the PL promise) on terms nobody chose.
    A warning would be read after the first CZ orders were shipped at a loss."""
    if "PL-CZ-SK-HU" not in config.destination_sets or not config.free_delivery:
        return None
    named = ", ".join(sorted(config.free_delivery))
    return Problem(
        "free_delivery",
        "free_delivery_shared_list",
        f"free delivery ({named}) with the shared PL-CZ-SK-HU lists would give CZ, SK and HU "
        "buyers the same free delivery: sell with free delivery on PL lists only, or remove "
        "the thresholds",
    )


# --- lists as Allegro takes them ---------------------------------------------------------------


def rates_body(
    config: ShippingConfiguration,
    slot: ListSlot,
    methods: Mapping[str, DeliveryMethod],
) -> dict[str, Any]:
    """The `POST`/`PUT /sale/shipping-rates` body of one slot (without `id`)."""
    low, high = config.band_bounds()[slot.band]
    band = config.bands[slot.band]
    countries = DESTINATION_SETS[slot.destination_set]
    rates = []
    for method_id in config.delivery_methods:
        method = methods[method_id]
        if method.destination_country not in countries:
            continue
        price = band.prices[method_id]
        rate: dict[str, Any] = {
            "deliveryMethod": {"id": method_id},
            "maxQuantityPerPackage": min(band.max_quantity_per_package, method.max_quantity),
            "firstItemRate": price.as_dict(),
            # Deprecated by Allegro and charged as 0: the band's price covers one parcel.
            "nextItemRate": Money(Decimal(0), price.currency).as_dict(),
        }
        if method.weight_supported:
            rate["maxPackageWeight"] = {"value": package_weight(high, method), "unit": "KILOGRAM"}
        rates.append(rate)
    return {"name": list_name(low, high, slot.destination_set), "rates": rates}


def package_weight(band_max: Decimal, method: DeliveryMethod) -> str:
    """The band's max weight within what the method accepts, to the gram (Allegro: 3 decimals;
    the same value for a method and its cash-on-delivery twin, since both take the band's)."""
    value = band_max
    if method.weight_max is not None:
        value = min(value, method.weight_max)
    if method.weight_min is not None:
        value = max(value, method.weight_min)
    return f"{value.quantize(GRAM, rounding=ROUND_HALF_UP):.3f}"


def fingerprint(body: Mapping[str, Any]) -> str:
    """What was last sent for a slot: an unchanged body is not sent again."""
    return hashlib.sha256(orjson.dumps(body, option=orjson.OPT_SORT_KEYS)).hexdigest()


def free_delivery_body(
    marketplace: str, wanted: Money | None, current: Mapping[str, Any]
) -> dict[str, Any] | None:
    """The `PUT /sale/delivery-settings` body that makes the marketplace's free-delivery
    threshold (`freeDelivery`) `wanted` (None: no threshold), keeping what is not ours (the join
    policy, the abroad threshold); None when Allegro already has it."""
    have = current.get("freeDelivery")
    if have is None and wanted is None:
        return None
    if (
        have is not None
        and wanted is not None
        and have.get("currency") == wanted.currency
        and _decimal_or_none(have.get("amount")) == wanted.amount
    ):
        return None
    body: dict[str, Any] = {
        "marketplace": {"id": marketplace},
        "joinPolicy": current["joinPolicy"],
    }
    if current.get("abroadFreeDelivery") is not None:
        body["abroadFreeDelivery"] = current["abroadFreeDelivery"]
    if wanted is not None:
        body["freeDelivery"] = wanted.as_dict()
    return body


# --- choosing a list for an offer ---------------------------------------------------------------


@dataclass(frozen=True)
class ListChoice:
    """The list of a weight and marketplaces: a slot, or why there is none."""

    slot: ListSlot | None
    reason: str | None = None


def choose_slot(
    config: ShippingConfiguration, weight_kg: Decimal | None, marketplaces: Iterable[str]
) -> ListChoice:
    """The band covering `weight_kg` (a band includes its max: 1 kg is in 0-1, 1.001 in 1-5),
    in the smallest enabled destination set that reaches every marketplace."""
    if weight_kg is None:
        return ListChoice(None, "the product has no weight: no weight band applies")
    if weight_kg < 0:
        return ListChoice(None, f"the product's weight {weight_kg} kg is negative")
    wanted = set(marketplaces) or {"allegro-pl"}
    unknown = sorted(wanted - set(MARKETPLACES))
    if unknown:
        return ListChoice(None, f"unknown marketplaces {', '.join(unknown)}")
    countries = {MARKETPLACES[m][0] for m in wanted}
    covering = [s for s in config.destination_sets if countries <= set(DESTINATION_SETS[s])]
    if not covering:
        return ListChoice(
            None,
            f"no enabled destination set reaches {', '.join(sorted(wanted))} "
            f"(enabled: {', '.join(config.destination_sets)})",
        )
    destination = min(covering, key=lambda s: len(DESTINATION_SETS[s]))
    for i, band in enumerate(config.bands):
        if weight_kg <= band.max_kg:
            return ListChoice(ListSlot(i, destination))
    last = config.bands[-1].max_kg if config.bands else Decimal(0)
    return ListChoice(
        None, f"the product weighs {weight_kg} kg, above the last weight band ({kg(last)} kg)"
    )


# --- commands and queries -----------------------------------------------------------------------


@dataclass(frozen=True)
class GetShipping:
    account_id: str


@dataclass(frozen=True)
class SaveShipping:
    account_id: str
    configuration: ShippingConfiguration
    by: str


@dataclass(frozen=True)
class ClaimApply:
    account_id: str
    lease_seconds: float


@dataclass(frozen=True)
class RecordList:
    account_id: str
    slot: ListSlot
    allegro_id: str
    name: str
    fingerprint: str


@dataclass(frozen=True)
class FinishApply:
    account_id: str
    configuration: ShippingConfiguration
    version: int


@dataclass(frozen=True)
class ReleaseApply:
    account_id: str


@dataclass(frozen=True)
class ChoosePriceList:
    account_id: str
    weight_kg: Decimal | None
    marketplaces: tuple[str, ...]
